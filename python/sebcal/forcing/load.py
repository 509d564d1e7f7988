"""Build the forcing a configuration's ``[forcing]`` table describes (docs/forcing.md).

Reads exactly the variables the model options need (vocabulary.forcing_needed), the soil
moisture profile when the options use it, and the prescribed top or bottom series.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ForcingError
from ..vocabulary import CONSTANTS, default_options, forcing_needed, soil_moisture_needed
from .core import Forcing, SoilMoisture
from .series import Table, check_dt, sample, start_seconds, time_axis
from .synthetic import paper_synthetic

SYNTHETIC_KEYS = ("k_peak", "lw_down", "t_air", "sunrise_h", "sunset_h", "wind", "psurf",
                  "qair", "lai", "soil_moisture")
FILE_KINDS = ("netcdf", "csv")
#: forcing variables a file provides (the others come from sub-tables)
FILE_VARIABLES = ("SWdown", "LWdown", "Tair", "Wind", "PSurf", "Qair", "LAI")

_TABLES: dict[tuple[str, str], Table] = {}


def open_table(path: Any, kind: str | None = None, settings: Mapping[str, Any] | None = None
               ) -> Table:
    """A time-stamped table for a NetCDF (.nc) or AmeriFlux/FLUXNET CSV file."""
    p = str(path)
    kind = kind or ("csv" if Path(p).suffix.lower() in (".csv", ".dat", ".txt") else "netcdf")
    if kind == "csv":
        from .csvfiles import CSVTable

        return CSVTable(p, **dict(settings or {}))
    from .alma import NetCDFTable

    return NetCDFTable(p)


def load_forcing(spec: Mapping[str, Any], start: Any, nt: int, dt: float,
                 options: Mapping[str, str] | None = None) -> Forcing:
    """The forcing a ``[forcing]`` table describes, at levels start + n dt, n = 0..nt.

    Args:
        spec: the table (paths absolute): kind = "paper_synthetic" (k_peak, lw_down, t_air,
            sunrise_h, sunset_h and optional constants wind, psurf, qair, lai, soil_moisture),
            or "netcdf"/"csv" (path, gap_policy, max_gap_hours, resample, qc, variables, and
            for CSV utc_offset_hours, units); sub-tables soil_moisture, top, bottom.
        start: UTC time of level 0; nt: steps; dt: step [s].
        options: the model options (default: the published model).

    Raises:
        ForcingError: naming the file, the variable and what to fix.
    """
    options = dict(options or default_options())
    kind = spec.get("kind", "paper_synthetic")
    dt = check_dt(dt)
    if kind == "paper_synthetic":
        forcing = paper_synthetic(nt, dt, start, **{k: spec[k] for k in SYNTHETIC_KEYS
                                                    if spec.get(k) is not None})
    elif kind in FILE_KINDS:
        forcing = _from_file(spec, start, nt, dt, options)
    else:
        raise ForcingError(f"[forcing] kind = {kind!r} is not known; valid kinds: "
                           "\"paper_synthetic\", \"netcdf\", \"csv\".")
    forcing = _boundaries(forcing, spec, start, nt, dt, options)
    forcing.check(options)
    forcing.check_plausible()
    return forcing


def _settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: spec[k] for k in ("gap_policy", "max_gap_hours", "resample", "qc") if k in spec}


def _csv_settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: spec[k] for k in ("utc_offset_hours", "timestamp") if spec.get(k) is not None}


def _from_file(spec, start, nt, dt, options) -> Forcing:
    path = spec.get("path")
    if not path:
        raise ForcingError(f"[forcing] kind = \"{spec.get('kind')}\" needs path = \"<file>\" "
                           "(relative paths resolve against the config file's folder).")
    table = open_table(path, spec.get("kind"), _csv_settings(spec))
    return _from_table(table, spec, start, nt, dt, options, str(path))


def forcing_from_data(data: Any, spec: Mapping[str, Any], start: Any, nt: int, dt: float,
                      options: Mapping[str, str] | None = None, *,
                      units: Mapping[str, str] | None = None) -> Forcing:
    """The forcing of an in-memory ``xarray.Dataset`` or ``pandas.DataFrame`` at levels
    start + n dt, n = 0..nt, read as a file would be (forcing/memory.py): the [forcing]
    table's variables, gap_policy, qc and units settings apply, and its sub-tables (soil
    moisture, top and bottom series) are read from their files.

    Raises:
        ForcingError: naming the variable and what to fix.
    """
    from .memory import MemoryTable

    options = dict(options or default_options())
    dt = check_dt(dt)
    table = MemoryTable(data, units={**dict(spec.get("units") or {}), **dict(units or {})},
                        utc_offset_hours=spec.get("utc_offset_hours"))
    forcing = _from_table(table, spec, start, nt, dt, options, table.path)
    forcing = _boundaries(forcing, {**spec, "path": None}, start, nt, dt, options)
    forcing.check(options)
    forcing.check_plausible()
    return forcing


def _from_table(table, spec, start, nt, dt, options, path: str) -> Forcing:
    needed = [n for n in forcing_needed(options) if n in FILE_VARIABLES]
    constants = {n: spec[k] for n, k in (("LAI", "lai"), ("Wind", "wind"), ("PSurf", "psurf"),
                                         ("Qair", "qair")) if spec.get(k) is not None}
    names = [n for n in needed if n not in constants]
    if names:
        data = sample(table, names, start, nt, dt, aliases=spec.get("variables") or {},
                      units=spec.get("units") or {}, **_settings(spec))
        time = data.pop("time")
    else:                          # a soil-only run: the file gives only the boundary series
        data, time = {}, time_axis(start_seconds(start), nt, dt)
    for n, v in constants.items():
        if n in needed:
            data[n] = np.full(nt + 1, float(v))
    sm = None
    if soil_moisture_needed(options) and spec.get("soil_moisture") is None:
        raise ForcingError("[forcing] the options use soil moisture (soil_thermal = "
                           "\"johansen\" or surface_resistance = \"soil_moisture\"): add "
                           "[forcing.soil_moisture] with names = [...] and depths = [...] "
                           "(docs/forcing.md)")
    return Forcing(time=time, dt=dt, data=data, soil_moisture=sm, source=str(path),
                   time_note=str(getattr(table, "time_note", "") or ""))


def _sub_table(spec: Mapping[str, Any], sub: Mapping[str, Any]) -> tuple[Table, dict]:
    path = sub.get("file") or spec.get("path")
    if not path:
        raise ForcingError("a [forcing.*] series needs file = \"<file>\" (the forcing has no "
                           "file of its own)")
    kind = sub.get("kind") or (spec.get("kind") if path == spec.get("path") else None)
    settings = _csv_settings(sub) or (_csv_settings(spec) if path == spec.get("path") else {})
    table = open_table(path, kind if kind in FILE_KINDS else None, settings)
    opts = {**{k: v for k, v in _settings(spec).items() if k != "resample"}, **_settings(sub)}
    return table, opts


def _boundaries(forcing: Forcing, spec, start, nt, dt, options) -> Forcing:
    changes: dict[str, Any] = {}
    sm = spec.get("soil_moisture")
    if isinstance(sm, Mapping):          # read when given (also for moisture-based priors)
        names = list(sm.get("names") or [])
        depths = list(sm.get("depths") or [])
        if not names or len(names) != len(depths):
            raise ForcingError("[forcing.soil_moisture] needs names = [...] and depths = [...] "
                               "[m] of the same length (one depth per soil-moisture variable)")
        table, opts = _sub_table(spec, sm)
        order = np.argsort(depths)
        cols = []
        for i in order:
            got = sample(table, ["SoilMoist"], start, nt, dt, aliases={"SoilMoist": names[i]},
                         units=sm.get("units") or {}, **opts)
            cols.append(got["SoilMoist"])
        changes["soil_moisture"] = SoilMoisture(np.asarray(depths, float)[order],
                                                np.stack(cols, axis=1))
    elif sm is not None:                 # a constant at every depth and level [m3 m-3]
        changes["soil_moisture"] = SoilMoisture([0.0], np.full((nt + 1, 1), float(sm)))
    for which, option, var in (("top", "top", None), ("bottom", "bottom", "Tbottom")):
        sub = spec.get(which)
        if var is None:
            var = {"temperature": "Ttop", "flux": "Gtop"}.get(options["top"])
        active = (which == "top" and options["top"] != "seb") or \
                 (which == "bottom" and options["bottom"] == "series")
        if not active:
            continue
        if not isinstance(sub, Mapping):
            raise ForcingError(f"[physics] {option} = \"{options[option]}\" needs a "
                               f"[forcing.{which}] table naming the series (file, name; "
                               "docs/forcing.md)")
        changes[var] = _series(spec, sub, var, start, nt, dt)
    if changes:
        forcing = forcing.replace(**changes)
    return forcing


def _series(spec, sub, var, start, nt, dt) -> np.ndarray:
    """A prescribed top or bottom series: a variable of a file, or the radiometric surface
    temperature ((LWup - (1 - eps) LWdown)/(eps sigma))^(1/4)."""
    table, opts = _sub_table(spec, sub)
    if sub.get("source", "variable") == "radiometric":
        if var != "Ttop":
            raise ForcingError("[forcing.top] source = \"radiometric\" gives a temperature; it "
                               "needs [physics] top = \"temperature\"")
        eps = float(sub.get("emissivity", 0.95))
        got = sample(table, ["LWup", "LWdown"], start, nt, dt,
                     aliases={k: v for k, v in (sub.get("variables") or {}).items()}, **opts)
        sigma = CONSTANTS["sigma"][0]
        emitted = got["LWup"] - (1.0 - eps) * got["LWdown"]
        if np.any(emitted <= 0):
            raise ForcingError(f"[forcing.top] {table.where('LWup')}: LWup - (1 - eps) LWdown "
                               "is not positive; check the longwave variables")
        return (emitted / (eps * sigma)) ** 0.25
    name = sub.get("name")
    if not name:
        raise ForcingError(f"[forcing.{'top' if var != 'Tbottom' else 'bottom'}] needs name = "
                           "\"<variable in the file>\"")
    canon = {"Ttop": "SoilTemp", "Tbottom": "SoilTemp", "Gtop": "Qg"}[var]
    got = sample(table, [canon], start, nt, dt, aliases={canon: name},
                 units=sub.get("units") or {}, **opts)
    return got[canon]


__all__ = ["forcing_from_data", "load_forcing", "open_table", "SYNTHETIC_KEYS", "FILE_KINDS",
           "time_axis", "start_seconds"]
