"""Observations at the model time levels, calibration and evaluation windows, and skill.

Observations are named sub-tables of ``[observations]`` in a config (docs/calibration.md)::

    [observations.T5]
    variable = "SoilTemp"     # SoilTemp, AvgSurfT, LWup, Qg, Qh_plus_Qle, Qh, Qle, LWnet, SWnet
    depth = 0.05              # m, for SoilTemp (required unless the file states it) and Qg
    file = "data/paper/Target_T2.txt"   # text: one value per model level 0..nt ('#' skipped),
                                        # or a NetCDF / AmeriFlux CSV file
    name = "SoilTemp"         # variable in the file (default: `variable`); a list is summed
    sigma = 0.1               # error scale [K or W m-2]: the loss weight is 1/sigma^2
    fit = true                # false: evaluated, not fitted

Windows are given in ``[calibration]``: ``calibration_hours = [0, 150]`` and
``evaluation_hours = [150, 200]`` (hours after the run's start; a level at time t belongs to a
window [a, b] when a < t <= b, so the initial state is never scored), or the same as UTC times
in ``calibration_window``/``evaluation_window``.

The model equivalent of every observation is :func:`sebcal.physics.observe.equivalent`, the
operator the calibration loss uses; :func:`model_equivalents` applies it to any run's output
(Fortran runs included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import qualifier_depth
from .errors import ConfigError, ForcingError
from .forcing.load import open_table
from .forcing.series import sample
from .physics.soil import node_properties
from .times import iso, parse_time
from .vocabulary import PARAMETERS

#: observable -> (unit, needs a depth)
OBSERVABLES: dict[str, tuple[str, bool]] = {
    "SoilTemp": ("K", True), "AvgSurfT": ("K", False), "LWup": ("W m-2", False),
    "Qg": ("W m-2", False), "Qh": ("W m-2", False), "Qle": ("W m-2", False),
    "Qh_plus_Qle": ("W m-2", False), "LWnet": ("W m-2", False), "SWnet": ("W m-2", False),
    "Rnet": ("W m-2", False),
}
_CANON = {"AvgSurfT": "RadT"}


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
        at = (f" at {self.depth:g} m" if self.depth is not None
              and self.variable in ("SoilTemp", "Qg") else "")
        return f"{self.variable}{at}"


def _err(config: Any, label: str, key: str | None, msg: str) -> ConfigError:
    where = f"{config.path}: " if getattr(config, "path", None) else ""
    k = f" {key}" if key else ""
    return ConfigError(f"{where}[observations.{label}]{k}: {msg}")


def load_observations(config: Any, tables: Mapping[str, Any] | None = None) -> list[Observation]:
    """Read the observations a configuration names, at its model time levels.

    Raises:
        ConfigError: no observations, a depth that contradicts the file.
        ForcingError: a missing file or variable, a text file of the wrong length, gaps with
            gap_policy = "error".
    """
    tables = tables if tables is not None else config.observations
    if not tables:
        where = f"{config.path}: " if getattr(config, "path", None) else ""
        raise ConfigError(f"{where}no [observations.NAME] tables: calibration needs at least "
                          "one observed series (see docs/calibration.md)")
    out = []
    for label, spec in tables.items():
        out.append(_one(config, label, spec))
    return out


def _kind(spec: Mapping[str, Any]) -> str:
    if spec.get("kind"):
        return spec["kind"]
    suffix = Path(spec["file"]).suffix.lower()
    if suffix in (".nc", ".nc4", ".cdf"):
        return "netcdf"
    if suffix in (".csv", ".dat"):
        return "csv"
    return "text"


def _one(config: Any, label: str, spec: Mapping[str, Any]) -> Observation:
    variable = spec["variable"]
    unit, _ = OBSERVABLES[variable]
    path = Path(spec["file"])
    if _kind(spec) == "csv" and any(c in str(path) for c in "*?["):
        pass                       # a glob of CSV files: the reader lists them
    elif not path.exists():
        raise ForcingError(f"[observations.{label}] file {path} does not exist (relative paths "
                           "resolve against the config file's folder)")
    if path.is_dir():
        raise ForcingError(f"[observations.{label}] {path} is a directory, not a file")
    kind = _kind(spec)
    depth = spec.get("depth")
    if kind == "text":
        try:
            vals = np.loadtxt(path, dtype=np.float64, ndmin=1)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ForcingError(f"[observations.{label}] {path}: not a column of numbers "
                               f"({exc})") from None
        if vals.ndim != 1 or vals.size != config.nt + 1:
            raise ForcingError(f"[observations.{label}] {path}: {vals.size} values, but the run "
                               f"has {config.nt + 1} time levels (0..{config.nt}); a text file "
                               "holds one value per level")
        if unit == "K" and np.nanmax(vals) < 150:
            raise ForcingError(f"[observations.{label}] {path}: values up to "
                               f"{np.nanmax(vals):.4g} look like degrees Celsius; give K")
    else:
        settings = {k: spec[k] for k in ("utc_offset_hours",) if spec.get(k) is not None}
        table = open_table(path, kind, settings)
        given = spec.get("name")
        names = [given] if isinstance(given, str) else list(given or [])
        canon = {"SoilTemp": "SoilTemp", "AvgSurfT": "RadT"}.get(variable, variable)
        if not names:
            # no name: the ALMA name, then its PLUMBER2 and FLUXNET names (docs/forcing.md)
            names = [table.resolve(canon, fix=f'[observations.{label}] name = "<name in file>"')]
        if variable == "SoilTemp" and kind == "netcdf" and len(names) == 1:
            from .forcing.alma import variable_depth

            stated = variable_depth(path, canon, {canon: names[0]})
            if stated is not None:
                if depth is not None and abs(stated - depth) > 1e-6:
                    raise _err(config, label, "depth", f"depth = {depth:g} m contradicts the file, "
                               f"which states {stated:g} m for {names[0]}; remove depth or fix "
                               "it")
                depth = stated
        if variable == "SoilTemp" and depth is None and len(names) == 1:
            depth = qualifier_depth(names[0], (getattr(config, "site", None) or {})
                                    .get("soil_depths"), label)
        vals = 0.0
        for n in names:
            got = sample(table, [canon], config.start, config.nt, config.dt,
                         gap_policy=spec.get("gap_policy", "missing"),
                         qc=spec.get("qc", "observed"), aliases={canon: n},
                         units=spec.get("units") or {},
                         fix=f'[observations.{label}] name = "<name in file>"')
            vals = vals + got[canon]
        vals = np.asarray(vals, dtype=np.float64)
    if variable == "SoilTemp" and depth is None:
        raise _err(config, label, "depth", "SoilTemp needs a depth [m] (the file states none)")
    if depth is not None and not (config.node_depths[0] - 1e-12 <= depth
                                  <= config.node_depths[-1] + 1e-12):
        raise _err(config, label, "depth", f"{depth:g} m lies outside the column "
                   f"[{config.node_depths[0]:g}, {config.node_depths[-1]:g}] m")
    if not np.isfinite(vals).any():
        raise ForcingError(f"[observations.{label}] {path}: no valid value in the run window")
    return Observation(label, variable, None if depth is None else float(depth), vals,
                       float(spec.get("sigma", 1.0)), bool(spec.get("fit", True)), str(path))


def observed_profile(config: Any, forcing: Any, observations: Sequence[Observation]
                     ) -> np.ndarray:
    """The initial profile of ``[initial] kind = "observed"`` [K] at every node.

    The soil temperatures observed at level 0 (every SoilTemp observation, fitted or not, the
    prescribed top temperature and the prescribed bottom series), linearly interpolated in
    depth; above the shallowest and below the deepest the nearest value is used.

    Raises:
        ConfigError: fewer than one observed temperature at the start.
    """
    z = config.spec.node_depths
    pts: dict[float, float] = {}
    for o in observations:
        if o.variable == "SoilTemp" and np.isfinite(o.values[0]):
            pts[float(o.depth)] = float(o.values[0])
    for var, depth in (("Ttop", z[0]), ("Tbottom", z[-1])):
        v = forcing.data.get(var)
        if v is not None and np.isfinite(v[0]):
            pts[float(depth)] = float(v[0])
    if not pts:
        where = f"{config.path}: " if getattr(config, "path", None) else ""
        raise ConfigError(f"{where}[initial] kind = \"observed\" needs soil temperatures at the "
                          "start: no SoilTemp observation, top or bottom series has a value at "
                          "level 0; move [time] start or use kind = \"spinup\"")
    d = np.array(sorted(pts))
    return np.interp(z, d, np.array([pts[k] for k in d]))


def prepare(config: Any, forcing: Any, observations: Sequence[Observation] | None = None
            ) -> Any:
    """The configuration ready to run: for ``[initial] kind = "observed"`` the observed profile
    becomes the model's initial profile (reading the observations when none are given)."""
    import dataclasses

    if config.init != "observed":
        return config
    if observations is None:
        observations = load_observations(config) if config.observations else []
    profile = observed_profile(config, forcing, observations)
    return dataclasses.replace(config, spec=config.spec.replace(init_profile=profile))


