"""Meteorological forcing: the paper's synthetic forcing and an ALMA/CF NetCDF reader.

The model is stepped at the time levels t_n = start + n dt, n = 0..nt, and takes the forcing
at the new level n+1 for the step n -> n+1 (docs/theory.md). This module produces, for each
level, the three forcing terms of the surface energy balance in SI units:

    K_down   downward shortwave radiation      [W m-2]
    L_down   downward longwave radiation       [W m-2]
    Ta       air temperature                   [K]

and, through :func:`read_alma`, any other ALMA variable of a flux-tower file (observations
used as calibration targets, e.g. ``SoilTemp``, ``LWup``, ``Qh``).

Synthetic forcing (Huang, Heaney & van Reeuwijk, arXiv 2505.02979; the published forward
notebook). With t = n dt measured from local midnight, t24 = t mod 86400 s,

    theta = (t24 - t_rise)/(t_set - t_rise) pi/2 + (t24 - t_set)/(t_set - t_rise) pi/2,
    theta clipped to [-pi/2, pi/2],
    K_down = k_peak cos(theta),   L_down = const,   Ta = const.

At night cos(+-pi/2) = 6.1e-17, so K_down = 4.9e-14 W m-2, not 0: the published targets were
computed with these values, so they are kept.

Flux-tower files follow the Urban-PLUMBER conventions (Lipson et al. 2022, ESSD 14, 5157):
a ``time`` dimension in UTC, each stamp marking the END of its averaging period, float
variables with ``_FillValue`` and optional int8 ``<var>_qc`` flags (0 observed, 1 gap-filled
from observations, 2 derived from ERA5, 3 missing). Names of PLUMBER2 and FLUXNET2015 /
AmeriFlux files are accepted through :data:`ALIASES`. All times are handled as seconds since
1970-01-01T00:00:00 UTC in float64.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ForcingError

__all__ = [
    "ALIASES",
    "Forcing",
    "file_time_range",
    "load_forcing",
    "paper_synthetic",
    "read_alma",
    "variable_depth",
]

#: Canonical ALMA name -> alternative names tried, in order, when the canonical name is not
#: in the file: PLUMBER2 (``Psurf``, ``Precip``) and FLUXNET2015 / AmeriFlux
#: (``*_F`` / ``*_F_MDS`` gap-filled names first, then the plain names).
ALIASES: dict[str, tuple[str, ...]] = {
    "SWdown": ("SW_IN_F", "SW_IN"),
    "LWdown": ("LW_IN_F", "LW_IN"),
    "Tair": ("TA_F", "TA"),
    "Qair": (),
    "PSurf": ("Psurf", "PA_F", "PA"),
    "Rainf": ("Precip",),
    "Snowf": (),
    "Wind": ("WS_F", "WS"),
    "Wind_N": (),
    "Wind_E": (),
    "SWup": ("SW_OUT",),
    "LWup": ("LW_OUT",),
    "Qh": ("H_F_MDS", "H"),
    "Qle": ("LE_F_MDS", "LE"),
    "Qg": ("G_F_MDS", "G"),
    "Qtau": (),
    "SoilTemp": ("TS_F_MDS_1", "TS_1"),
}

#: SI unit expected for each canonical name (the unit every value is returned in).
_SI_UNIT: dict[str, str] = {
    "SWdown": "W m-2", "LWdown": "W m-2", "SWup": "W m-2", "LWup": "W m-2",
    "Qh": "W m-2", "Qle": "W m-2", "Qg": "W m-2",
    "Tair": "K", "SoilTemp": "K",
    "Qair": "kg kg-1",
    "PSurf": "Pa", "Qtau": "Pa",
    "Rainf": "kg m-2 s-1", "Snowf": "kg m-2 s-1",
    "Wind": "m s-1", "Wind_N": "m s-1", "Wind_E": "m s-1",
}

#: Radiation components that cannot be negative; values below -_RAD_NEG_LIMIT W m-2 are errors.
_RADIATION = ("SWdown", "SWup", "LWdown", "LWup")
_RAD_NEG_LIMIT = 5.0

#: A temperature whose window maximum is below this [K] while its units say K is in Celsius.
_CELSIUS_SUSPECT_K = 150.0

#: Unit table: normalised units string -> (SI unit, scale, offset); SI = raw * scale + offset.
#: Keys are lower case with single spaces (see _normalise_units).
_UNITS: dict[str, tuple[str, float, float]] = {}


def _add_units(si: str, scale: float, offset: float, *spellings: str) -> None:
    for s in spellings:
        _UNITS[_normalise_units(s)] = (si, scale, offset)


def _normalise_units(units: str) -> str:
    return " ".join(str(units).strip().lower().split())


_add_units("W m-2", 1.0, 0.0, "W/m2", "W m-2", "W m^-2", "W/m^2", "W m**-2", "Wm-2", "W.m-2",
           "W/m**2", "W m-2 ", "watt/m2", "W m2-1")
_add_units("K", 1.0, 0.0, "K", "kelvin", "degK", "deg K", "degrees_K", "degree_K")
_add_units("K", 1.0, 273.15, "degC", "deg C", "°C", "C", "Celsius", "degrees_C", "degree_C",
           "deg_C", "degrees C", "degree C", "degree_Celsius", "degrees_Celsius",
           "degrees Celsius", "° C")
_add_units("Pa", 1.0, 0.0, "Pa", "N/m2", "N m-2", "N m^-2", "N/m^2")
_add_units("Pa", 1000.0, 0.0, "kPa")
_add_units("Pa", 100.0, 0.0, "hPa", "mbar", "millibar")
_add_units("kg m-2 s-1", 1.0, 0.0, "kg/m2/s", "kg m-2 s-1", "kg/m^2/s", "kg m^-2 s^-1",
           "kg/m2s", "kg m**-2 s**-1", "mm/s", "mm s-1", "mm s^-1")
_add_units("kg kg-1", 1.0, 0.0, "kg/kg", "kg kg-1", "kg kg^-1")
_add_units("kg kg-1", 1.0e-3, 0.0, "g/kg", "g kg-1")
_add_units("m s-1", 1.0, 0.0, "m/s", "m s-1", "m s^-1", "m/sec", "m s**-1")

#: Time units of "<unit> since <date>" -> seconds.
_TIME_FACTORS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
    "day": 86400, "days": 86400, "d": 86400,
}
_CALENDARS_OK = ("standard", "gregorian", "proleptic_gregorian", "")

_ISO_RE = re.compile(
    r"^\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ]\s*(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?P<frac>\.\d*)?)?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?\s*$",
    re.IGNORECASE,
)

#: "missing" (observations only): gaps stay NaN and are left out of losses and metrics
_GAP_POLICIES = ("error", "interpolate", "missing")
_RESAMPLES = ("sample", "mean")
#: Sentinels treated as missing even when the file declares no _FillValue (FLUXNET uses -9999).
_SENTINELS = (-9999.0, -999.0)

_CONFIG_HINT = "relative paths in a config file resolve against the folder of that config file"


# --------------------------------------------------------------------------------------------
# Forcing container and synthetic forcing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Forcing:
    """Meteorological forcing at the model time levels t_n = start + n*dt, n = 0..nt.

    Attributes:
        time: datetime64[s] UTC time of each level, shape (nt+1,).
        dt: model time step [s].
        sw_down: downward shortwave radiation K_down [W m-2], shape (nt+1,), float64.
        lw_down: downward longwave radiation L_down [W m-2], shape (nt+1,), float64.
        t_air: air temperature Ta [K], shape (nt+1,), float64.
        source: ``'paper_synthetic'`` or the path of the file read.

    The arrays are read-only copies. Equality is identity (arrays have no single truth value).
    """

    time: np.ndarray
    dt: float
    sw_down: np.ndarray
    lw_down: np.ndarray
    t_air: np.ndarray
    source: str

    def __post_init__(self) -> None:
        time = np.array(self.time, dtype="datetime64[s]").reshape(-1)
        if time.size < 1:
            raise ForcingError("Forcing: the time axis is empty; it needs nt + 1 >= 1 levels.")
        try:
            dt = float(self.dt)
        except (TypeError, ValueError):
            raise ForcingError(f"Forcing: dt = {self.dt!r} is not a number of seconds.") from None
        if not (math.isfinite(dt) and dt > 0.0):
            raise ForcingError(f"Forcing: dt = {dt} s; the time step must be positive.")
        object.__setattr__(self, "dt", dt)
        time.setflags(write=False)
        object.__setattr__(self, "time", time)
        for name, unit in (("sw_down", "W m-2"), ("lw_down", "W m-2"), ("t_air", "K")):
            arr = np.array(getattr(self, name), dtype=np.float64).reshape(-1)
            if arr.shape != time.shape:
                raise ForcingError(
                    f"Forcing ({self.source}): {name} has {arr.size} values but the time axis "
                    f"has {time.size}; every forcing array needs one value per time level.")
            if not np.all(np.isfinite(arr)):
                bad = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise ForcingError(
                    f"Forcing ({self.source}): {name} [{unit}] is not finite at level {bad} "
                    f"({_iso(time[bad])}); fill the gap before building the forcing.")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "source", str(self.source))

    @property
    def nt(self) -> int:
        """Number of model steps, len(time) - 1."""
        return int(self.time.size - 1)


def paper_synthetic(nt: int = 100, dt: float = 3600.0, start="2000-01-01T00:00:00", *,
                    k_peak: float = 800.0, lw_down: float = 100.0, t_air: float = 296.0,
                    sunrise_h: float = 7.0, sunset_h: float = 21.0) -> Forcing:
    """The synthetic forcing of the published forward model (model.md section 1.5).

    Args:
        nt: number of steps; the forcing has nt + 1 levels.
        dt: time step [s] (a whole number of seconds).
        start: nominal UTC time of level 0, for the time axis only. The shortwave cycle always
            takes t = 0 as local midnight.
        k_peak: peak downward shortwave at "solar noon", (sunrise_h + sunset_h)/2 [W m-2].
        lw_down: constant downward longwave [W m-2].
        t_air: constant air temperature [K].
        sunrise_h: sunrise, hours after midnight [h].
        sunset_h: sunset, hours after midnight [h].

    Returns:
        A :class:`Forcing` with ``source='paper_synthetic'``.
    """
    nt = _check_nt(nt)
    dt = _check_dt(dt)
    for label, value in (("k_peak", k_peak), ("lw_down", lw_down), ("t_air", t_air),
                         ("sunrise_h", sunrise_h), ("sunset_h", sunset_h)):
        if not isinstance(value, (int, float, np.floating, np.integer)) or \
                not math.isfinite(float(value)):
            raise ForcingError(f"paper_synthetic: {label} = {value!r} must be a finite number.")
    if not 0.0 <= float(sunrise_h) < float(sunset_h) <= 24.0:
        raise ForcingError(
            f"paper_synthetic: sunrise_h = {sunrise_h} and sunset_h = {sunset_h}; they need "
            "0 <= sunrise_h < sunset_h <= 24 (hours after local midnight).")
    if float(t_air) <= 0.0:
        raise ForcingError(f"paper_synthetic: t_air = {t_air} K must be positive (Kelvin).")
    start_s = _parse_start(start)

    t = np.arange(nt + 1, dtype=np.float64) * dt
    t24 = np.mod(t, 86400.0)
    trise = float(sunrise_h) * 3600.0
    tset = float(sunset_h) * 3600.0
    # Same expression and operation order as the published notebook.
    theta = (t24 - trise) / (tset - trise) * np.pi / 2 + (t24 - tset) / (tset - trise) * np.pi / 2
    theta = np.clip(theta, -np.pi / 2, np.pi / 2)
    sw = float(k_peak) * np.cos(theta)
    lw = np.full(nt + 1, float(lw_down))
    ta = np.full(nt + 1, float(t_air))
    return Forcing(time=_time_axis(start_s, nt, dt), dt=dt, sw_down=sw, lw_down=lw, t_air=ta,
                   source="paper_synthetic")


# --------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------


def _check_nt(nt: Any) -> int:
    if isinstance(nt, bool) or not isinstance(nt, (int, np.integer)) or int(nt) < 0:
        raise ForcingError(f"nt = {nt!r}: the number of steps must be an integer >= 0.")
    return int(nt)


def _check_dt(dt: Any) -> float:
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ForcingError(f"dt = {dt!r}: the time step must be a number of seconds.") from None
    if not (math.isfinite(value) and value > 0.0):
        raise ForcingError(f"dt = {dt!r}: the time step must be positive [s].")
    if abs(value - round(value)) > 1e-9:
        raise ForcingError(f"dt = {dt!r} s: the time step must be a whole number of seconds.")
    return float(round(value))


def _time_axis(start_s: float, nt: int, dt: float) -> np.ndarray:
    secs = np.int64(round(start_s)) + np.arange(nt + 1, dtype=np.int64) * np.int64(round(dt))
    return secs.astype("datetime64[s]")


def _iso(t: Any) -> str:
    """ISO 8601 UTC text of a datetime64 or of seconds since 1970."""
    if isinstance(t, np.datetime64):
        return f"{np.datetime_as_string(t.astype('datetime64[s]'))} UTC"
    secs = float(t)
    whole = int(math.floor(secs))
    text = str(np.datetime64(whole, "s"))
    frac = secs - whole
    if frac > 1e-6:
        text += f"{frac:.3f}".lstrip("0")
    return f"{text} UTC"


def _parse_iso(text: str) -> float | None:
    """Seconds since 1970 (UTC) of an ISO date/time, None if ``text`` is not one.

    A trailing ``Z``/``UTC``/``GMT`` or a numeric offset (``+05:30``) is applied; without one
    the time is taken as UTC.
    """
    m = _ISO_RE.match(text)
    if not m:
        return None
    try:
        base = _dt.datetime(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"] or 0),
                            int(m["mi"] or 0), int(m["s"] or 0), tzinfo=_dt.timezone.utc)
    except ValueError:
        return None
    secs = (base - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)).total_seconds()
    if m["frac"] and len(m["frac"]) > 1:
        secs += float(m["frac"])
    tz = (m["tz"] or "").upper()
    if tz and tz not in ("Z", "UTC", "GMT"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        if len(digits) <= 2:
            hh, mm = int(digits), 0
        else:
            hh, mm = int(digits[:-2]), int(digits[-2:])
        secs -= sign * (hh * 3600 + mm * 60)
    return float(secs)


def _parse_start(start: Any) -> float:
    """Seconds since 1970 UTC of ``start`` (ISO text, datetime64 or datetime)."""
    if isinstance(start, np.datetime64):
        if np.isnat(start):
            raise ForcingError("start is NaT; give the UTC start time, e.g. '2012-05-01T07:00'.")
        return float(start.astype("datetime64[ms]").astype(np.int64)) / 1000.0
    if isinstance(start, _dt.datetime):
        if start.tzinfo is not None:
            start = start.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return (start - _dt.datetime(1970, 1, 1)).total_seconds()
    if isinstance(start, _dt.date):
        return float((start - _dt.date(1970, 1, 1)).days * 86400)
    if isinstance(start, str):
        secs = _parse_iso(start)
        if secs is not None:
            return secs
    raise ForcingError(
        f"start = {start!r} is not a date-time; give it as ISO 8601 UTC text such as "
        "'2012-05-01T07:00:00' (a trailing 'Z' is allowed) or as numpy.datetime64.")


# --------------------------------------------------------------------------------------------
# NetCDF access
# --------------------------------------------------------------------------------------------


def _where(path: Any, var: str | None = None) -> str:
    return f"forcing file '{path}'" + (f", variable '{var}'" if var else "")


def _open(path: Any):
    """Open a NetCDF file read-only, with errors that say what to fix."""
    import netCDF4  # local import: keeps `import sebcal` light

    p = Path(os.fspath(path))
    if not p.exists():
        raise ForcingError(
            f"forcing file '{p}' does not exist. Check the path ({_CONFIG_HINT}; the "
            f"absolute path tried was '{p.absolute()}').")
    if not p.is_file():
        raise ForcingError(f"forcing file '{p}' is not a file (a directory?); give the path of "
                           "a NetCDF file.")
    try:
        ds = netCDF4.Dataset(str(p), "r")
    except OSError as exc:
        raise ForcingError(
            f"forcing file '{p}' could not be opened as NetCDF ({exc}). Give an ALMA/CF NetCDF "
            "file (NetCDF3 or NetCDF4); convert CSV data to NetCDF first.") from None
    ds.set_auto_maskandscale(True)
    return ds


def _time_variable(ds, path) -> Any:
    if "time" in ds.variables:
        var = ds.variables["time"]
    else:
        cands = [v for v in ds.variables.values()
                 if getattr(v, "standard_name", None) == "time" or getattr(v, "axis", None) == "T"]
        if not cands:
            raise ForcingError(
                f"{_where(path, 'time')}: the file has no time variable (looked for 'time', or "
                "a variable with standard_name = 'time' or axis = 'T'); variables present: "
                f"{', '.join(ds.variables) or 'none'}. Add a 'time' coordinate with units like "
                "'seconds since 2011-12-16T18:30:00'.")
        var = cands[0]
    if var.ndim != 1:
        raise ForcingError(f"{_where(path, var.name)}: the time variable has dimensions "
                           f"{var.dimensions}; it must be one-dimensional.")
    return var


def _read_stamps(ds, path) -> tuple[np.ndarray, str]:
    """Stamps of the file [s since 1970 UTC], float64, validated; and the time dimension."""
    var = _time_variable(ds, path)
    units = getattr(var, "units", None)
    if units is None:
        raise ForcingError(f"{_where(path, var.name)}: the time variable has no 'units' "
                           "attribute; add one such as 'seconds since 2011-12-16T18:30:00'.")
    m = re.match(r"^\s*(\w+)\s+since\s+(.+?)\s*$", str(units), re.IGNORECASE)
    factor = _TIME_FACTORS.get(m.group(1).lower()) if m else None
    ref = _parse_iso(m.group(2)) if m else None
    if factor is None or ref is None:
        raise ForcingError(
            f"{_where(path, var.name)}: time units '{units}' are not understood; use "
            "'<seconds|minutes|hours|days> since YYYY-MM-DD[Thh:mm:ss][Z|+hh:mm]'.")
    calendar = str(getattr(var, "calendar", "")).strip().lower()
    if calendar not in _CALENDARS_OK:
        raise ForcingError(
            f"{_where(path, var.name)}: calendar '{calendar}' is not supported; flux-tower "
            "times must use the standard (Gregorian) calendar.")
    raw = var[:]
    mask = np.ma.getmaskarray(raw)
    vals = np.ma.getdata(raw)
    if np.issubdtype(vals.dtype, np.integer):
        secs = ref + vals.astype(np.int64) * factor
        secs = secs.astype(np.float64)
    else:
        vals = vals.astype(np.float64)
        mask = mask | ~np.isfinite(vals)
        secs = ref + vals * float(factor)
    if secs.size == 0:
        raise ForcingError(f"{_where(path, var.name)}: the time axis is empty.")
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise ForcingError(
            f"{_where(path, var.name)}: {int(mask.sum())} time stamps are missing (fill value "
            f"or NaN), the first at index {i}. Every record needs a valid time; repair the "
            "time axis.")
    bad = np.flatnonzero(np.diff(secs) <= 0.0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ForcingError(
            f"{_where(path, var.name)}: time is not strictly increasing at index {i} "
            f"({_iso(secs[i])} follows {_iso(secs[i - 1])}). Sort the records and remove "
            "duplicated stamps.")
    return secs, var.dimensions[0]


def _file_step(secs: np.ndarray) -> float:
    """Most frequent stamp spacing [s]; nan for a single stamp."""
    if secs.size < 2:
        return float("nan")
    d = np.round(np.diff(secs), 6)
    vals, counts = np.unique(d, return_counts=True)
    return float(vals[np.argmax(counts)])


def _resolve_name(ds, path, name: str, aliases: Mapping[str, Any] | None) -> str:
    """Name of ``name`` in the file: the user's alias, else the name, else :data:`ALIASES`."""
    if aliases and name in aliases and aliases[name] is not None:
        user = aliases[name]
        tried = [user] if isinstance(user, str) else [str(u) for u in user]
        origin = "from the [forcing.variables] / aliases setting"
    else:
        tried = [name, *ALIASES.get(name, ())]
        origin = "the ALMA name and its aliases"
    for cand in tried:
        if cand in ds.variables:
            return cand
    present = ", ".join(v for v in ds.variables if not v.endswith("_qc")) or "none"
    raise ForcingError(
        f"{_where(path, name)}: not found. Names tried ({origin}): {', '.join(tried)}. "
        f"Variables in the file: {present}. Fix: set the file's name for it in the config, "
        f"e.g. [forcing.variables] {name} = \"<name in file>\".")


