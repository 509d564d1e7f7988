"""Calibrate the Dugout Ranch station (AmeriFlux US-UTD) through the Python API, straight from
its AmeriFlux-format logger files, and look at the result: a notebook in script form (each
``# %%`` is a cell; run it whole with ``python examples/dugout_ranch_api.py``).

The configuration (dugout_ranch.toml) reads the logger files as they are distributed: stamps
in local standard time (UTC-7), "NAN" for missing values, position qualifiers such as
T_1_3_1 whose depths come from the [site.soil_depths] table. Nothing is written to disk unless
``out=`` is given; the figures below are saved beside this script's output folder.
"""

# %% set-up
from pathlib import Path

import sebcal

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "dugout_ranch.toml"
OUT = Path("dugout_ranch_api")                 # where the figures go (created)

# %% check the configuration: what would run, and an estimate of its time and memory
print(sebcal.validate(CONFIG)["calibration"]["estimate"])

# %% calibrate in memory: stage 1 the soil (lambda, C), stage 2 the surface balance
cal = sebcal.calibrate(CONFIG, progress=True)
print(cal)                                      # a one-line summary with the verdict

# %% the parameters: values, error bars, units, bounds, what constrains them
print(cal.parameters[["value", "std", "unit", "fitted", "constrained_by"]])

# %% skill in the calibration and evaluation windows (RMSE, bias, r, n, units)
print(cal.metrics)

# %% the verdict, and why
print(cal.verdict["status"], *cal.verdict.get("reasons", []), sep="\n  ")

# %% the best-fit simulation is an xarray.Dataset (observations beside, obs_<label>)
sim = cal.simulation
print(sim[["SoilTemp", "Qh", "Qle"]])

# %% figures from the returned object: matplotlib Figures (restyle them, save as PDF/PNG/SVG)
OUT.mkdir(exist_ok=True)
cal.plot("series").savefig(OUT / "series.svg")
cal.plot("multistart").savefig(OUT / "multistart.svg")
cal.plot("profile").savefig(OUT / "profile.pdf")          # the nine depths as heat maps
cal.plot("multistart", stage="soil").savefig(OUT / "soil-multistart.png", dpi=150)
print(f"figures in {OUT}/")

# %% hand the fitted soil to a host: Noah-MP's MPTABLE-style namelist, say
# sebcal.export(cal, "noahmp", OUT / "noahmp", template="MPTABLE.TBL")