# --------------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Windows:
    """Masks over time levels 0..nt (bool arrays) and their spans as UTC text."""

    calibration: np.ndarray
    evaluation: np.ndarray
    calibration_span: tuple[str, str]
    evaluation_span: tuple[str, str] | None


def windows(config: Any, table: Mapping[str, Any] | None = None) -> Windows:
    """Calibration and evaluation masks from ``[calibration]`` (default: the whole run, no
    evaluation). Level n at time t_n is in window [a, b] when a < t_n <= b."""
    table = table if table is not None else (config.calibration or {})
    t = np.arange(config.nt + 1) * config.dt / 3600.0          # hours since start
    start = np.datetime64(config.start, "s")

    def span(hours_key: str, utc_key: str, default):
        if table.get(utc_key) is not None:
            a, b = (parse_time(x) for x in table[utc_key])
            return float((a - start) / np.timedelta64(1, "h")), \
                float((b - start) / np.timedelta64(1, "h"))
        if table.get(hours_key) is not None:
            a, b = table[hours_key]
            return float(a), float(b)
        return default

    cal = span("calibration_hours", "calibration_window", (0.0, float(t[-1])))
    ev = span("evaluation_hours", "evaluation_window", None)
    for name, s in (("calibration", cal), ("evaluation", ev)):
        if s is None:
            continue
        if not (s[0] < s[1]) or s[0] < -1e-9 or s[1] > t[-1] + 1e-9:
            raise ConfigError(f"{config.path or 'config'}: [calibration] {name} window "
                              f"{s[0]:g}..{s[1]:g} h must be increasing and inside the run "
                              f"(0..{t[-1]:g} h after {iso(start)}); lengthen [time] or shorten "
                              "the window")
    m_cal = (t > cal[0] + 1e-9) & (t <= cal[1] + 1e-9)
    m_ev = np.zeros_like(m_cal) if ev is None else (t > ev[0] + 1e-9) & (t <= ev[1] + 1e-9)
    if not m_cal.any():
        raise ConfigError(f"{config.path or 'config'}: [calibration] the calibration window "
                          "holds no model time level")
    stamp = lambda h: iso(start + np.timedelta64(int(round(h * 3600)), "s"))  # noqa: E731
    return Windows(m_cal, m_ev, (stamp(cal[0]), stamp(cal[1])),
                   None if ev is None else (stamp(ev[0]), stamp(ev[1])))


