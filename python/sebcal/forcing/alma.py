"""ALMA/CF NetCDF flux-tower files (Urban-PLUMBER, PLUMBER2, FLUXNET-style names).

Conventions (Lipson et al. 2022, ESSD 14, 5157): a ``time`` coordinate in UTC, each stamp
marking the END of its averaging period, decoded with cftime; float variables with
``_FillValue``; optional int8 ``<var>_qc`` flags (0 observed, 1 gap-filled from observations,
2 derived from ERA5, 3 missing).

Time zone, from the file's own attributes (:func:`time_convention`), first match wins:

1. a time ``units`` reference with an offset (``... since 2002-01-01 00:00:00 +10:00``) or
   ``Z``: applied by the CF decoding;
2. a ``time_zone`` attribute of the time variable (PLUMBER2 files written by FluxnetLSM:
   an IANA zone such as ``"America/Denver"``, or ``"UTC+10"``): the values are the zone's
   **local standard time** (FLUXNET stamps never follow daylight saving), so the zone's
   standard offset (its offset minus any daylight saving, at the first stamp) is subtracted;
3. a global ``time_shown_in`` of ``"local"`` with ``local_utc_offset_hours``: that offset is
   subtracted (``time_shown_in = "UTC"``, Urban-PLUMBER, means UTC);
4. otherwise UTC, the CF default for a reference time without an offset.

Stamp position: a time ``info`` attribute that says the stamp "indicates start time"
(FluxnetLSM) moves every stamp to the END of its period (plus the file's step), the position
sebcal uses everywhere. :attr:`NetCDFTable.time_note` states what was applied; ``sebcal
validate`` prints it. netCDF/HDF5 reads are not thread-safe: every access here
holds :data:`NETCDF_LOCK`, so runs in several threads may read files at once.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ForcingError, SebcalError
from ..times import TimeError, decode_cf
from .series import CONFIG_HINT, SENTINELS, Table, check_stamps, file_step, sample

#: what netCDF4/HDF5 raise on a damaged file (an error code becomes one of these)
_LOW_LEVEL = (OSError, RuntimeError, IndexError, AttributeError, KeyError, ValueError,
              TypeError, UnicodeDecodeError, OverflowError, MemoryError)

#: serialises every netCDF4/HDF5 call of the process (the C libraries are not thread-safe)
NETCDF_LOCK = threading.RLock()


def _open(path: Any):
    """Open a NetCDF file read-only (call with NETCDF_LOCK held)."""
    import netCDF4

    p = Path(os.fspath(path))
    if not p.exists():
        raise ForcingError(
            f"file '{p}' does not exist. Check the path ({CONFIG_HINT}; the absolute path "
            f"tried was '{p.absolute()}').")
    if not p.is_file():
        raise ForcingError(f"'{p}' is a directory, not a file; give the path of a NetCDF file.")
    from .netcdf3 import truncated

    why = truncated(p)              # the C library would read the missing part as fill values
    if why:
        raise ForcingError(f"file '{p}': {why}. Download or copy it again.")
    try:
        ds = netCDF4.Dataset(str(p), "r")
    except OSError as exc:
        raise ForcingError(
            f"file '{p}' could not be opened as NetCDF ({exc}). Give an ALMA/CF NetCDF file "
            "(NetCDF3 or NetCDF4), or an AmeriFlux/FLUXNET CSV file (kind = \"csv\").") \
            from None
    ds.set_auto_maskandscale(True)
    return ds


class NetCDFTable(Table):
    """A NetCDF file as a time-stamped :class:`~sebcal.forcing.series.Table`.

    The file is opened for each read (under the lock) and closed again, so the table holds no
    file handle and may be shared between threads.
    """

    kind = "file"

    def __init__(self, path: Any) -> None:
        self.path = str(path)
        try:
            secs, tname = self._read_header(path)
        except SebcalError:
            raise
        except _LOW_LEVEL as exc:
            # a damaged header: the C library reports it as whatever Python error it maps to
            raise ForcingError(
                f"file '{self.path}': its header cannot be read ({type(exc).__name__}: {exc}); "
                "the file is truncated or corrupt. Check it with `ncdump -h` or download it "
                "again.") from None
        check_stamps(secs, self.where(tname))
        self.stamps = secs

    def _read_header(self, path: Any) -> tuple[np.ndarray, str]:
        with NETCDF_LOCK, _open(path) as ds:
            var = _time_variable(ds, self.path)
            self._tdim = var.dimensions[0]
            units = getattr(var, "units", None)
            if units is None:
                raise ForcingError(f"{self.where(var.name)}: the time variable has no 'units' "
                                   "attribute; add one such as 'seconds since "
                                   "2011-12-16T18:30:00'.")
            raw = var[:]
            mask = np.ma.getmaskarray(raw)
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                raise ForcingError(f"{self.where(var.name)}: {int(mask.sum())} time stamps are "
                                   f"missing (fill value), the first at index {i}. Every record "
                                   "needs a valid time; repair the time axis.")
            try:
                secs = decode_cf(np.ma.getdata(raw), units,
                                 str(getattr(var, "calendar", "standard") or "standard"))
            except TimeError as exc:
                raise ForcingError(f"{self.where(var.name)}: {exc}") from None
            attrs = {a: var.getncattr(a) for a in var.ncattrs()}
            glob = {a: ds.getncattr(a) for a in ds.ncattrs()}
            secs, self.time_note, self.utc_offset_hours = time_convention(
                secs, str(units), attrs, glob, self.where(var.name))
            self._vars = {name: (v.dimensions, v.dtype, dict((a, v.getncattr(a))
                                                            for a in v.ncattrs()))
                          for name, v in ds.variables.items()}
            self._global = {a: ds.getncattr(a) for a in ds.ncattrs()}
            self._size = {d: len(dim) for d, dim in ds.dimensions.items()}
            return secs, var.name

    def variables(self) -> list[str]:
        return list(self._vars)

    def units(self, fname: str) -> str | None:
        u = self._vars[fname][2].get("units")
        return None if u is None else str(u)

    def attribute(self, fname: str | None, name: str) -> Any:
        """A variable's attribute (fname None: a global attribute), or None."""
        attrs = self._global if fname is None else self._vars[fname][2]
        return attrs.get(name)

    def read(self, fname: str, lo: int, hi: int, qc_max: int) -> np.ndarray:
        dims, dtype, _ = self._vars[fname]
        where = self.where(fname)
        if self._tdim not in dims:
            raise ForcingError(f"{where}: dimensions {dims} do not include the time dimension "
                               f"'{self._tdim}'.")
        axis = dims.index(self._tdim)
        extra = [d for i, d in enumerate(dims) if i != axis and self._size[d] != 1]
        if extra:
            raise ForcingError(f"{where}: has non-singleton dimensions {extra} besides time; "
                               "sebcal reads single-point time series. Extract one point or "
                               "layer first (e.g. `ncks -d <dim>,0`).")
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise ForcingError(f"{where}: is not numeric (dtype {dtype}).")
        index = tuple(slice(lo, hi + 1) if i == axis else 0 for i in range(len(dims)))
        with NETCDF_LOCK, _open(self.path) as ds:
            qc_name = f"{fname}_qc"
            q = None
            try:
                raw = ds.variables[fname][index]
                if qc_name in ds.variables and ds.variables[qc_name].dimensions == dims:
                    q = np.ma.filled(np.ma.asarray(ds.variables[qc_name][index])
                                     .astype(np.float64), -1.0).reshape(-1)
            except _LOW_LEVEL as exc:
                raise ForcingError(f"{where}: the values cannot be read ({exc}); the file may "
                                   "be truncated or corrupt. Check it with `ncdump -h` or "
                                   "download it again.") from None
        vals = np.ma.filled(np.ma.asarray(raw).astype(np.float64), np.nan).reshape(-1)
        if vals.size != hi - lo + 1:
            raise ForcingError(f"{where}: expected {hi - lo + 1} values, read {vals.size}; the "
                               "file is truncated or corrupt.")
        for s in SENTINELS:
            vals[vals == s] = np.nan
        if q is not None:
            vals[(q > qc_max) | (q < 0)] = np.nan
        return vals


