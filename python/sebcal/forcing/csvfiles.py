"""AmeriFlux and FLUXNET CSV files as time-stamped tables.

Conventions (AmeriFlux BASE/"AmeriFlux format" and FLUXNET2015 data products):

* ``TIMESTAMP_START`` and ``TIMESTAMP_END`` as ``YYYYMMDDhhmm`` in **local standard time**
  (no daylight saving); sebcal stamps each record at its END and converts to UTC with the
  site's ``utc_offset_hours`` (local minus UTC, -7 for Utah). FLUXNET files with a single
  ``TIMESTAMP`` column are read the same way. Station files that name the columns
  ``DATETIME_END`` / ``DATETIME_START`` / ``DATETIME`` are read the same way; every time
  column may hold ``YYYYMMDDhhmm[ss]`` or ISO text ``YYYY-MM-DD hh:mm[:ss]`` (Campbell
  loggers' ``TIMESTAMP``).
* AmeriFlux BASE files as downloaded open with preamble lines ``# Site: US-CRT`` and
  ``# Version: 2-5`` (padded with commas to the width of the table) before the header; every
  leading line that starts with ``#`` is such a line: its ``Key: value`` pairs are kept
  (:attr:`CSVTable.metadata`) and the header is the first line after them. Campbell TOA5
  files (a ``"TOA5"`` first line, then the header, a units line and a processing line) are
  read from their header row.
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


#: time columns tried, in order of preference for each ``timestamp`` setting
TIME_COLUMNS = {"end": ("TIMESTAMP_END", "DATETIME_END", "TIMESTAMP_START", "DATETIME_START"),
                "start": ("TIMESTAMP_START", "DATETIME_START", "TIMESTAMP_END", "DATETIME_END")}
SINGLE_TIME_COLUMNS = ("TIMESTAMP", "DATETIME")
#: the formats a time column may hold: (pattern of the whole value, strptime format)
_STAMP_FORMATS = ((r"\d{12}", "%Y%m%d%H%M"), (r"\d{14}", "%Y%m%d%H%M%S"),
                  (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", "ISO8601"),
                  (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?", "ISO8601"))


def _stamp_seconds(values: np.ndarray, where: str, column: str) -> np.ndarray:
    """Stamps (YYYYMMDDhhmm[ss] or ISO "YYYY-MM-DD hh:mm[:ss]") -> seconds since 1970, read
    as written (the caller applies the UTC offset)."""
    import pandas as pd

    text = pd.Series(values, dtype=str).str.strip().str.strip('"')
    fmt = None
    for pattern, f in _STAMP_FORMATS:
        if text.str.fullmatch(pattern).all():
            fmt = f
            break
    if fmt is None:
        first = text.iloc[0] if len(text) else ""
        pattern = next((p for p, _ in _STAMP_FORMATS if re.fullmatch(p, first)),
                       _STAMP_FORMATS[0][0])
        i = int(np.flatnonzero(~text.str.fullmatch(pattern).to_numpy())[0])
        raise ForcingError(f"{where}, column '{column}': row {i + 1} of the data holds "
                           f"{text[i]!r}; time stamps are YYYYMMDDhhmm (AmeriFlux, FLUXNET) or "
                           "'YYYY-MM-DD hh:mm[:ss]', the same form in every row.")
    try:
        stamps = pd.to_datetime(text, format=fmt)
    except ValueError as exc:
        raise ForcingError(f"{where}, column '{column}': a time stamp is not a valid date "
                           f"({exc}).") from None
    return stamps.to_numpy().astype("datetime64[s]").astype(np.int64).astype(np.float64)


def _preamble(path: Path) -> tuple[int, list[int], dict[str, str]]:
    """Lines to skip before the header, data lines to skip after it, and the ``Key: value``
    pairs of the preamble (AmeriFlux BASE ``# Site:`` / ``# Version:``)."""
    meta: dict[str, str] = {}
    skip = 0
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
            if first.strip().strip('"').startswith("TOA5"):
                # Campbell TOA5: environment line, header, units line, processing line
                return 0, [0, 2, 3], {"format": "TOA5"}
            line = first
            while line and line.lstrip().lstrip('"').startswith("#"):
                body = line.lstrip().lstrip('"')[1:].rstrip("\r\n").rstrip(",").strip()
                key, sep, value = body.partition(":")
                if sep and key.strip():
                    meta[key.strip()] = value.strip().strip('"').strip()
                skip += 1
                line = fh.readline()
    except OSError as exc:
        raise ForcingError(f"CSV file '{path}': cannot be read ({exc}).") from None
    return skip, [], meta


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
        self.metadata: dict[str, str] = {}
        for f in files:
            skip, skip_after, meta = _preamble(f)
            self.metadata.update(meta)
            try:
                df = pd.read_csv(f, na_values=list(MISSING), keep_default_na=False,
                                 dtype=str, skipinitialspace=True, quotechar='"',
                                 skiprows=skip_after or skip)
            except (OSError, ValueError, pd.errors.ParserError) as exc:
                raise ForcingError(f"CSV file '{f}': cannot be read as CSV ({exc}).") from None
            df.columns = [_clean(c) for c in df.columns]
            frames.append((f, df))
        columns: list[str] = []
        for _, df in frames:
            columns += [c for c in df.columns if c not in columns]
        stamp_col = None
        if timestamp not in TIME_COLUMNS:
            raise ForcingError(f"{self.where()}: timestamp = {timestamp!r}; give \"end\" or "
                               "\"start\" (which stamp of a record marks it).")
        for cand in TIME_COLUMNS[timestamp] + SINGLE_TIME_COLUMNS:
            if all(cand in df.columns for _, df in frames):
                stamp_col = cand
                break
        if stamp_col is None:
            tried = ", ".join(TIME_COLUMNS["end"] + SINGLE_TIME_COLUMNS)
            raise ForcingError(
                f"{self.where()}: no time column in every file (looked for {tried}); "
                f"columns: {', '.join(columns[:12])}{'...' if len(columns) > 12 else ''}. "
                "sebcal reads AmeriFlux/FLUXNET CSV files and station files with one of these "
                "time columns (docs/forcing.md).")
        self.time_column = stamp_col
        secs_parts, data_parts = [], []
        for f, df in frames:
            secs = _stamp_seconds(df[stamp_col].to_numpy(), f"CSV file '{f}'", stamp_col)
            end_col = stamp_col.replace("_START", "_END")
            if stamp_col.endswith("_START") and end_col not in df.columns and \
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
        check_stamps(secs[keep], self.where(stamp_col))
        self.stamps = secs[keep]
        self._frame = merged
        time_names = set(TIME_COLUMNS["end"] + SINGLE_TIME_COLUMNS)
        self._names = {c: c for c in columns if c not in time_names and
                       not c.startswith("TIMESTAMP")}
        self.site = self.metadata.get("Site")
        self.time_note = (f"{stamp_col} in local standard time, UTC{offset:+g} h "
                          f"(utc_offset_hours); records stamped at their {timestamp}")
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


__all__ = ["CSVTable", "MISSING", "TIME_COLUMNS"]
