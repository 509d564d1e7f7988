"""AmeriFlux and FLUXNET CSV files as time-stamped tables.

Conventions (AmeriFlux BASE/"AmeriFlux format" and FLUXNET2015 data products):

* ``TIMESTAMP_START`` and ``TIMESTAMP_END`` as ``YYYYMMDDhhmm`` in **local standard time**
  (no daylight saving); sebcal stamps each record at its END and converts to UTC with the
  site's ``utc_offset_hours`` (local minus UTC, -7 for Utah). FLUXNET files with a single
  ``TIMESTAMP`` column are read the same way.
* Missing values are ``-9999`` (AmeriFlux, FLUXNET) or ``NAN`` (Campbell loggers that write
  AmeriFlux names); both become NaN.
* No units row: units follow from the variable's name (:data:`~.units.AMERIFLUX_UNITS`,
  the AmeriFlux variable list), or from ``units`` in the config.
* Position qualifiers ``_H_V_R`` (``TS_1_2_1``) are part of the name. A header with doubled
  underscores (``T__1_8_1``, a logger typo) is also reachable by its repaired name.
* Quality flags: ``<VAR>_QC`` (FLUXNET: 0 measured, 1-3 gap-filled) and ``<VAR>_SSITC_TEST``
  (AmeriFlux 0 best, 1 usable, 2 bad; or the 1-9 classes of Foken et al. 2004, where 1-3 are
  high quality, 4-6 usable and 7-9 rejected).

Several files of one logger table (``path`` may be a glob pattern such as
``21031_Statistics_AmeriFlux*.dat``) are joined in time order; a record that repeats a stamp
shared by two files is kept once when the records agree, and refused when they differ; within
one file the stamps must run forward (a repeated or backward stamp is refused).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ForcingError
from ..times import iso
from .series import CONFIG_HINT, SENTINELS, Table, check_stamps
from .units import AMERIFLUX_UNITS

#: strings that mean "no value" in flux-tower CSV files
MISSING = ("NAN", "NaN", "nan", "-9999", "-9999.0", "-9999.00", "-9999.000", "")
_GLOB = re.compile(r"[*?\[]")
_QUALIFIER = re.compile(r"(_\d+)+$")


def _paths(path: Any) -> list[Path]:
    text = os.fspath(path)
    if _GLOB.search(text):
        found = sorted(Path(p) for p in glob.glob(text))
        if not found:
            raise ForcingError(f"no file matches '{text}'. Check the pattern ({CONFIG_HINT}).")
        return found
    p = Path(text)
    if not p.exists():
        raise ForcingError(f"file '{p}' does not exist. Check the path ({CONFIG_HINT}; the "
                           f"absolute path tried was '{p.absolute()}').")
    if not p.is_file():
        raise ForcingError(f"'{p}' is a directory, not a file; give the path of a CSV file.")
    return [p]


def _clean(name: str) -> str:
    return str(name).strip().strip('"').strip()


def _stamp_seconds(values: np.ndarray, where: str, column: str) -> np.ndarray:
    """YYYYMMDDhhmm stamps -> seconds since 1970 (as if UTC)."""
    import pandas as pd

    text = pd.Series(values, dtype=str).str.strip().str.strip('"')
    bad = ~text.str.fullmatch(r"\d{12}")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ForcingError(f"{where}, column '{column}': row {i + 2} holds {text[i]!r}; "
                           "AmeriFlux time stamps are YYYYMMDDhhmm (12 digits).")
    try:
        stamps = pd.to_datetime(text, format="%Y%m%d%H%M")
    except ValueError as exc:
        raise ForcingError(f"{where}, column '{column}': a time stamp is not a valid date "
                           f"({exc}).") from None
    return stamps.to_numpy().astype("datetime64[s]").astype(np.int64).astype(np.float64)


class CSVTable(Table):
    """AmeriFlux/FLUXNET CSV file(s) as a :class:`~sebcal.forcing.series.Table`.

    Args:
        path: a CSV file, or a glob pattern of several files of the same table.
        utc_offset_hours: local standard time of the stamps minus UTC [h] (AmeriFlux and
            FLUXNET stamps are local standard time). Required: the files do not say it.
        timestamp: ``"end"`` (stamp each record at TIMESTAMP_END, as ALMA files do) or
            ``"start"``; only used when the file has both columns.
    """

    kind = "CSV file"

    def __init__(self, path: Any, utc_offset_hours: float | None = None,
                 timestamp: str = "end") -> None:
        import pandas as pd

        files = _paths(path)
        self.path = str(path)
        if utc_offset_hours is None:
            raise ForcingError(
                f"{self.where()}: AmeriFlux/FLUXNET time stamps are local standard time, and "
                "the file does not say which. Give utc_offset_hours (local minus UTC, e.g. "
                "-7 for Utah, Arizona) in the config table that names the file.")
        offset = float(utc_offset_hours)
        frames = []
        for f in files:
            try:
                df = pd.read_csv(f, na_values=list(MISSING), keep_default_na=False,
                                 dtype=str, skipinitialspace=True, quotechar='"')
            except (OSError, ValueError, pd.errors.ParserError) as exc:
                raise ForcingError(f"CSV file '{f}': cannot be read as CSV ({exc}).") from None
            df.columns = [_clean(c) for c in df.columns]
            frames.append((f, df))
        columns: list[str] = []
        for _, df in frames:
            columns += [c for c in df.columns if c not in columns]
        stamp_col = None
        for cand in (("TIMESTAMP_END", "TIMESTAMP_START") if timestamp == "end" else
                     ("TIMESTAMP_START", "TIMESTAMP_END")) + ("TIMESTAMP",):
            if all(cand in df.columns for _, df in frames):
                stamp_col = cand
                break
        if stamp_col is None:
            raise ForcingError(
                f"{self.where()}: no TIMESTAMP_END, TIMESTAMP_START or TIMESTAMP column in "
                f"every file; columns: {', '.join(columns[:12])}... sebcal reads AmeriFlux and "
                "FLUXNET CSV files (docs/forcing.md).")
        secs_parts, data_parts = [], []
        for f, df in frames:
            secs = _stamp_seconds(df[stamp_col].to_numpy(), f"CSV file '{f}'", stamp_col)
            if stamp_col == "TIMESTAMP_START" and "TIMESTAMP_END" not in df.columns and \
                    timestamp == "end" and secs.size > 1:
                secs = secs + np.median(np.diff(secs))
            # within one file, stamps run forward: a repeated or backward stamp is a logger or
            # editing error whose records sebcal could not place (the NetCDF readers agree)
            check_stamps(secs, f"CSV file '{f}', column {stamp_col}")
            secs_parts.append(secs - offset * 3600.0)
            data_parts.append(df)
        secs = np.concatenate(secs_parts)
        order = np.argsort(secs, kind="stable")
        secs = secs[order]
        keep = np.ones(secs.size, dtype=bool)
        keep[:-1] = np.diff(secs) > 0            # a stamp two files share: kept once
        merged = pd.concat([d.reindex(columns=columns) for d in data_parts], ignore_index=True)
        if not keep.all():
            # files of one logger table may overlap, with the same records; a record that
            # differs is a conflict sebcal cannot settle
            text = merged.fillna("").astype(str)
            for i in np.flatnonzero(~keep):
                a, b = text.iloc[order[i]], text.iloc[order[i + 1]]
                if not a.equals(b):
                    col = next(c for c in columns if a[c] != b[c])
                    raise ForcingError(
                        f"{self.where('TIMESTAMP')}: two files give the record stamped "
                        f"{iso(secs[i], suffix=' UTC')} with different values ({col}: "
                        f"{a[col]!r} and {b[col]!r}); remove one of them.")
        merged = merged.iloc[order[keep]].reset_index(drop=True)
        check_stamps(secs[keep], self.where("TIMESTAMP"))
        self.stamps = secs[keep]
        self._frame = merged
        self._names = {c: c for c in columns if not c.startswith("TIMESTAMP")}
        for c in list(self._names):
            fixed = re.sub(r"_{2,}", "_", c)
            if fixed != c and fixed not in self._names:
                self._names[fixed] = c
        self._files = files

    def variables(self) -> list[str]:
        return list(self._names)

    def units(self, fname: str) -> str | None:
        base = _QUALIFIER.sub("", self._names.get(fname, fname).replace("__", "_"))
        for suffix in ("_F_MDS", "_F", "_PI_F", "_PI"):
            if base.endswith(suffix) and base[: -len(suffix)] in AMERIFLUX_UNITS:
                base = base[: -len(suffix)]
                break
        return AMERIFLUX_UNITS.get(base)

    def _column(self, fname: str, lo: int, hi: int) -> np.ndarray:
        col = self._frame[self._names[fname]].iloc[lo:hi + 1]
        out = np.full(hi - lo + 1, np.nan)
        text = col.to_numpy(dtype=object)
        for i, v in enumerate(text):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            try:
                out[i] = float(str(v).strip().strip('"'))
            except ValueError:
                if str(v).strip().strip('"') in MISSING:
                    continue
                raise ForcingError(f"{self.where(fname)}: record {lo + i + 1} holds {v!r}, "
                                   "which is not a number.") from None
        return out

    def read(self, fname: str, lo: int, hi: int, qc_max: int) -> np.ndarray:
        vals = self._column(fname, lo, hi)
        for s in SENTINELS:
            vals[vals == s] = np.nan
        base = self._names[fname]
        for flag in (f"{base}_QC", f"{_QUALIFIER.sub('', base)}_SSITC_TEST"):
            if flag in self._frame.columns:
                q = self._column(flag, lo, hi) if flag in self._names else np.full(vals.size,
                                                                                  np.nan)
                if flag.endswith("_SSITC_TEST"):
                    allq = self._column(flag, 0, len(self._frame) - 1)
                    if np.nanmax(allq, initial=0.0) > 2:       # Foken et al. 2004 classes 1-9
                        q = np.where(q <= 3, 0.0, np.where(q <= 6, 1.0, 3.0))
                    else:                                        # AmeriFlux 0 best, 1, 2 bad
                        q = np.where(q <= 0, 0.0, np.where(q <= 1, 1.0, 3.0))
                vals[~np.isfinite(q) | (q > qc_max)] = np.nan
                break
        return vals


__all__ = ["CSVTable", "MISSING"]