# --------------------------------------------------------------------------------- equivalents


def model_equivalents(observations: Sequence[Observation], z: np.ndarray, T: np.ndarray,
                      fluxes: Mapping[str, np.ndarray], lam: Any) -> dict[str, np.ndarray]:
    """label -> the model's value of each observation (nt+1,), by the calibration's own
    observation operator (sebcal.physics.observe.equivalent) applied to a run's output.

    Args:
        z: node depths [m]; T: temperatures [K] (nt+1, nz); fluxes: name -> (nt+1,);
        lam: node conductivity [W m-1 K-1] (nz,) or (nt+1, nz), or a number.
    """
    from .physics.observe import equivalent

    Tt = np.asarray(T, dtype=np.float64)[None]
    ft = {k: np.asarray(v, dtype=np.float64)[None] for k, v in fluxes.items()}
    lt = np.asarray(lam, dtype=np.float64)
    lt = lt[None] if lt.ndim >= 1 else lt
    return {o.label: np.asarray(equivalent(o.variable, Tt, ft, z, lt, o.depth)[0])
            for o in observations}


def node_lambda(spec: Any, params: Any, forcing: Any) -> np.ndarray:
    """Node conductivity [W m-1 K-1]: (nz,), or (nt+1, nz) when it follows soil moisture."""
    layer = spec.layer_of_nodes()
    soil = {p.name: np.asarray(params.layers(p.name, spec.nlayers))[layer]
            for p in PARAMETERS.values() if p.group == "soil" and p.name in params}
    theta = forcing.theta_at(spec.node_depths, spec.options)
    lam, _ = node_properties(soil, None if theta is None else theta.T,
                             spec.options["soil_thermal"])
    return np.asarray(lam, dtype=np.float64)


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


