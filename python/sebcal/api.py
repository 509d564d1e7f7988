"""The Python API: the command line's verbs as functions that return Python objects
(docs/api.md).

    import sebcal
    ds = sebcal.run("examples/west_phoenix_forward.toml")          # an xarray.Dataset
    cal = sebcal.calibrate("examples/paper_synthetic_2depth.toml")  # in memory, no files
    cal.parameters                                                  # a pandas DataFrame
    cal.plot()                                                      # a matplotlib Figure

Every function takes a configuration as a path, a :class:`~sebcal.config.RunConfig` or a
mapping (parsed TOML); ``run`` and ``calibrate`` also take the forcing as an
``xarray.Dataset`` or a ``pandas.DataFrame`` (forcing/memory.py: read like a file).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import RunConfig, load_config, parse_config
from .errors import ConfigError

log = logging.getLogger("sebcal")


def _config(config: Any) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Mapping):
        return parse_config(config)
    if isinstance(config, (str, Path)):
        return load_config(config)
    raise ConfigError(f"config of type {type(config).__name__}: give a path, a RunConfig or a "
                      "mapping of tables")


def _forcing(config: RunConfig, forcing: Any):
    if forcing is None:
        return None
    from .forcing import Forcing, forcing_from_data

    if isinstance(forcing, Forcing):
        return forcing
    return forcing_from_data(forcing, config.forcing, config.start, config.nt, config.dt,
                             config.options)


# ============================================================================ run


def run(config: Any, *, forcing: Any = None, backend: str = "fortran",
        out: str | Path | None = None) -> Any:
    """A forward run as an ``xarray.Dataset``: the variables, units and attributes of the
    NetCDF file `sebcal run` writes (SoilTemp (time, soil_depth), AvgSurfT and the fluxes,
    with the forcing beside).

    Args:
        config: a path, a RunConfig or a mapping of tables.
        forcing: instead of the config's forcing file, an xarray.Dataset or pandas.DataFrame
            (ALMA, PLUMBER2 or FLUXNET names; time in UTC) or a sebcal Forcing.
        backend: "fortran" (the reference scheme) or "torch" (the differentiable mirror).
        out: also write the NetCDF file there (atomically).

    Example:
        >>> ds = sebcal.run("examples/west_phoenix_forward.toml")
        >>> ds.SoilTemp.sel(soil_depth=0.05).plot()
    """
    from .output import simulation_dataset
    from .runner import run as run_config
    from .runner import run_metadata

    cfg = _config(config)
    res = run_config(cfg, backend=backend, forcing=_forcing(cfg, forcing))
    kw = run_metadata(res, cfg)
    ds = simulation_dataset(res.forcing.time, res.z, res.T, res.fluxes, **kw)
    if out is not None:
        from .output import write_simulation

        write_simulation(out, res.forcing.time, res.z, res.T, res.fluxes, **kw)
    return ds


# ============================================================================ calibrate


@dataclasses.dataclass(repr=False)
class Calibration:
    """What `sebcal.calibrate` found (docs/api.md).

    Attributes:
        params: the content of params.json (docs/calibration.md; `sebcal schema params`).
        out_dir: where the files were written, or None.
        exit_status: 0, or 3 when the verdict is "not usable for a host".
    """

    params: dict
    out_dir: Path | None
    exit_status: int
    _fit: Any = None
    _stages: list = dataclasses.field(default_factory=list)
    _stage_fits: list = dataclasses.field(default_factory=list)

    # ---------------------------------------------------------------- tables
    @property
    def parameters(self) -> Any:
        """One row per parameter: value, std, unit, fitted, calibration bounds (lower,
        upper), the plausible range, what constrains it (data or prior), at a bound. Printed
        and shown in notebooks with 4 significant digits (the numbers keep full precision)."""
        import pandas as pd

        from .displays import table

        rows = []
        for name, e in self.params["parameters"].items():
            b = e.get("bounds") or [None, None]
            pl = e.get("plausible") or [None, None]
            rows.append({"parameter": name, "value": e.get("value"), "std": e.get("std"),
                         "unit": e.get("unit"), "fitted": bool(e.get("fitted")),
                         "lower": b[0], "upper": b[1], "plausible_low": pl[0],
                         "plausible_high": pl[1], "constrained_by": e.get("constrained_by"),
                         "at_bound": e.get("at_bound")})
        return table(pd.DataFrame(rows).set_index("parameter"), 4)

    @property
    def verdict(self) -> dict:
        """status ("usable", "usable with caveats", "not usable for a host"), reasons, notes."""
        return dict(self.params.get("verdict") or {})

    @property
    def metrics(self) -> Any:
        """RMSE, bias, r and n of every observation in the calibration and evaluation
        windows, with units (a DataFrame indexed by window and observation). Printed whole
        (every column, whatever the terminal's width) with 3 significant digits."""
        import pandas as pd

        from .displays import table

        rows = []
        for window, obs in (self.params.get("metrics") or {}).items():
            for label, m in obs.items():
                rows.append({"window": window, "observation": label, **m})
        if not rows:
            return pd.DataFrame(columns=["window", "observation", "rmse", "bias", "r", "n",
                                         "unit"]).set_index(["window", "observation"])
        return table(pd.DataFrame(rows).set_index(["window", "observation"]), 3)

    @property
    def starts(self) -> Any:
        """Every start: initial and final values, loss, failed, why it stopped."""
        import pandas as pd

        rows = []
        for k, s in enumerate(self.params.get("starts") or []):
            row = {"start": k, "loss": s.get("loss"), "failed": s.get("failed"),
                   "stopped": s.get("stopped")}
            row.update({f"initial_{n}": v for n, v in s.get("initial", {}).items()})
            row.update({f"final_{n}": v for n, v in s.get("final", {}).items()})
            rows.append(row)
        return pd.DataFrame(rows).set_index("start")

    @property
    def best(self) -> dict[str, float]:
        """The fitted values by name (physical units)."""
        return {k: e["value"] for k, e in self.params["parameters"].items() if e.get("fitted")}

    @property
    def simulation(self) -> Any:
        """The best-fit run over both windows as an xarray.Dataset, with the observations
        beside (obs_<label>): the content of simulation.nc."""
        from .calibration.report import simulation_extras
        from .output import simulation_dataset

        fit = self._fit
        if fit is None:
            raise ConfigError("this Calibration was loaded without its fit; open "
                              "simulation.nc from its folder instead")
        sim = fit.sim
        return simulation_dataset(fit.forcing.time, sim.z, sim.T, sim.fluxes,
                                  **simulation_extras(fit, self.params["config"]))

    # ---------------------------------------------------------------- figures
    def plot(self, kind: str = "series", *, stage: str | None = None, ax: Any = None,
             **kw: Any) -> Any:
        """A matplotlib Figure (``fig.savefig("x.pdf")``, restyle its axes; notebooks show
        it), the same figure the report saves as SVG.

        Args:
            kind: "series" (observed and modelled, residuals beside), "diurnal" (mean diurnal
                cycle), "scatter" (observed against modelled), "profile" (depth-time heat
                maps, three or more soil depths), "multistart" (every start's initial and
                final values with the best estimate, bounds and plausible ranges) or
                "correlation".
            stage: the stage whose fit to draw (default the last).
            ax: a matplotlib Axes to draw one panel into (series, diurnal, scatter:
                ``observation=`` picks which; multistart: ``pair=(x, y)``); the Axes' figure
                is returned.
        """
        from .calibration import report

        fit = self._fit
        if fit is None:
            raise ConfigError("this Calibration was loaded without its fit")
        if stage is not None:
            named = dict(self._stage_fits)
            if stage not in named:
                raise ConfigError(f"stage {stage!r}: the stages are "
                                  f"{', '.join(named) or 'none (a single fit)'}")
            fit = named[stage]
        if kind not in report.FIGURES:
            raise ConfigError(f"plot kind {kind!r}: choose one of {', '.join(report.FIGURES)}")
        if ax is not None and kind == "profile":
            raise ConfigError("the profile figure has three panels of its own; draw it "
                              "without ax=")
        fig = report.figure(kind, fit, published=self.params.get("published")
                            if fit is self._fit else None, ax=ax, **kw)
        if fig is None:
            raise ConfigError(f"no {kind} figure: "
                              + ("it needs three or more soil-temperature depths"
                                 if kind == "profile" else
                                 "it needs two or more free parameters"))
        return fig

    # ---------------------------------------------------------------- displays
    def _repr_html_(self) -> str:             # notebooks: verdict, parameters, metrics
        import html

        v = self.verdict.get("status", "no verdict")
        where = f" written to <code>{html.escape(str(self.out_dir))}</code>" \
            if self.out_dir else ""
        return (f"<p><b>sebcal calibration</b>: {html.escape(v)}{where}</p>"
                f"{self.parameters_styled().to_html()}"
                f"{self.metrics_styled().to_html()}")

    def parameters_styled(self, digits: int = 4) -> Any:
        """:attr:`parameters` as a pandas Styler with ``digits`` significant digits."""
        from .displays import styled

        return styled(self.parameters, digits, "Parameters")

    def metrics_styled(self, digits: int = 3) -> Any:
        """:attr:`metrics` as a pandas Styler with ``digits`` significant digits."""
        from .displays import styled

        return styled(self.metrics, digits, "Skill by window and observation")

    def __repr__(self) -> str:
        v = self.verdict.get("status", "no verdict")
        vals = ", ".join(f"{k} {e['value']:.4g}" + (f" ± {e['std']:.2g}" if e.get("std") else "")
                         for k, e in self.params["parameters"].items() if e.get("fitted")
                         and isinstance(e.get("value"), (int, float)))
        where = f", written to {self.out_dir}" if self.out_dir else ""
        return f"<sebcal Calibration: {v}; {vals}{where}>"


def calibrate(config: Any, *, forcing: Any = None, out: str | Path | None = None,
              starts: int | None = None, seed: int | None = None, progress: bool = False,
              figures: bool = True, force: bool = False) -> Calibration:
    """Calibrate the configuration's free parameters (docs/calibration.md).

    Args:
        config: a path, a RunConfig or a mapping of tables (with [observations.*] and
            [calibration]).
        forcing: instead of the config's forcing file, an xarray.Dataset or pandas.DataFrame
            (a configuration without stages).
        out: also write params.json, simulation.nc, report.md and figures there; None (the
            default) writes nothing.
        starts, seed: override [calibration] starts and seed.
        progress: show a progress bar (progress lines always go to the "sebcal" logger).
        figures: write the figures (with ``out``).
        force: replace an earlier calibration in ``out``.

    Example:
        >>> cal = sebcal.calibrate("examples/paper_synthetic_2depth.toml")
        >>> cal.parameters.loc["lambda", ["value", "std", "unit"]]
        >>> cal.plot()
    """
    from .calibration.run import calibrate as run_calibration

    cfg = _config(config)
    if seed is not None:
        d = cfg.to_dict()
        d.setdefault("calibration", {})["seed"] = int(seed)
        cfg = parse_config(d, path=cfg.path)
    f = _forcing(cfg, forcing)
    if f is not None and (cfg.calibration or {}).get("stages"):
        raise ConfigError("calibrate(forcing=...) takes a configuration without stages; give "
                          "the forcing in the configuration's [forcing] table instead")
    res = run_calibration(cfg, out, progress=progress, starts=starts, figures=figures,
                          force=force, log=log.info, forcing=f)
    fit = res.fits[-1][1] if res.fits else None
    return Calibration(res.params, res.out_dir, res.exit_status, fit,
                       [name for name, _ in res.fits], list(res.fits))


# ============================================================================ others


def verify(config: Any) -> dict:
    """Cross-check the PyTorch mirror against the Fortran scheme on a configuration
    (docs/autodiff.md): a dict with the largest differences, the gradient checks and
    ``passed``."""
    from .verification import verify as run_verify

    return run_verify(_config(config))


def export(params: Any, host: str, out: str | Path, *,
           template: str | Path | Sequence[str | Path] | None = None,
           options: Mapping[str, str] | None = None, force: bool = False,
           include_fixed: bool = False, acknowledge: Sequence[str] = (),
           allow_implausible: bool = False) -> Any:
    """Write calibrated parameters into a host model's files (docs/hosts.md). ``params`` is
    a params.json path, its content, or a :class:`Calibration`. Returns the ExportResult
    (files written, each entry with its old and new value)."""
    from .bridge import export as run_export

    if isinstance(params, Calibration):
        params = params.params
    return run_export(params, host, out, template=template, options=options, force=force,
                      include_fixed=include_fixed, acknowledge=acknowledge,
                      allow_implausible=allow_implausible)


def validate(config: Any) -> dict:
    """Check a configuration without running it: what would run (window, forcing,
    observations, free parameters) and an estimate of its memory and time."""
    from .validation import describe

    return describe(_config(config))


__all__ = ["Calibration", "calibrate", "export", "run", "validate", "verify"]