_UNITS_OFFSET = re.compile(r"since\s+\d{1,4}-\d{1,2}-\d{1,2}(?:[ T]\s*\d{1,2}:\d{2}"
                           r"(?::\d{2}(?:\.\d*)?)?)?\s*(?:Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)\s*$",
                           re.IGNORECASE)


def _standard_offset_hours(zone: str, when: float, where: str) -> float:
    """Standard (no daylight saving) offset from UTC [h] of an IANA zone or "UTC+h" text."""
    m = re.fullmatch(r"\s*(?:UTC|GMT)\s*(?:([+-])\s*(\d{1,2})(?::?(\d{2}))?)?\s*", zone,
                     re.IGNORECASE)
    if m:
        if not m.group(1):
            return 0.0
        hours = int(m.group(2)) + int(m.group(3) or 0) / 60.0
        return -hours if m.group(1) == "-" else hours
    import datetime as dt
    import zoneinfo

    try:
        tz = zoneinfo.ZoneInfo(zone.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ForcingError(f"{where}: time_zone = {zone!r} is not a time zone this system "
                           f"knows ({type(exc).__name__}); write an IANA name such as "
                           "'America/Denver' or 'UTC-7' (pip install tzdata where the "
                           "system has no zone database).") from None
    local = dt.datetime.fromtimestamp(when, dt.UTC).astimezone(tz)
    std = local.utcoffset() - (local.dst() or dt.timedelta(0))
    return std.total_seconds() / 3600.0


def time_convention(secs: np.ndarray, units: str, attrs: Mapping[str, Any],
                    glob: Mapping[str, Any], where: str) -> tuple[np.ndarray, str, float | None]:
    """Apply the file's own time zone and stamp position (module docstring, "Time zone").

    Args:
        secs: the time values decoded by CF rules [s since 1970, as written].
        units: the time variable's units; attrs, glob: its attributes and the global ones.

    Returns:
        UTC seconds stamping the end of each period, the sentence stating what was applied,
        and the offset subtracted [h] (None where the file gave no zone).
    """
    secs = np.asarray(secs, dtype=np.float64)
    offset: float | None = None
    if _UNITS_OFFSET.search(units):
        note = f"UTC (the offset in the units '{units}')"
    elif attrs.get("time_zone") is not None:
        zone = str(attrs["time_zone"])
        offset = _standard_offset_hours(zone, float(secs[0]) if secs.size else 0.0, where)
        secs = secs - offset * 3600.0
        note = (f"local standard time of {zone} (time_zone attribute), UTC{offset:+g} h, "
                "converted to UTC")
    elif str(glob.get("time_shown_in", "")).strip().lower().startswith("local"):
        raw = glob.get("local_utc_offset_hours")
        try:
            offset = float(raw)
        except (TypeError, ValueError):
            raise ForcingError(f"{where}: time_shown_in = 'local' but local_utc_offset_hours "
                               f"= {raw!r} is not a number of hours; add it (local minus "
                               "UTC, e.g. -7).") from None
        secs = secs - offset * 3600.0
        note = (f"local time (time_shown_in), UTC{offset:+g} h (local_utc_offset_hours), "
                "converted to UTC")
    elif str(glob.get("time_shown_in", "")).strip().upper() in ("UTC", "GMT"):
        note = "UTC (time_shown_in)"
    else:
        note = "UTC (no time zone attribute; the CF default)"
    info = str(attrs.get("info", "")).lower()
    if "start" in info and "indicates" in info and secs.size > 1:
        secs = secs + file_step(secs)
        note += "; stamps marked the start of each period (info attribute), moved to its end"
    else:
        note += "; each stamp marks the end of its period"
    return secs, note, offset


def _time_variable(ds, path) -> Any:
    if "time" in ds.variables:
        var = ds.variables["time"]
    else:
        cands = [v for v in ds.variables.values()
                 if getattr(v, "standard_name", None) == "time" or getattr(v, "axis", None) == "T"]
        if not cands:
            raise ForcingError(
                f"file '{path}', variable 'time': the file has no time variable (looked for "
                "'time', or a variable with standard_name = 'time' or axis = 'T'); variables "
                f"present: {', '.join(ds.variables) or 'none'}. Add a 'time' coordinate with "
                "units like 'seconds since 2011-12-16T18:30:00'.")
        var = cands[0]
    if var.ndim != 1:
        raise ForcingError(f"file '{path}', variable '{var.name}': the time variable has "
                           f"dimensions {var.dimensions}; it must be one-dimensional.")
    return var


def file_time_range(path) -> tuple[np.datetime64, np.datetime64, float]:
    """First and last stamp (datetime64[s], UTC) of a NetCDF file and its usual spacing [s]."""
    t = NetCDFTable(path)
    secs = t.stamps
    return (np.datetime64(int(round(secs[0])), "s"), np.datetime64(int(round(secs[-1])), "s"),
            file_step(secs))


def parse_length(value: Any) -> float | None:
    """A depth [m] from a number (metres) or text such as '0.02 m', '2 cm'; None if not one."""
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
    return number / {"cm": 100.0, "mm": 1000.0}.get(unit, 1.0)


def variable_depth(path, name, aliases=None) -> float | None:
    """Depth [m] of a (soil) variable as the file states it, or None if it does not.

    Looks at the variable's ``depth`` attribute (``"0.02 m"``, ``"2 cm"`` or a number in m),
    then at the global and variable ``comment`` for a sentence naming the variable and a depth
    (Urban-PLUMBER: ``"SoilTemp at 2cm depth."``).
    """
    t = NetCDFTable(path)
    fname = t.resolve(name, aliases)
    attr = t.attribute(fname, "depth")
    if attr is not None:
        depth = parse_length(attr)
        if depth is None:
            raise ForcingError(f"file '{path}', variable '{fname}': depth attribute {attr!r} is "
                               "not a length; write it as e.g. '0.02 m' or '2 cm'.")
        return depth
    comments = [str(v) for k, v in t._global.items() if k.lower() == "comment"]
    comments += [str(v) for k, v in t._vars[fname][2].items() if k.lower() == "comment"]
    for text in comments:
        for sentence in re.split(r"(?<!\d)\.(?!\d)|;|\n", text):
            if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(fname)}(?![A-Za-z0-9_])", sentence):
                continue
            if not re.search(r"depth|deep|below", sentence, re.IGNORECASE):
                continue
            m = re.search(r"(\d+(?:\.\d+)?)\s*(mm|cm|m)(?![A-Za-z])", sentence)
            if m:
                return parse_length(f"{m.group(1)} {m.group(2)}")
    return None


def read_alma(path, names: Sequence[str], start, nt: int, dt: float, *, gap_policy="error",
              max_gap_hours: float = 6.0, resample="sample",
              aliases: Mapping[str, Any] | None = None, qc: str = "observed"
              ) -> dict[str, np.ndarray]:
    """Read ALMA variables of a NetCDF file at the model levels (see
    :func:`sebcal.forcing.series.sample` for the arguments)."""
    return sample(NetCDFTable(path), names, start, nt, dt, gap_policy=gap_policy,
                  max_gap_hours=max_gap_hours, resample=resample, aliases=aliases, qc=qc)


__all__ = ["NETCDF_LOCK", "NetCDFTable", "file_time_range", "parse_length", "read_alma",
           "time_convention", "variable_depth"]