# --------------------------------------------------------------------------------- checks

#: observable -> (lowest, highest) plausible value [K or W m-2] of an observation at a land
#: site, with why; a series with values outside is flagged (not refused: the verdict names
#: it and leaves it out of the closure and skill rules unless [observations.NAME] keep = true)
OBS_RANGE: dict[str, tuple[float, float, str]] = {
    "SoilTemp": (223.15, 343.15, "soil temperatures from -50 to +70 degC"),
    "AvgSurfT": (213.15, 353.15, "surface temperatures from -60 to +80 degC"),
    "LWup": (120.0, 750.0, "emitted longwave of -60 to +80 degC surfaces"),
    "Qg": (-400.0, 600.0, "ground heat flux of bare desert soils at most"),
    "Qh": (-300.0, 900.0, "sensible heat flux over dry land at most"),
    "Qle": (-200.0, 900.0, "latent heat flux over wet land at most"),
    "Qh_plus_Qle": (-400.0, 1100.0, "turbulent fluxes at most"),
    "Rnet": (-250.0, 1100.0, "net radiation at the surface at most"),
    "SWnet": (-5.0, 1400.0, "net shortwave below the solar constant"),
    "LWnet": (-350.0, 100.0, "net longwave of land surfaces"),
}
#: observable -> the largest one-level spike [K or W m-2] (a value that departs from both
#: neighbours in the same direction by more): a logger glitch rather than weather
OBS_SPIKE: dict[str, float] = {"AvgSurfT": 10.0, "LWup": 60.0, "Qg": 300.0, "Qh": 300.0,
                               "Qle": 300.0, "Qh_plus_Qle": 400.0, "Rnet": 500.0,
                               "SWnet": 500.0, "LWnet": 150.0}
#: daytime (Rn > 50 W m-2) mean ground heat flux over mean net radiation outside this range
#: is flagged: the ground takes heat while the sun shines, at most about half of Rn over bare
#: soil (Oke 1987; Liebethal & Foken 2007)
G_RN_RANGE = (0.0, 0.6)


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def spike_limit(o: Observation) -> float:
    """Largest plausible one-level spike [K or W m-2]. A soil temperature's diurnal swing
    decays with depth over the damping depth of the daily cycle (about 0.1 m): 5 K e^(-z/0.1 m)
    + 0.5 K."""
    if o.variable == "SoilTemp":
        return 5.0 * float(np.exp(-(o.depth or 0.0) / 0.1)) + 0.5
    return OBS_SPIKE.get(o.variable, np.inf)


#: share of a series' valid values that may be flagged (outside the range, or spikes) before
#: the whole series is suspect rather than a few glitches
SUSPECT_SHARE = 0.05


@dataclass
class SeriesCheck:
    """What the plausibility checks found in one observed series.

    Attributes:
        problems: sentences with the numbers.
        bad: levels whose values are implausible (outside the range, spikes), bool (nt+1,).
        whole: the series as a whole is suspect (more than 5 % of its values flagged, or the
            daytime ground heat flux against net radiation), not only a few values.
    """

    problems: list[str]
    bad: np.ndarray
    whole: bool = False


