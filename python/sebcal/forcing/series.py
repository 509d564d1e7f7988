"""Time-stamped tables of flux-tower variables, sampled at the model time levels.

A :class:`Table` is any file with a time axis (NetCDF in :mod:`.alma`, AmeriFlux/FLUXNET CSV in
:mod:`.csvfiles`): stamps in seconds since 1970 UTC, each marking the END of its averaging
period, and variables read as float64 with NaN where a value is missing (fill value, NaN,
-9999, or a quality flag outside the QC policy). :func:`sample` turns it into values at the
model levels t_n = start + n dt, n = 0..nt, in SI units, with the gap policy and the
resampling the config asks for, derived variables (wind speed from its components, specific
humidity from relative humidity or VPD) and plausibility checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ForcingError
from ..times import TimeError, iso, seconds
from .units import (
    ALIASES,
    CELSIUS_SUSPECT_K,
    PLAUSIBLE,
    RAD_NEG_LIMIT,
    RADIATION,
    SI_UNIT,
    compatible,
    lookup,
)

GAP_POLICIES = ("error", "interpolate", "missing")
RESAMPLES = ("sample", "mean")
#: quality flags counted as observed: Urban-PLUMBER 0 observed, 1 gap-filled from
#: observations, 2 derived from ERA5 (3 missing); FLUXNET _QC 0 measured, 1-3 gap-filled
QC_POLICIES = {"observed": 0, "gapfilled": 1, "any": 2}
#: sentinels treated as missing even when the file declares no fill value
SENTINELS = (-9999.0, -999.0)
CONFIG_HINT = "relative paths in a config file resolve against the folder of that config file"


class Table:
    """A time-stamped table. Subclasses set ``path``, ``stamps`` and implement the readers."""

    path: str = ""
    stamps: np.ndarray
    kind: str = "file"
    #: how the times were read (time zone, stamp position), stated to the user
    time_note: str = ""

    def where(self, var: str | None = None) -> str:
        return f"{self.kind} '{self.path}'" + (f", variable '{var}'" if var else "")

    def variables(self) -> list[str]:
        raise NotImplementedError

    def has(self, fname: str) -> bool:
        return fname in self.variables()

    def units(self, fname: str) -> str | None:
        raise NotImplementedError

    def read(self, fname: str, lo: int, hi: int, qc_max: int) -> np.ndarray:
        """Values at stamps lo..hi, float64, NaN where missing or flagged above qc_max."""
        raise NotImplementedError

    def resolve(self, name: str, aliases: Mapping[str, Any] | None = None,
                required: bool = True, fix: str | None = None) -> str | None:
        """The file's name for canonical ``name``: the user's alias, else the name, else
        :data:`ALIASES`. ``fix`` is the config setting the error recommends (default
        ``[forcing.variables] NAME = "<name in file>"``)."""
        if aliases and name in aliases and aliases[name] is not None:
            user = aliases[name]
            tried = [user] if isinstance(user, str) else [str(u) for u in user]
            origin = "from the config's variables / name setting"
        else:
            tried = [name, *ALIASES.get(name, ())]
            origin = "the ALMA name and its aliases"
        for cand in tried:
            if self.has(cand):
                return cand
        if not required:
            return None
        present = ", ".join(v for v in self.variables() if not v.lower().endswith("_qc")) \
            or "none"
        default = f'[forcing.variables] {name} = "<name in file>"'
        raise ForcingError(
            f"{self.where(name)}: not found. Names tried ({origin}): {', '.join(tried)}. "
            f"Variables in the file: {present}. Fix: set the file's name for it in the config, "
            f"e.g. {fix or default}.")

    def unit_of(self, fname: str, name: str) -> tuple[str, float, float, str]:
        """(SI unit, scale, offset, units text) of a variable, checked against ``name``."""
        units = self.units(fname)
        expected = SI_UNIT.get(name)
        if units is None:
            raise ForcingError(
                f"{self.where(fname)} (for {name}): no units, so the values cannot be "
                "converted to SI. Add a 'units' attribute (NetCDF: `ncatted -a units,"
                f"{fname},o,c,\"{expected or 'K'}\" file.nc`) or give units in the config.")
        entry = lookup(units)
        if entry is None:
            raise ForcingError(
                f"{self.where(fname)} (for {name}): unit '{units}' is not in sebcal's unit "
                "table (docs/forcing.md lists it). Fix the file's units to one of them (and "
                "convert the values if needed).")
        si, scale, offset = entry
        if expected is not None and not compatible(si, expected):
            raise ForcingError(
                f"{self.where(fname)} (for {name}): unit '{units}' is a {si} unit but {name} "
                f"needs {expected}. Check that the right variable is mapped to {name} "
                "([forcing.variables]) and that its units are correct.")
        return si, scale, offset, str(units)


def file_step(secs: np.ndarray) -> float:
    """Most frequent stamp spacing [s]; nan for a single stamp."""
    if secs.size < 2:
        return float("nan")
    d = np.round(np.diff(secs), 6)
    vals, counts = np.unique(d, return_counts=True)
    return float(vals[np.argmax(counts)])


def check_stamps(secs: np.ndarray, where: str) -> None:
    """Stamps must be finite and strictly increasing."""
    if secs.size == 0:
        raise ForcingError(f"{where}: the time axis is empty.")
    bad = np.flatnonzero(~np.isfinite(secs))
    if bad.size:
        raise ForcingError(f"{where}: {bad.size} time stamps are missing, the first at index "
                           f"{int(bad[0])}. Every record needs a valid time; repair the time "
                           "axis.")
    bad = np.flatnonzero(np.diff(secs) <= 0.0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ForcingError(f"{where}: time is not strictly increasing at index {i} "
                           f"({iso(secs[i], suffix=' UTC')} follows "
                           f"{iso(secs[i - 1], suffix=' UTC')}). Sort the records and remove "
                           "duplicated stamps.")


def check_nt(nt: Any) -> int:
    if isinstance(nt, bool) or not isinstance(nt, (int, np.integer)) or int(nt) < 0:
        raise ForcingError(f"nt = {nt!r}: the number of steps must be an integer >= 0.")
    return int(nt)


def check_dt(dt: Any) -> float:
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ForcingError(f"dt = {dt!r}: the time step must be a number of seconds.") from None
    if not (math.isfinite(value) and value > 0.0):
        raise ForcingError(f"dt = {dt!r}: the time step must be positive [s].")
    if abs(value - round(value)) > 1e-9:
        raise ForcingError(f"dt = {dt!r} s: the time step must be a whole number of seconds.")
    return float(round(value))


def start_seconds(start: Any) -> float:
    try:
        return seconds(start)
    except TimeError as exc:
        raise ForcingError(f"start: {exc}") from None


def time_axis(start_s: float, nt: int, dt: float) -> np.ndarray:
    secs = np.int64(round(start_s)) + np.arange(nt + 1, dtype=np.int64) * np.int64(round(dt))
    return secs.astype("datetime64[s]")


# ----------------------------------------------------------------------------- sampling plan


@dataclass
class Plan:
    """Which stamps (indices lo..hi) give each model level, and how they combine."""

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


def plan(where: str, secs: np.ndarray, step: float, t_model: np.ndarray, dt: float,
         resample: str) -> Plan:
    first, last = secs[0], secs[-1]
    tol = 1e-6
    window = f"{iso(t_model[0], suffix=' UTC')} to {iso(t_model[-1], suffix=' UTC')}"
    file_range = (f"{iso(first, suffix=' UTC')} to {iso(last, suffix=' UTC')} (step "
                  f"{step:g} s)")
    if resample == "sample":
        if t_model[0] < first - tol or t_model[-1] > last + tol:
            raise ForcingError(
                f"{where}: the requested window {window} is not inside the file's time range "
                f"{file_range}. Choose start and nt so the window lies in the file.")
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
        return Plan(lo, hi, needed, i0 - lo, i1 - lo, w, "sample")

    if not math.isfinite(step) or step <= 0.0:
        raise ForcingError(f"{where}: resample = 'mean' needs at least two time stamps.")
    k = dt / step
    if abs(k - round(k)) > 1e-9 or round(k) < 1:
        raise ForcingError(
            f"{where}: resample = 'mean' needs dt ({dt:g} s) to be a whole multiple of the "
            f"file step ({step:g} s). Change dt or use resample = 'sample'.")
    k = int(round(k))
    need_first = t_model[0] - (k - 1) * step
    if need_first < first - tol or t_model[-1] > last + tol:
        raise ForcingError(
            f"{where}: the requested window {window} with resample = 'mean' needs stamps from "
            f"{iso(need_first, suffix=' UTC')}, outside the file's time range {file_range}. "
            "Choose start and nt so the window lies in the file.")
    i_end = np.minimum(np.searchsorted(secs, t_model - tol, side="left"), secs.size - 1)
    off = np.flatnonzero(np.abs(secs[i_end] - t_model) > tol)
    if off.size:
        n = int(off[0])
        raise ForcingError(
            f"{where}: resample = 'mean' needs every model time on a file stamp, but "
            f"{iso(t_model[n], suffix=' UTC')} (level {n}) is not one. Align start with the "
            "file's stamps (they mark the end of each averaging period) or use resample = "
            "'sample'.")
    i_beg = i_end - (k - 1)
    holes = np.flatnonzero((i_beg < 0) | (np.abs(secs[np.maximum(i_beg, 0)]
                                                 - (t_model - (k - 1) * step)) > tol))
    if holes.size:
        n = int(holes[0])
        raise ForcingError(
            f"{where}: the file's time axis is not regular before "
            f"{iso(t_model[n], suffix=' UTC')}: {k} stamps {step:g} s apart are needed for the "
            "mean. Use resample = 'sample' or repair the time axis.")
    lo, hi = int(i_beg.min()), int(i_end.max())
    needed = np.zeros(hi - lo + 1, dtype=bool)
    for b, e in zip(i_beg, i_end):
        needed[b - lo:e - lo + 1] = True
    return Plan(lo, hi, needed, i_beg - lo, i_end - lo, np.zeros(t_model.size), "mean")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) of each run of True in a bool array."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def fill_gaps(vals: np.ndarray, p: Plan, secs: np.ndarray, step: float, where: str,
              gap_policy: str, max_gap_s: float) -> np.ndarray:
    missing = ~np.isfinite(vals)
    bad = missing & p.needed
    if not bad.any() or gap_policy == "missing":
        return vals
    t = secs[p.lo:p.hi + 1]
    idx = np.flatnonzero(bad)
    if gap_policy == "error":
        raise ForcingError(
            f"{where}: {idx.size} missing value(s) (fill value, NaN or a quality flag outside "
            f"the QC policy) in the requested window, first at {iso(t[idx[0]], suffix=' UTC')}"
            f", last at {iso(t[idx[-1]], suffix=' UTC')}. Fix: choose a window without gaps, "
            "fill the file, or opt in to gap filling with gap_policy = \"interpolate\" "
            f"(fills gaps up to max_gap_hours, now {max_gap_s / 3600.0:g} h, linearly in "
            "time).")
    out = vals.copy()
    for a, b in _runs(missing):
        if not bad[a:b + 1].any():
            continue
        span = f"{iso(t[a], suffix=' UTC')} to {iso(t[b], suffix=' UTC')}"
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


def check_values(values: np.ndarray, name: str, si: str, scale: float, offset: float,
                 units: str, where: str, t_model: np.ndarray) -> None:
    """Celsius mistaken for kelvin (and the reverse), negative radiation, values outside the
    plausible range of the quantity."""
    vals = values[np.isfinite(values)]
    if vals.size == 0:
        return
    if si == "K":
        raw = (vals - offset) / scale
        if offset == 0.0 and float(raw.max()) < CELSIUS_SUSPECT_K:
            raise ForcingError(
                f"{where} (for {name}): units say '{units}' (Kelvin) but every value in the "
                f"window is below {CELSIUS_SUSPECT_K:g} K (max {float(raw.max()):.4g}); they "
                "look like degrees Celsius. Fix the units (NetCDF: `ncatted -a units,<var>,o,c,"
                "degC file.nc`).")
        if offset != 0.0 and float(raw.min()) > CELSIUS_SUSPECT_K:
            raise ForcingError(
                f"{where} (for {name}): units say '{units}' (Celsius) but every value in the "
                f"window is above {CELSIUS_SUSPECT_K:g} (min {float(raw.min()):.4g}); they look "
                "like Kelvin. Fix the units.")
    if name in RADIATION and np.any(values < -RAD_NEG_LIMIT):
        i = int(np.flatnonzero(values < -RAD_NEG_LIMIT)[0])
        raise ForcingError(
            f"{where} (for {name}): value {values[i]:.4g} W m-2 at "
            f"{iso(t_model[i], suffix=' UTC')} is below -{RAD_NEG_LIMIT:g} W m-2; radiation "
            "cannot be negative. Check the sign convention and units, or fix the file.")
    if name in PLAUSIBLE:
        lo, hi, why = PLAUSIBLE[name]
        bad = np.flatnonzero(np.isfinite(values) & ((values < lo) | (values > hi)))
        if bad.size:
            i = int(bad[0])
            raise ForcingError(
                f"{where} (for {name}): value {values[i]:.6g} {SI_UNIT.get(name, '')} at "
                f"{iso(t_model[i], suffix=' UTC')} is outside the plausible range [{lo:g}, "
                f"{hi:g}] ({why}); {bad.size} value(s) in the window are. Check the units and "
                "the variable mapped to it, or fix the file.")


def _policy(gap_policy: str, resample: str, max_gap_hours: Any, qc: str, where: str
            ) -> tuple[float, int]:
    if gap_policy not in GAP_POLICIES:
        raise ForcingError(f"{where}: gap_policy = {gap_policy!r}; use one of "
                           f"{', '.join(repr(p) for p in GAP_POLICIES)}.")
    if resample not in RESAMPLES:
        raise ForcingError(f"{where}: resample = {resample!r}; use one of "
                           f"{', '.join(repr(r) for r in RESAMPLES)}.")
    if qc not in QC_POLICIES:
        raise ForcingError(f"{where}: qc = {qc!r}; use one of "
                           f"{', '.join(repr(q) for q in QC_POLICIES)}.")
    try:
        max_gap_s = float(max_gap_hours) * 3600.0
    except (TypeError, ValueError):
        max_gap_s = float("nan")
    if not (math.isfinite(max_gap_s) and max_gap_s >= 0.0):
        raise ForcingError(f"{where}: max_gap_hours = {max_gap_hours!r}; it must be a number of "
                           "hours >= 0.")
    return max_gap_s, QC_POLICIES[qc]


def sample(table: Table, names: Sequence[str], start: Any, nt: int, dt: float, *,
           gap_policy: str = "error", max_gap_hours: float = 6.0, resample: str = "sample",
           aliases: Mapping[str, Any] | None = None, qc: str = "observed",
           units: Mapping[str, str] | None = None, fix: str | None = None
           ) -> dict[str, np.ndarray]:
    """Values of ``names`` at the model levels t_n = start + n dt, in SI units.

    Args:
        table: the file.
        names: canonical names (ALMA), e.g. ["SWdown", "LWdown", "Tair"]. Wind is derived
            from Wind_N/Wind_E and Qair from RH or VPD (with Tair and PSurf) when the file
            lacks them.
        start: UTC time of level 0; nt: steps; dt: model step [s].
        gap_policy: "error" (any missing value used is an error), "interpolate" (gaps up to
            max_gap_hours filled linearly in time) or "missing" (left NaN).
        resample: "sample" (the value at t_n, linear between stamps) or "mean" (mean of the
            periods ending in (t_n - dt, t_n]).
        aliases: canonical name -> the file's name (overrides the alias table).
        qc: which quality flags count as observed: "observed" (0), "gapfilled" (<= 1) or
            "any" (<= 2).
        units: the file's name -> units text, for files without units.
        fix: the config setting a "not found" error recommends (see :meth:`Table.resolve`).

    Returns:
        {"time": datetime64[s] (nt+1,), name: float64 (nt+1,), ...}.

    Raises:
        ForcingError: naming the file, the variable and what to fix.
    """
    nt = check_nt(nt)
    dt = check_dt(dt)
    max_gap_s, qc_max = _policy(gap_policy, resample, max_gap_hours, qc, table.where())
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ForcingError(f"{table.where()}: no variable names were asked for.")
    start_s = start_seconds(start)
    t_model = start_s + np.arange(nt + 1, dtype=np.float64) * dt
    secs = table.stamps
    step = file_step(secs)
    p = plan(table.where(), secs, step, t_model, dt, resample)
    out: dict[str, np.ndarray] = {"time": time_axis(start_s, nt, dt)}
    user_units = dict(units or {})

    def one(name: str, fname: str) -> np.ndarray:
        where = table.where(fname) + (f" (for {name})" if fname != name else "")
        if fname in user_units:
            entry = lookup(user_units[fname])
            if entry is None:
                raise ForcingError(f"{where}: unit '{user_units[fname]}' from the config is not "
                                   "in sebcal's unit table (docs/forcing.md).")
            si, scale, offset = entry
            text = user_units[fname]
        else:
            si, scale, offset, text = table.unit_of(fname, name)
        vals = table.read(fname, p.lo, p.hi, qc_max)
        vals = fill_gaps(vals, p, secs, step, where, gap_policy, max_gap_s)
        values = p.combine(vals) * scale + offset
        check_values(values, name, si, scale, offset, text, table.where(fname), t_model)
        if name in ("SWdown", "SWup"):
            values = np.where(values < 0.0, 0.0, values)     # night-time offset (units.py)
        return np.ascontiguousarray(values, dtype=np.float64)

    for name in names:
        fname = table.resolve(name, aliases, required=False)
        if fname is not None:
            out[name] = one(name, fname)
            continue
        if name == "Wind":
            fn, fe = (table.resolve(c, aliases, required=False) for c in ("Wind_N", "Wind_E"))
            if fn is not None and fe is not None:
                out[name] = np.hypot(one("Wind_N", fn), one("Wind_E", fe))
                check_values(out[name], "Wind", "m s-1", 1.0, 0.0, "m s-1", table.where(),
                             t_model)
                continue
        if name == "Qair":
            fr = table.resolve("RH", aliases, required=False)
            fv = table.resolve("VPD", aliases, required=False) if fr is None else None
            if fr is not None or fv is not None:
                ta = out.get("Tair")
                ta = ta if ta is not None else one("Tair", table.resolve("Tair", aliases))
                ps = out.get("PSurf")
                ps = ps if ps is not None else one("PSurf", table.resolve("PSurf", aliases))
                es = 611.2 * np.exp(17.67 * (ta - 273.15) / (ta - 29.65))
                e = one("RH", fr) * es if fr is not None else np.maximum(es - one("VPD", fv), 0)
                out[name] = 0.622 * e / (ps - 0.378 * e)
                continue
        table.resolve(name, aliases, fix=fix)          # raises with the names tried
    return out


__all__ = ["GAP_POLICIES", "QC_POLICIES", "RESAMPLES", "Table", "sample", "time_axis",
           "check_dt", "check_nt", "file_step", "CONFIG_HINT"]
