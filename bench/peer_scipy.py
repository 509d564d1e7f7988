"""The obvious alternative to `sebcal calibrate`: scipy.optimize.least_squares on sebcal's own
Fortran forward model.

A modeller with the Fortran scheme (sebcal.fortran.simulate, ~0.1 ms for the 100-step
published run) calls ``least_squares(method="trf", bounds=..., jac="2-point")`` from the same
50 starts sebcal draws, on the same residuals (the observed temperatures at the surface and at
5 cm over levels 1..100, divided by their sigma), with the same stopping tolerance (xtol =
ftol = 1e-10). Nothing else: no report, no error bars.

usage: python bench/peer_scipy.py [CONFIG] [--json]
Prints the wall time of the fits, the best start, how many starts end within 1 % of the truth,
and the function and Jacobian evaluations (the forward runs).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

T_PROCESS = time.perf_counter()

import numpy as np  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

from sebcal import fortran  # noqa: E402
from sebcal.calibration.run import calibration_settings  # noqa: E402
from sebcal.calibration.space import Space  # noqa: E402
from sebcal.config import load_config  # noqa: E402
from sebcal.observations import load_observations  # noqa: E402
from sebcal.physics.observe import equivalent  # noqa: E402
from sebcal.runner import forcing_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRUTH = {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}


def main(argv: list[str]) -> dict:
    path = next((a for a in argv if not a.startswith("--")),
                str(ROOT / "examples" / "paper_synthetic_2depth.toml"))
    config = load_config(path)
    forcing = forcing_for(config)
    obs = load_observations(config)
    settings = calibration_settings(config)
    # the same starts and bounds as sebcal (its Space draws them with the config's seed)
    space = Space.build(settings["free"], config.full_params(), config.spec.nlayers,
                        settings["start_range"], settings["bounds"])
    names = [c.label for c in space.coords]
    lo = np.array([c.bounds[0] for c in space.coords])
    hi = np.array([c.bounds[1] for c in space.coords])
    drawn = space.draw(settings["starts"], settings["seed"])
    starts = np.column_stack([drawn[n] for n in names])
    fixed = config.full_params()
    spec = config.spec
    rows = [(o, np.isfinite(o.values) & (np.arange(o.values.size) > 0)) for o in obs if o.fit]
    count = {"fun": 0}

    def residuals(p: np.ndarray) -> np.ndarray:
        count["fun"] += 1
        sim = fortran.simulate(spec, forcing, fixed.replace(**dict(zip(names, p))))
        out = []
        for o, sel in rows:
            m = equivalent(o.variable, sim.T[None], {k: v[None] for k, v in sim.fluxes.items()},
                           sim.z, float(fixed["lambda"]), o.depth)[0]
            out.append((m[sel] - o.values[sel]) / o.sigma)
        return np.concatenate(out)

    t0 = time.perf_counter()
    fits = []
    for x0 in starts:
        x0 = np.clip(x0, lo * (1 + 1e-12), hi * (1 - 1e-12))
        fits.append(least_squares(residuals, x0, bounds=(lo, hi), method="trf", jac="2-point",
                                  x_scale="jac", xtol=1e-10, ftol=1e-10, gtol=1e-10))
    fit_s = time.perf_counter() - t0
    within = sum(all(abs(f.x[names.index(k)] - v) <= 0.01 * abs(v) for k, v in TRUTH.items())
                 for f in fits)
    best = min(fits, key=lambda f: f.cost)
    return {"fit_s": fit_s, "process_s": time.perf_counter() - T_PROCESS,
            "starts": len(fits), "within_1pct": within,
            "function_evaluations": int(sum(f.nfev for f in fits)),
            "jacobian_evaluations": int(sum(f.njev for f in fits)),
            "forward_runs": count["fun"],
            "best": dict(zip(names, map(float, best.x))),
            "best_loss": float(2 * best.cost / sum(int(s.sum()) for _, s in rows))}


if __name__ == "__main__":
    res = main(sys.argv[1:])
    if "--json" in sys.argv:
        print(json.dumps(res))
    else:
        print(f"scipy least_squares (trf, 2-point) + sebcal Fortran: {res['starts']} starts in "
              f"{res['fit_s']:.2f} s (process {res['process_s']:.2f} s); "
              f"{res['within_1pct']}/{res['starts']} within 1 % of the truth; "
              f"{res['forward_runs']} forward runs ({res['function_evaluations']} residual + "
              f"{res['jacobian_evaluations']} Jacobian evaluations)")
        print("best: " + ", ".join(f"{k} {v:.6g}" for k, v in res["best"].items()))
