"""Observations, their model equivalents, calibration/evaluation windows and skill metrics.

Observations are named sub-tables of ``[observations]`` in a config::

    [observations.T5]
    variable = "SoilTemp"     # SoilTemp, AvgSurfT, LWup, Qg, Qh_plus_Qle, Qh, Qle
    depth = 0.05              # m, for SoilTemp (required) and Qg (default 0, the surface)
    file = "data/paper/Target_T2.txt"   # text: one value per model level 0..nt ('#' skipped)
                                        # or an ALMA NetCDF file (.nc)
    name = "SoilTemp"         # variable in the NetCDF file (default: `variable`); a list is
                              # summed, e.g. name = ["Qh", "Qle"] for Qh_plus_Qle
    sigma = 0.1               # error scale [K or W m-2]: the loss weight is 1/sigma^2
    fit = true                # false: evaluated, not fitted
    gap_policy = "missing"    # NetCDF gaps: "missing" (left out, default), "error", "interpolate"

Windows are given in ``[calibration]``: ``calibration_hours = [0, 150]`` and
``evaluation_hours = [150, 200]`` (hours after the run's start; a level at time t belongs to a
window [a, b] when a < t <= b, so the initial state is not a prediction and is never scored),
or the same with UTC times as ``calibration_window = ["2012-05-01T07:00Z", "..."]``.

Model equivalents of the observations (docs/theory.md for the flux definitions):

* SoilTemp at depth z: linear interpolation between the nodes around z (exact at a node).
* AvgSurfT: the surface node T_0.
* LWup, Qh_plus_Qle, Qh, Qle: the scheme's fluxes.
* Qg at depth z: at z = 0 the scheme's Qg; below, the conductive fluxes lambda (T_i - T_(i+1))/h
  of the interfaces, placed at the interface midpoints and interpolated linearly between them
  (constant beyond the first and last midpoint), as sebcal.autodiff.observe.ground_heat_flux.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import ConfigError, ForcingError, did_you_mean

#: observable -> (unit, needs a depth)
OBSERVABLES: dict[str, tuple[str, bool]] = {
    "SoilTemp": ("K", True),
    "AvgSurfT": ("K", False),
    "LWup": ("W m-2", False),
    "Qg": ("W m-2", False),
    "Qh_plus_Qle": ("W m-2", False),
    "Qh": ("W m-2", False),
    "Qle": ("W m-2", False),
}
_KEYS = ("variable", "depth", "file", "name", "sigma", "fit", "gap_policy")


@dataclass(frozen=True, eq=False)
class Observation:
    """One observed series at the model time levels.

    Attributes:
        label: the config's name for it (the sub-table name, e.g. "T5").
        variable: one of :data:`OBSERVABLES`.
        depth: depth [m] (SoilTemp, Qg), else None.
        values: observed values at levels 0..nt [K or W m-2], NaN where missing.
        sigma: error scale in the same unit; the loss weight is 1/sigma^2.
        fit: used in the calibration loss (else only evaluated).
        source: the file it came from.
    """

    label: str
    variable: str
    depth: float | None
    values: np.ndarray = field(repr=False)
    sigma: float = 1.0
    fit: bool = True
    source: str = ""

    @property
    def units(self) -> str:
        return OBSERVABLES[self.variable][0]

    @property
    def valid(self) -> np.ndarray:
        """True where a value is present."""
        return np.isfinite(self.values)

    def describe(self) -> str:
        at = f" at {self.depth:g} m" if self.depth is not None and self.variable in ("SoilTemp", "Qg") else ""
        return f"{self.variable}{at}"


def _err(config: Any, label: str, key: str | None, msg: str) -> ConfigError:
    where = f"{config.path}: " if getattr(config, "path", None) else ""
    k = f" {key}" if key else ""
    return ConfigError(f"{where}[observations.{label}]{k}: {msg}")


def load_observations(config: Any, tables: Mapping[str, Any] | None = None) -> list[Observation]:
    """Read the observations a configuration names, at its model time levels.

    Args:
        config: a :class:`~sebcal.config.RunConfig` (time axis, file paths' base folder).
        tables: the ``[observations]`` table (default: ``config.tables["observations"]``).

    Raises:
        ConfigError: malformed or unknown keys, unknown variable, missing depth, bad sigma.
        ForcingError: a missing file or variable, a text file of the wrong length, gaps with
            gap_policy = "error".
    """
    from .forcing import read_alma

    tables = tables if tables is not None else config.tables.get("observations", {})
    if not tables:
        where = f"{config.path}: " if getattr(config, "path", None) else ""
        raise ConfigError(f"{where}no [observations.NAME] tables: calibration needs at least "
                          "one observed series (see docs/calibration.md)")
    base = Path(config.path).parent if getattr(config, "path", None) else Path.cwd()
    out = []
    for label, spec in tables.items():
        if not isinstance(spec, Mapping):
            raise _err(config, label, None, "must be a table such as "
                       "[observations.T5] with variable = \"SoilTemp\", depth = 0.05, file = ...")
        for key in spec:
            if key not in _KEYS:
                hint = did_you_mean(key, _KEYS)
                raise _err(config, label, key, f"unknown key{hint}; valid keys: {', '.join(_KEYS)}")
        variable = spec.get("variable")
        if variable not in OBSERVABLES:
            hint = did_you_mean(variable, OBSERVABLES)
            raise _err(config, label, "variable", f"{variable!r} is not observable{hint}; use one "
                       f"of {', '.join(OBSERVABLES)}")
        unit, needs_depth = OBSERVABLES[variable]
        depth = spec.get("depth")
        if depth is None and needs_depth:
            raise _err(config, label, "depth", f"{variable} needs a depth [m]")
        if variable == "Qg" and depth is None:
            depth = 0.0
        if depth is not None:
            if not isinstance(depth, (int, float)) or isinstance(depth, bool) or depth < 0 \
                    or depth > config.node_depths[-1]:
                raise _err(config, label, "depth", f"{depth!r} must be a number of metres within "
                           f"the column [0, {config.node_depths[-1]:g}]")
            depth = float(depth)
        sigma = spec.get("sigma", 1.0)
        if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not sigma > 0 \
                or not math.isfinite(sigma):
            raise _err(config, label, "sigma", f"{sigma!r} must be a positive number [{unit}]")
        fit = spec.get("fit", True)
        if not isinstance(fit, bool):
            raise _err(config, label, "fit", "must be true or false")
        if "file" not in spec:
            raise _err(config, label, "file", "missing: give a text file (one value per model "
                       "level) or an ALMA NetCDF file")
        path = Path(spec["file"])
        if not path.is_absolute():
            path = (base / path).resolve()
        if not path.exists():
            raise ForcingError(f"[observations.{label}] file {path} does not exist (relative "
                               "paths resolve against the config file's folder)")
        if path.suffix in (".nc", ".nc4", ".cdf"):
            names = spec.get("name", variable)
            names = [names] if isinstance(names, str) else list(names)
            policy = spec.get("gap_policy", "missing")
            # several names are summed (e.g. name = ["Qh", "Qle"] for Qh_plus_Qle)
            vals = sum(read_alma(path, [variable], config.start, config.nt, config.dt,
                                 gap_policy=policy, aliases={variable: n})[variable]
                       for n in names)
        else:
            if "name" in spec or "gap_policy" in spec:
                raise _err(config, label, "name" if "name" in spec else "gap_policy",
                           "only applies to NetCDF files")
            try:
                vals = np.loadtxt(path, dtype=np.float64, ndmin=1)
            except ValueError as exc:
                raise ForcingError(f"[observations.{label}] {path}: not a column of numbers "
                                   f"({exc})") from None
            if vals.ndim != 1 or vals.size != config.nt + 1:
                raise ForcingError(f"[observations.{label}] {path}: {vals.size} values, but the "
                                   f"run has {config.nt + 1} time levels (0..{config.nt}); a "
                                   "text file holds one value per level")
            if unit == "K" and np.nanmax(vals) < 150:
                raise ForcingError(f"[observations.{label}] {path}: values up to "
                                   f"{np.nanmax(vals):.4g} look like degrees Celsius; give K")
        vals = np.array(vals, dtype=np.float64)
        if not np.isfinite(vals).any():
            raise ForcingError(f"[observations.{label}] {path}: no valid value in the run window")
        out.append(Observation(label, variable, depth, vals, float(sigma), fit, str(path)))
    return out


# --------------------------------------------------------------------------------------------
# windows
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Windows:
    """Masks over time levels 0..nt (bool arrays)."""

    calibration: np.ndarray
    evaluation: np.ndarray
    calibration_span: tuple[str, str]
    evaluation_span: tuple[str, str] | None


def windows(config: Any, table: Mapping[str, Any] | None = None) -> Windows:
    """Calibration and evaluation masks from ``[calibration]`` (default: the whole run, no
    evaluation). Level n at time t_n is in window [a, b] when a < t_n <= b."""
    table = table if table is not None else config.tables.get("calibration", {})
    t = np.arange(config.nt + 1) * config.dt / 3600.0          # hours since start
    start = np.datetime64(config.start, "s")

    def span(hours_key: str, utc_key: str, default):
        if hours_key in table and utc_key in table:
            raise ConfigError(f"[calibration] gives both {hours_key} and {utc_key}; give one")
        if utc_key in table:
            a, b = table[utc_key]
            try:
                ha = (np.datetime64(str(a).replace("Z", "")) - start) / np.timedelta64(1, "h")
                hb = (np.datetime64(str(b).replace("Z", "")) - start) / np.timedelta64(1, "h")
            except ValueError:
                raise ConfigError(f"[calibration] {utc_key}: {table[utc_key]!r} must be two "
                                  "ISO UTC times") from None
            return float(ha), float(hb)
        if hours_key in table:
            val = table[hours_key]
            if (not isinstance(val, (list, tuple)) or len(val) != 2
                    or not all(isinstance(v, (int, float)) for v in val)):
                raise ConfigError(f"[calibration] {hours_key} = {val!r}: give [first, last] in "
                                  "hours after the run's start, e.g. [0, 150]")
            return float(val[0]), float(val[1])
        return default

    cal = span("calibration_hours", "calibration_window", (0.0, float(t[-1])))
    ev = span("evaluation_hours", "evaluation_window", None)
    for name, s in (("calibration", cal), ("evaluation", ev)):
        if s is None:
            continue
        if not (s[0] < s[1]) or s[0] < 0 or s[1] > t[-1] + 1e-9:
            raise ConfigError(f"[calibration] {name} window {s[0]:g}..{s[1]:g} h must be increasing "
                              f"and inside the run (0..{t[-1]:g} h after {config.start}); "
                              "lengthen [time] or shorten the window")
    m_cal = (t > cal[0] + 1e-9) & (t <= cal[1] + 1e-9)
    m_ev = np.zeros_like(m_cal) if ev is None else (t > ev[0] + 1e-9) & (t <= ev[1] + 1e-9)
    if not m_cal.any():
        raise ConfigError("[calibration] the calibration window holds no model time level")
    iso = lambda h: str(start + np.timedelta64(int(round(h * 3600)), "s")) + "Z"  # noqa: E731
    return Windows(m_cal, m_ev, (iso(cal[0]), iso(cal[1])),
                   None if ev is None else (iso(ev[0]), iso(ev[1])))


# --------------------------------------------------------------------------------------------
# model equivalents (numpy, for Fortran runs) and metrics
# --------------------------------------------------------------------------------------------

def model_equivalent(obs: Observation, z: np.ndarray, T: np.ndarray,
                     fluxes: Mapping[str, np.ndarray], lam: float) -> np.ndarray:
    """The model's value of an observed quantity at every level, shape (nt+1,).

    Args:
        obs: the observation (variable and depth).
        z: node depths [m], (nz,).
        T: soil temperature [K], (nt+1, nz).
        fluxes: surface fluxes [W m-2] by name, each (nt+1,).
        lam: thermal conductivity [W m-1 K-1] (for Qg below the surface).
    """
    if obs.variable == "SoilTemp":
        return interpolate_depth(z, T, obs.depth)
    if obs.variable == "AvgSurfT":
        return T[:, 0]
    if obs.variable == "Qg":
        if obs.depth == 0.0:
            return fluxes["Qg"]
        q = lam * (T[:, :-1] - T[:, 1:]) / np.diff(z)
        mid = 0.5 * (z[:-1] + z[1:])
        return interpolate_depth(mid, q, float(np.clip(obs.depth, mid[0], mid[-1]))) \
            if mid.size > 1 else q[:, 0]
    return fluxes[obs.variable]


def interpolate_depth(z: np.ndarray, T: np.ndarray, depth: float) -> np.ndarray:
    """Linear interpolation of T (nt+1, nz) to ``depth`` [m]; exact at node depths."""
    i = int(np.searchsorted(z, depth, side="right")) - 1
    i = min(max(i, 0), len(z) - 2)
    w = (depth - z[i]) / (z[i + 1] - z[i])
    if w == 0.0:
        return T[:, i].copy()
    return (1.0 - w) * T[:, i] + w * T[:, i + 1]


def metrics(model: np.ndarray, observed: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """RMSE, mean bias (model - observed) and Pearson r over the valid levels in ``mask``."""
    m = mask & np.isfinite(observed) & np.isfinite(model)
    n = int(m.sum())
    if n == 0:
        return {"rmse": float("nan"), "bias": float("nan"), "r": float("nan"), "n": 0}
    d = model[m] - observed[m]
    r = float("nan")
    if n > 2 and np.std(model[m]) > 0 and np.std(observed[m]) > 0:
        r = float(np.corrcoef(model[m], observed[m])[0, 1])
    return {"rmse": float(np.sqrt(np.mean(d**2))), "bias": float(np.mean(d)), "r": r, "n": n}