def _unit_of(var, path, name: str) -> tuple[str, float, float, str]:
    """(SI unit, scale, offset, units text) of a file variable, checked against ``name``."""
    units = getattr(var, "units", None)
    if units is None:
        raise ForcingError(
            f"{_where(path, var.name)} (for {name}): no 'units' attribute, so the values "
            "cannot be converted to SI. Add one to the file, e.g. `ncatted -a units,"
            f"{var.name},o,c,\"{_SI_UNIT.get(name, 'K')}\" file.nc`.")
    entry = _UNITS.get(_normalise_units(units))
    if entry is None:
        known = sorted({k for k in _UNITS})
        raise ForcingError(
            f"{_where(path, var.name)} (for {name}): unit '{units}' is not in sebcal's unit "
            f"table. Known units: {', '.join(known)}. Fix the file's 'units' attribute to one "
            "of them (and convert the values if needed).")
    si, scale, offset = entry
    expected = _SI_UNIT.get(name)
    if expected is not None and si != expected:
        raise ForcingError(
            f"{_where(path, var.name)} (for {name}): unit '{units}' is a {si} unit but {name} "
            f"needs {expected}. Check that the right variable is mapped to {name} "
            "([forcing.variables]) and that its 'units' attribute is correct.")
    return si, scale, offset, str(units)


