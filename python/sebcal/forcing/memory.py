"""Forcing held in memory: an ``xarray.Dataset`` or a ``pandas.DataFrame`` as a
:class:`~sebcal.forcing.series.Table`, so that it goes through the same name lookup, unit
conversion, resampling, gap and QC rules and plausibility checks as a file (docs/forcing.md).

* xarray: a ``time`` coordinate (or dimension) of datetimes in UTC; variables with a
  ``units`` attribute (ALMA, PLUMBER2 or FLUXNET names, as in a NetCDF file); a variable
  without one may take its units from ``units={"name": "degC"}``.
* pandas: a DatetimeIndex (time-zone aware is converted to UTC; naive is taken as UTC) or a
  ``TIMESTAMP_END``/``TIMESTAMP_START`` column in AmeriFlux/FLUXNET form (local standard time,
  with ``utc_offset_hours``). Column units: ``df.attrs["units"]`` (name -> units), else the
  AmeriFlux/FLUXNET units of the column's name (TA in degC, PA in kPa, ...), else
  ``units=...``. ``NAME_QC`` columns are quality flags, as in the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ForcingError
from .series import ALIASES, Table, check_stamps
from .units import AMERIFLUX_UNITS, SI_UNIT

#: missing-value sentinels of flux-tower tables
SENTINELS = (-9999.0, -6999.0)


def _utc_seconds(values: Any, where: str) -> np.ndarray:
    import pandas as pd

    idx = pd.DatetimeIndex(values)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    if idx.hasnans:
        raise ForcingError(f"{where}: the time index has missing values")
    return idx.values.astype("datetime64[s]").astype(np.int64).astype(np.float64)


class MemoryTable(Table):
    """An ``xarray.Dataset`` or ``pandas.DataFrame`` read like a forcing file.

    Args:
        data: the Dataset or DataFrame.
        units: variable name -> units, for variables whose units the object does not say.
        utc_offset_hours: for a DataFrame stamped with TIMESTAMP_END/START in local standard
            time: local minus UTC [h].
        name: how messages name the object.
    """

    kind = "in-memory table"

    def __init__(self, data: Any, units: Mapping[str, str] | None = None,
                 utc_offset_hours: float | None = None, name: str = "") -> None:
        self.path = name or type(data).__name__
        self._units = dict(units or {})
        self._skipped: dict[str, dict[str, int]] = {}
        cols: dict[str, np.ndarray] = {}
        if hasattr(data, "data_vars"):                       # xarray.Dataset
            if "time" not in data.coords and "time" not in data.dims:
                raise ForcingError(f"{self.where()}: the Dataset has no 'time' coordinate; "
                                   "give the forcing a time coordinate of UTC datetimes")
            secs = _utc_seconds(data["time"].values, self.where("time"))
            for v in data.data_vars:
                arr = data[v]
                if arr.dims != ("time",):
                    extra = [d for d in arr.dims if d != "time"]
                    if "time" not in arr.dims or any(data.sizes[d] != 1 for d in extra):
                        # not a time series of one point: kept aside, so that asking for it
                        # says why it cannot be read (not "not found")
                        self._skipped[str(v)] = {d: int(data.sizes[d]) for d in arr.dims}
                        continue
                    arr = arr.squeeze(drop=True)
                cols[str(v)] = np.asarray(arr.values, dtype=np.float64)
                if "units" in arr.attrs and str(v) not in self._units:
                    self._units[str(v)] = str(arr.attrs["units"])
        elif hasattr(data, "columns"):                       # pandas.DataFrame
            import pandas as pd

            df = data
            stamp = next((c for c in ("TIMESTAMP_END", "TIMESTAMP_START") if c in df.columns),
                         None)
            if isinstance(df.index, pd.DatetimeIndex):
                secs = _utc_seconds(df.index, self.where("index"))
            elif stamp is not None:
                if utc_offset_hours is None:
                    raise ForcingError(f"{self.where()}: {stamp} is local standard time; give "
                                       "utc_offset_hours (local minus UTC, e.g. -7)")
                text = df[stamp].astype(str).str.strip().str.replace(".0", "", regex=False)
                secs = _utc_seconds(pd.to_datetime(text, format="%Y%m%d%H%M"),
                                    self.where(stamp)) - float(utc_offset_hours) * 3600.0
                if stamp == "TIMESTAMP_START" and secs.size > 1:
                    secs = secs + float(np.median(np.diff(secs)))
            else:
                raise ForcingError(f"{self.where()}: the DataFrame needs a DatetimeIndex (UTC, "
                                   "or time-zone aware) or a TIMESTAMP_END column")
            for c in df.columns:
                if str(c).startswith("TIMESTAMP"):
                    continue
                cols[str(c)] = pd.to_numeric(df[c], errors="coerce").to_numpy(np.float64)
            for k, u in dict(df.attrs.get("units") or {}).items():
                self._units.setdefault(str(k), str(u))
        else:
            raise ForcingError(f"forcing of type {type(data).__name__}: give an xarray.Dataset, "
                               "a pandas.DataFrame, a sebcal Forcing, or a file in the config")
        # the same rule as the files: stamps run forward (a repeated or backward stamp is
        # refused, not sorted away; sort_index() first when the order is only shuffled)
        check_stamps(secs, self.where("time"))
        self.stamps = secs
        self._cols = cols

    def variables(self) -> list[str]:
        return list(self._cols)

    def resolve(self, name: str, aliases: Mapping[str, Any] | None = None,
                required: bool = True, fix: str | None = None) -> str | None:
        try:
            return super().resolve(name, aliases, required, fix)
        except ForcingError:
            user = (aliases or {}).get(name)
            tried = [user] if isinstance(user, str) else list(user or []) or \
                [name, *ALIASES.get(name, ())]
            for cand in tried:
                if cand in self._skipped:
                    dims = ", ".join(f"{d} = {n}" for d, n in self._skipped[cand].items())
                    raise ForcingError(
                        f"{self.where(cand)}: has dimensions ({dims}); sebcal reads the time "
                        "series of one point. Select one first, e.g. ds.isel(<dim>=0).") \
                        from None
            raise

    def units(self, fname: str) -> str | None:
        if fname in self._units:
            return self._units[fname]
        if fname in SI_UNIT:
            # an ALMA name (SWdown, Tair, ...) means its SI unit; degrees Celsius under an
            # ALMA name are caught by the reader's Celsius check
            return SI_UNIT[fname]
        base = fname
        for suffix in ("_F_MDS", "_F", "_PI_F", "_PI"):
            if base.endswith(suffix) and base[: -len(suffix)] in AMERIFLUX_UNITS:
                base = base[: -len(suffix)]
                break
        return AMERIFLUX_UNITS.get(base)

    def unit_of(self, fname: str, name: str) -> tuple[str, float, float, str]:
        if self.units(fname) is None:
            raise ForcingError(
                f"{self.where(fname)} (for {name}): no units. Name the column by its ALMA name "
                f"({name}, SI units), set df.attrs['units'] = {{'{fname}': '...'}} (xarray: a "
                f"'units' attribute), or pass units={{'{fname}': '...'}}.")
        return super().unit_of(fname, name)

    def read(self, fname: str, lo: int, hi: int, qc_max: int) -> np.ndarray:
        vals = np.array(self._cols[fname][lo:hi + 1], dtype=np.float64)
        for s in SENTINELS:
            vals[vals == s] = np.nan
        for flag in (f"{fname}_QC", f"{fname}_qc"):
            if flag in self._cols:
                q = self._cols[flag][lo:hi + 1]
                vals[~np.isfinite(q) | (q > qc_max)] = np.nan
                break
        return vals


__all__ = ["MemoryTable"]