def check_series(observations: Sequence[Observation], mask: np.ndarray | None = None
                 ) -> dict[str, SeriesCheck]:
    """Plausibility of the observed series over the levels in ``mask`` (default: all): values
    outside :data:`OBS_RANGE`, one-level spikes above :func:`spike_limit`, and a ground heat
    flux at the top whose daytime mean is negative or above 0.6 of the net radiation.

    Returns:
        label -> :class:`SeriesCheck` (labels without a problem are absent).
    """
    out: dict[str, SeriesCheck] = {}

    def entry(o):
        return out.setdefault(o.label, SeriesCheck([], np.zeros(o.values.size, bool)))

    for o in observations:
        x = np.where(mask, o.values, np.nan) if mask is not None else o.values
        n_valid = max(int(np.isfinite(x).sum()), 1)
        lo, hi, why = OBS_RANGE.get(o.variable, (-np.inf, np.inf, ""))
        bad = np.isfinite(x) & ((x < lo) | (x > hi))
        if bad.any():
            e = entry(o)
            e.bad |= bad
            e.problems.append(
                f"{_n(int(bad.sum()), 'value')} of {n_valid} outside {lo:g} to {hi:g} {o.units} "
                f"({why}); they run from {np.nanmin(x):.4g} to {np.nanmax(x):.4g} {o.units}")
        lim = spike_limit(o)
        if np.isfinite(lim) and x.size >= 3:
            a, b, c = x[:-2], x[1:-1], x[2:]
            d1, d2 = b - a, b - c
            sp = np.isfinite(d1) & np.isfinite(d2) & (np.sign(d1) == np.sign(d2)) & \
                (np.minimum(np.abs(d1), np.abs(d2)) > lim)
            if sp.any():
                k = int(np.argmax(np.where(sp, np.minimum(np.abs(d1), np.abs(d2)), -1))) + 1
                e = entry(o)
                e.bad[1:-1] |= sp
                e.problems.append(
                    f"{_n(int(sp.sum()), 'one-level spike')} larger than {lim:.3g} {o.units} "
                    f"(the largest at level {k}: {x[k - 1]:.4g}, {x[k]:.4g}, {x[k + 1]:.4g})")
        if o.label in out and out[o.label].bad.sum() > SUSPECT_SHARE * n_valid:
            out[o.label].whole = True
    g = next((o for o in observations if o.variable == "Qg" and not o.depth), None)
    rn = next((o for o in observations if o.variable == "Rnet"), None)
    if g is not None and rn is not None:
        ok = np.isfinite(g.values) & np.isfinite(rn.values) & (rn.values > 50.0)
        if mask is not None:
            ok &= mask
        if ok.sum() >= 10:
            mg, mr = float(np.mean(g.values[ok])), float(np.mean(rn.values[ok]))
            ratio = mg / mr
            if not G_RN_RANGE[0] <= ratio <= G_RN_RANGE[1]:
                e = entry(g)
                e.whole = True
                e.problems.append(
                    f"its daytime mean (net radiation {rn.label} above 50 W m-2, "
                    f"{int(ok.sum())} values) is {mg:.3g} W m-2 against a net radiation of "
                    f"{mr:.3g} W m-2, G/Rn = {ratio:.2f}, outside {G_RN_RANGE[0]:g} to "
                    f"{G_RN_RANGE[1]:g}: check the plate depth, the storage term above the "
                    "plate and the sign")
    return out


def without_flagged(observations: Sequence[Observation], checks: Mapping[str, SeriesCheck],
                    keep: Any = ()) -> list[Observation]:
    """The observations with the values the checks flagged set missing (series named in
    ``keep`` are left as they are)."""
    import dataclasses

    out = []
    for o in observations:
        c = checks.get(o.label)
        if c is None or o.label in keep or not c.bad.any():
            out.append(o)
            continue
        out.append(dataclasses.replace(o, values=np.where(c.bad, np.nan, o.values)))
    return out


def near_freezing(observations: Sequence[Observation], mask: np.ndarray | None = None,
                  band: float = 2.0) -> list[tuple[str, float, float]]:
    """Soil temperature series that spend at least 5 % of their valid levels within ``band``
    (2 K) of 0 degC or below it: (label, depth [m], that share)."""
    out = []
    for o in observations:
        if o.variable != "SoilTemp":
            continue
        x = np.where(mask, o.values, np.nan) if mask is not None else o.values
        ok = np.isfinite(x)
        if ok.sum() < 3:
            continue
        share = float(np.mean(x[ok] < 273.15 + band))
        if share >= 0.05:
            out.append((o.label, float(o.depth or 0.0), share))
    return out