def _read_slice(ds, path, fname: str, name: str, tdim: str, lo: int, hi: int) -> np.ndarray:
    """Values of ``fname`` at stamps lo..hi as float64, missing -> NaN (fill, NaN, qc == 3)."""
    var = ds.variables[fname]
    if tdim not in var.dimensions:
        raise ForcingError(f"{_where(path, fname)} (for {name}): dimensions {var.dimensions} "
                           f"do not include the time dimension '{tdim}'.")
    axis = var.dimensions.index(tdim)
    extra = [d for i, d in enumerate(var.dimensions) if i != axis and var.shape[i] != 1]
    if extra:
        raise ForcingError(
            f"{_where(path, fname)} (for {name}): has non-singleton dimensions {extra} "
            "besides time; sebcal reads single-point time series. Extract one point/layer "
            "first (e.g. `ncks -d <dim>,0`).")
    if not (np.issubdtype(var.dtype, np.floating) or np.issubdtype(var.dtype, np.integer)):
        raise ForcingError(f"{_where(path, fname)} (for {name}): is not numeric "
                           f"(dtype {var.dtype}).")
    index = tuple(slice(lo, hi + 1) if i == axis else 0 for i in range(var.ndim))
    raw = var[index]
    vals = np.ma.filled(np.ma.asarray(raw).astype(np.float64), np.nan).reshape(-1)
    for s in _SENTINELS:
        vals[vals == s] = np.nan
    qc_name = f"{fname}_qc"
    if qc_name in ds.variables:
        qvar = ds.variables[qc_name]
        if qvar.dimensions == var.dimensions:
            q = np.ma.filled(np.ma.asarray(qvar[index]).astype(np.float64), -1.0).reshape(-1)
            vals[q == 3] = np.nan
    return vals


# --------------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------------


def file_time_range(path) -> tuple[np.datetime64, np.datetime64, float]:
    """First and last time stamp (datetime64[s], UTC) and the usual stamp spacing [s].

    The spacing is the most frequent difference between consecutive stamps (nan for a file
    with one stamp). Raises :class:`ForcingError` for a missing or invalid file or time axis.
    """
    with _open(path) as ds:
        secs, _ = _read_stamps(ds, path)
    first = np.datetime64(int(round(secs[0])), "s")
    last = np.datetime64(int(round(secs[-1])), "s")
    return first, last, _file_step(secs)


def variable_depth(path, name, aliases=None) -> float | None:
    """Depth [m] of a (soil) variable as the file states it, or None if it does not.

    Looks at the variable's ``depth`` attribute first (``"0.02 m"``, ``"2 cm"``, or a number in
    m), then at the global ``comment`` for a sentence naming the variable and a depth
    (Urban-PLUMBER: ``"SoilTemp at 2cm depth."``).

    Args:
        path: NetCDF file.
        name: canonical ALMA name (``SoilTemp``) or the file's own name.
        aliases: optional mapping canonical name -> name in the file.
    """
    with _open(path) as ds:
        fname = _resolve_name(ds, path, name, aliases)
        var = ds.variables[fname]
        if "depth" in var.ncattrs():
            attr = var.getncattr("depth")
            depth = _parse_length(attr)
            if depth is None:
                raise ForcingError(
                    f"{_where(path, fname)}: depth attribute {attr!r} is not a length; write "
                    "it as e.g. '0.02 m' or '2 cm'.")
            return depth
        comments = [str(ds.getncattr(a)) for a in ds.ncattrs() if a.lower() == "comment"]
        comments += [str(var.getncattr(a)) for a in var.ncattrs() if a.lower() == "comment"]
        for text in comments:
            for sentence in re.split(r"(?<!\d)\.(?!\d)|;|\n", text):
                if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(fname)}(?![A-Za-z0-9_])",
                                 sentence):
                    continue
                if not re.search(r"depth|deep|below", sentence, re.IGNORECASE):
                    continue
                m = re.search(r"(\d+(?:\.\d+)?)\s*(mm|cm|m)(?![A-Za-z])", sentence)
                if m:
                    return _parse_length(f"{m.group(1)} {m.group(2)}")
    return None


def _parse_length(value: Any) -> float | None:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    arr = np.asarray(value)
    if arr.dtype.kind in "if" and arr.size == 1:
        return float(arr.reshape(-1)[0])
    m = re.match(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
                 r"(m|cm|mm|meters?|metres?)?\s*$", str(value))
    if not m:
        return None
    number = float(m.group(1))
    unit = (m.group(2) or "m").lower()
    if unit == "cm":
        return number / 100.0
    if unit == "mm":
        return number / 1000.0
    return number


def read_alma(path, names: Sequence[str], start, nt: int, dt: float, *, gap_policy="error",
              max_gap_hours: float = 6.0, resample="sample",
              aliases: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Read ALMA variables of a NetCDF file at the model time levels t_n = start + n dt.

    Args:
        path: ALMA/CF NetCDF file (Urban-PLUMBER, PLUMBER2 or FLUXNET-style names).
        names: canonical ALMA names, e.g. ``["SWdown", "LWdown", "Tair"]``.
        start: UTC time of level 0 (ISO text, trailing ``Z`` allowed, or datetime64).
        nt: number of steps; nt + 1 values are returned per variable.
        dt: model time step [s], a whole number of seconds.
        gap_policy: ``"error"`` (default): any missing value (fill value, NaN or qc flag 3)
            among the values used is an error. ``"interpolate"``: gaps up to
            ``max_gap_hours`` long are filled linearly in time; longer gaps, and gaps at the
            edge of the values used, are still errors.
        max_gap_hours: longest gap filled under ``gap_policy="interpolate"`` [h]; a gap's
            length is the number of missing stamps times the file step.
        resample: ``"sample"`` (default, as the published code): the value at the stamp equal
            to t_n, linearly interpolated in time when t_n falls between two stamps.
            ``"mean"``: mean of the values whose averaging periods (stamp - step, stamp] lie in
            (t_n - dt, t_n]; dt must be a whole multiple of the file step and t_n on a stamp.
        aliases: mapping canonical name -> the file's name for it; overrides :data:`ALIASES`.

    Returns:
        ``{"time": datetime64[s] (nt+1,), name: float64 (nt+1,) in SI, ...}``: W m-2 for
        radiation and heat fluxes, K for temperatures, Pa, kg m-2 s-1, kg kg-1, m s-1.

    Raises:
        ForcingError: the file, a variable, its units, its time axis or its values in the
            window are unusable; the message names the file and variable and says what to fix.
    """
    nt = _check_nt(nt)
    dt = _check_dt(dt)
    if gap_policy not in _GAP_POLICIES:
        raise ForcingError(f"{_where(path)}: gap_policy = {gap_policy!r}; use one of "
                           f"{', '.join(repr(p) for p in _GAP_POLICIES)}.")
    if resample not in _RESAMPLES:
        raise ForcingError(f"{_where(path)}: resample = {resample!r}; use one of "
                           f"{', '.join(repr(r) for r in _RESAMPLES)}.")
    try:
        max_gap_s = float(max_gap_hours) * 3600.0
    except (TypeError, ValueError):
        max_gap_s = float("nan")
    if not (math.isfinite(max_gap_s) and max_gap_s >= 0.0):
        raise ForcingError(f"{_where(path)}: max_gap_hours = {max_gap_hours!r}; it must be a "
                           "number of hours >= 0.")
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ForcingError(f"{_where(path)}: no variable names were asked for.")
    start_s = _parse_start(start)
    t_model = start_s + np.arange(nt + 1, dtype=np.float64) * dt

    with _open(path) as ds:
        secs, tdim = _read_stamps(ds, path)
        step = _file_step(secs)
        fnames = {n: _resolve_name(ds, path, n, aliases) for n in names}
        plan = _plan(path, secs, step, t_model, dt, resample)
        out: dict[str, np.ndarray] = {"time": _time_axis(start_s, nt, dt)}
        for name in names:
            fname = fnames[name]
            si, scale, offset, units = _unit_of(ds.variables[fname], path, name)
            vals = _read_slice(ds, path, fname, name, tdim, plan.lo, plan.hi)
            vals = _fill_gaps(vals, plan, secs, step, path, fname, name, gap_policy, max_gap_s)
            used = vals[plan.needed]
            _check_temperature(used, si, scale, offset, units, path, fname, name)
            values = plan.combine(vals) * scale + offset
            if name in _RADIATION and np.any(values < -_RAD_NEG_LIMIT):
                i = int(np.flatnonzero(values < -_RAD_NEG_LIMIT)[0])
                raise ForcingError(
                    f"{_where(path, fname)} (for {name}): value {values[i]:.4g} W m-2 at "
                    f"{_iso(t_model[i])} is below -{_RAD_NEG_LIMIT:g} W m-2; radiation cannot "
                    "be negative. Check the sign convention and units of this variable, or "
                    "fix the file.")
            out[name] = np.ascontiguousarray(values, dtype=np.float64)
    return out


@dataclass
class _Plan:
    """Which file stamps (indices lo..hi) give each model level, and how they combine."""

    lo: int
    hi: int
    needed: np.ndarray        # bool over lo..hi: stamps whose values are used
    i0: np.ndarray            # per level: index (relative to lo) of first stamp used
    i1: np.ndarray            # per level: second stamp (sample) or last stamp (mean)
    w: np.ndarray             # sample: weight of i1; mean: unused
    mode: str

    def combine(self, vals: np.ndarray) -> np.ndarray:
        if self.mode == "sample":
            v0, v1 = vals[self.i0], vals[self.i1]
            return np.where(self.w == 0.0, v0, v0 + self.w * (v1 - v0))
        csum = np.concatenate(([0.0], np.cumsum(vals)))
        k = self.i1 - self.i0 + 1
        return (csum[self.i1 + 1] - csum[self.i0]) / k


def _plan(path, secs, step, t_model, dt, resample) -> _Plan:
    first, last = secs[0], secs[-1]
    tol = 1e-6
    window = f"{_iso(t_model[0])} to {_iso(t_model[-1])}"
    file_range = f"{_iso(first)} to {_iso(last)} (step {step:g} s)"
    if resample == "sample":
        if t_model[0] < first - tol or t_model[-1] > last + tol:
            raise ForcingError(
                f"{_where(path)}: the requested window {window} is not inside the file's time "
                f"range {file_range}. Choose start and nt so the window lies in the file.")
        j = np.searchsorted(secs, t_model - tol, side="left")
        j = np.minimum(j, secs.size - 1)
        exact = np.abs(secs[j] - t_model) <= tol
        i1 = j.copy()
        i0 = np.where(exact, j, j - 1)
        denom = np.where(exact, 1.0, secs[i1] - secs[i0])
        w = np.where(exact, 0.0, (t_model - secs[i0]) / denom)
        lo, hi = int(i0.min()), int(i1.max())
        needed = np.zeros(hi - lo + 1, dtype=bool)
        needed[i0 - lo] = True
        needed[i1[~exact] - lo] = True
        return _Plan(lo, hi, needed, i0 - lo, i1 - lo, w, "sample")

    # resample == "mean": periods (s - step, s] inside (t_n - dt, t_n]
    if not math.isfinite(step) or step <= 0.0:
        raise ForcingError(f"{_where(path)}: resample = 'mean' needs at least two time stamps.")
    k = dt / step
    if abs(k - round(k)) > 1e-9 or round(k) < 1:
        raise ForcingError(
            f"{_where(path)}: resample = 'mean' needs dt ({dt:g} s) to be a whole multiple of "
            f"the file step ({step:g} s). Change dt or use resample = 'sample'.")
    k = int(round(k))
    need_first = t_model[0] - (k - 1) * step
    if need_first < first - tol or t_model[-1] > last + tol:
        raise ForcingError(
            f"{_where(path)}: the requested window {window} with resample = 'mean' needs file "
            f"stamps from {_iso(need_first)} (periods ending in ({_iso(t_model[0] - dt)}, "
            f"{_iso(t_model[-1])}]), outside the file's time range {file_range}. Choose "
            "start and nt so the window lies in the file.")
    i_end = np.searchsorted(secs, t_model - tol, side="left")
    i_end = np.minimum(i_end, secs.size - 1)
    off = np.flatnonzero(np.abs(secs[i_end] - t_model) > tol)
    if off.size:
        n = int(off[0])
        raise ForcingError(
            f"{_where(path)}: resample = 'mean' needs every model time on a file stamp, but "
            f"{_iso(t_model[n])} (level {n}) is not one. Align start with the file's stamps "
            "(they mark the end of each averaging period) or use resample = 'sample'.")
    i_beg = i_end - (k - 1)
    holes = np.flatnonzero((i_beg < 0) | (np.abs(secs[np.maximum(i_beg, 0)] -
                                                 (t_model - (k - 1) * step)) > tol))
    if holes.size:
        n = int(holes[0])
        raise ForcingError(
            f"{_where(path)}: the file's time axis is not regular before {_iso(t_model[n])}: "
            f"{k} stamps {step:g} s apart are needed for the mean over "
            f"({_iso(t_model[n] - dt)}, {_iso(t_model[n])}]. Use resample = 'sample' or "
            "repair the time axis.")
    lo, hi = int(i_beg.min()), int(i_end.max())
    needed = np.zeros(hi - lo + 1, dtype=bool)
    for b, e in zip(i_beg, i_end):
        needed[b - lo:e - lo + 1] = True
    return _Plan(lo, hi, needed, i_beg - lo, i_end - lo, np.zeros(t_model.size), "mean")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) of each run of True in a bool array."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def _fill_gaps(vals, plan: _Plan, secs, step, path, fname, name, gap_policy, max_gap_s):
    missing = ~np.isfinite(vals)
    bad = missing & plan.needed
    if not bad.any() or gap_policy == "missing":
        return vals
    t = secs[plan.lo:plan.hi + 1]
    where = f"{_where(path, fname)}" + (f" (for {name})" if fname != name else "")
    idx = np.flatnonzero(bad)
    if gap_policy == "error":
        raise ForcingError(
            f"{where}: {idx.size} missing value(s) (fill value, NaN or qc flag 3) in the "
            f"requested window, first at {_iso(t[idx[0]])}, last at {_iso(t[idx[-1]])}. Fix: "
            "choose a window without gaps, fill the file, or opt in to gap filling with "
            "gap_policy = \"interpolate\" in [forcing] (fills gaps up to max_gap_hours, "
            f"now {max_gap_s / 3600.0:g} h, linearly in time).")
    out = vals.copy()
    for a, b in _runs(missing):
        if not bad[a:b + 1].any():
            continue
        span = f"{_iso(t[a])} to {_iso(t[b])}"
        if a == 0 or b == t.size - 1:
            raise ForcingError(
                f"{where}: the gap {span} touches the edge of the requested window, so it "
                "cannot be interpolated from values on both sides. Move the window or fill "
                "the file.")
        length = (t[b] - t[a]) + step
        if length > max_gap_s + 1e-6:
            raise ForcingError(
                f"{where}: the gap {span} ({length / 3600.0:g} h) is longer than max_gap_hours "
                f"= {max_gap_s / 3600.0:g} h and was not filled. Raise max_gap_hours, choose "
                "another window, or fill the file.")
        out[a:b + 1] = np.interp(t[a:b + 1], [t[a - 1], t[b + 1]], [vals[a - 1], vals[b + 1]])
    return out


def _check_temperature(used, si, scale, offset, units, path, fname, name) -> None:
    if si != "K":
        return
    vals = used[np.isfinite(used)]
    if vals.size == 0:
        return
    if offset == 0.0 and scale == 1.0 and float(vals.max()) < _CELSIUS_SUSPECT_K:
        raise ForcingError(
            f"{_where(path, fname)} (for {name}): units say '{units}' (Kelvin) but every value "
            f"in the window is below {_CELSIUS_SUSPECT_K:g} K (max {float(vals.max()):.4g}); "
            "they look like degrees Celsius. Fix the 'units' attribute (e.g. `ncatted -a "
            f"units,{fname},o,c,degC file.nc`).")
    if offset != 0.0 and float(vals.min()) > _CELSIUS_SUSPECT_K:
        raise ForcingError(
            f"{_where(path, fname)} (for {name}): units say '{units}' (Celsius) but every value "
            f"in the window is above {_CELSIUS_SUSPECT_K:g} (min {float(vals.min()):.4g}); they "
            "look like Kelvin. Fix the 'units' attribute (e.g. `ncatted -a "
            f"units,{fname},o,c,K file.nc`).")


# --------------------------------------------------------------------------------------------
# Config entry point
# --------------------------------------------------------------------------------------------

_KINDS: dict[str, tuple[str, ...]] = {
    "paper_synthetic": ("k_peak", "lw_down", "t_air", "sunrise_h", "sunset_h"),
    "netcdf": ("path", "gap_policy", "max_gap_hours", "resample", "variables"),
}
_NETCDF_FORCING = ("SWdown", "LWdown", "Tair")


def load_forcing(spec: Mapping, start, nt: int, dt: float) -> Forcing:
    """Build the forcing described by the ``[forcing]`` table of a config.

    Args:
        spec: the table as a dict, paths already absolute. ``kind = "paper_synthetic"`` (optional
            k_peak, lw_down, t_air, sunrise_h, sunset_h) or ``kind = "netcdf"`` (``path``;
            optional gap_policy, max_gap_hours, resample, and ``variables = {SWdown = "...",
            LWdown = "...", Tair = "..."}`` naming the file's variables).
        start: UTC time of level 0 (ISO text, trailing ``Z`` allowed, or datetime64).
        nt: number of steps.
        dt: time step [s].
    """
    if not isinstance(spec, Mapping):
        raise ForcingError(f"[forcing] must be a table, got {type(spec).__name__}.")
    valid = ", ".join(f'"{k}"' for k in _KINDS)
    kind = spec.get("kind")
    if kind not in _KINDS:
        what = "is missing" if kind is None else f"= {kind!r} is not known"
        raise ForcingError(f"[forcing] kind {what}; valid kinds: {valid}.")
    allowed = ("kind", *_KINDS[kind])
    unknown = [k for k in spec if k not in allowed]
    if unknown:
        raise ForcingError(
            f"[forcing] (kind = \"{kind}\"): unknown key(s) {', '.join(map(str, unknown))}; "
            f"valid keys: {', '.join(allowed)}.")
    if kind == "paper_synthetic":
        opts = {k: spec[k] for k in _KINDS[kind] if k in spec}
        return paper_synthetic(nt, dt, start, **opts)

    path = spec.get("path")
    if not path:
        raise ForcingError('[forcing] kind = "netcdf" needs path = "<file.nc>" (relative paths '
                           "resolve against the config file's folder).")
    variables = spec.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise ForcingError("[forcing] variables must be a table such as "
                           '{SWdown = "SW_IN_F", LWdown = "LW_IN_F", Tair = "TA_F"}.')
    extra = [k for k in variables if k not in _NETCDF_FORCING]
    if extra:
        raise ForcingError(
            f"[forcing.variables]: unknown key(s) {', '.join(map(str, extra))}; the forcing "
            f"reads {', '.join(_NETCDF_FORCING)} (map each to the file's variable name).")
    data = read_alma(path, _NETCDF_FORCING, start, nt, dt,
                     gap_policy=spec.get("gap_policy", "error"),
                     max_gap_hours=spec.get("max_gap_hours", 6.0),
                     resample=spec.get("resample", "sample"),
                     aliases=dict(variables))
    return Forcing(time=data["time"], dt=_check_dt(dt), sw_down=data["SWdown"],
                   lw_down=data["LWdown"], t_air=data["Tair"], source=str(path))
