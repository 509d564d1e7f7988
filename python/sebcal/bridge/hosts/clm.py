"""CLM/CTSM 5.x surface dataset (fsurdat): the urban impervious-road variables that
src/biogeophys/UrbanParamsType.F90 reads (github ESCOMP/CTSM).

CTSM reads TK_IMPROAD(nlevurb, numurbl, lat, lon), CV_IMPROAD (same), ALB_IMPROAD_DIR/DIF
(numrad, numurbl, lat, lon), EM_IMPROAD (numurbl, lat, lon) and NLEV_IMPROAD (numurbl, lat, lon)
for each urban density class (TBD, HD, MD); the road's first NLEV_IMPROAD levels take
TK/CV_IMPROAD, the levels below are soil. A surface dataset holds far more than sebcal knows,
so the export edits the user's fsurdat (--template) and refuses without one. Only the chosen
class and grid cell change.

The host-equivalence check reads the new file as CTSM does (SoilTemperatureMod, SoilThermProp:
thk = TK_IMPROAD(l, j) and cv = CV_IMPROAD(l, j) dz for the impervious road's levels j <=
NLEV_IMPROAD; UrbanAlbedoMod: the road's snow-free albedo is ALB_IMPROAD_DIR/DIF per band):
its first road level's conductivity and heat capacity and the albedo averaged over the two
bands against the calibrated ones.
"""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...output import atomic_path
from ..common import (
    Context,
    Equivalent,
    Item,
    NetCDFAddress,
    Option,
    Row,
    calibrated_properties,
    check_equivalence,
    plan,
)

NAME = "clm"
VERSION = "CTSM 5.x surface dataset (UrbanParamsType.F90)"
FILES = ("fsurdat.nc",)
NEEDS_TEMPLATE = True
CLASSES = {"TBD": 1, "HD": 2, "MD": 3}
OPTIONS = {
    "urban_class": Option("urban density class whose road sebcal's soil represents: TBD, HD or "
                          "MD", str, tuple(CLASSES)),
    "gridcell": Option("0-based lsmlat,lsmlon of the grid cell when the file has more than "
                       "one", str),
}


def _cls(ctx: Context) -> int:
    return ctx.cache["class"] - 1


def _first(v: Any) -> float:
    return float(v[0] if isinstance(v, (tuple, list)) else v)


ROWS = (
    Row("lambda", NetCDFAddress("TK_IMPROAD", None, "levels 1..NLEV_IMPROAD"),
        "W m-1 K-1", "direct", "TK_IMPROAD = lambda on every impervious road level",
        "the road's levels below NLEV_IMPROAD are soil with CTSM's own properties",
        ("CTSM-urban", "CTSM-soiltemp"), convert=lambda v, ctx: _first(v), limits=(0.01, 20.0)),
    Row("C", NetCDFAddress("CV_IMPROAD", None, "levels 1..NLEV_IMPROAD"), "J m-3 K-1", "direct",
        "CV_IMPROAD = C on every impervious road level", "", ("CTSM-urban",),
        convert=lambda v, ctx: _first(v), limits=(1e5, 1e8)),
    Row("alpha", NetCDFAddress("ALB_IMPROAD_DIR", None, "both bands"), "1", "approximate",
        "ALB_IMPROAD_DIR = alpha (visible and near-infrared)",
        "sebcal's albedo is broadband", ("CTSM-urban",), limits=(0.0, 1.0)),
    Row("alpha", NetCDFAddress("ALB_IMPROAD_DIF", None, "both bands"), "1", "approximate",
        "ALB_IMPROAD_DIF = alpha (visible and near-infrared)", "sebcal's albedo is broadband",
        ("CTSM-urban",), limits=(0.0, 1.0)),
    Row("eps", NetCDFAddress("EM_IMPROAD"), "1", "direct", "EM_IMPROAD = eps", "",
        ("CTSM-urban",), limits=(0.0, 1.0)),
)


def _equivalence(ctx: Context, ds: Any, c: int, cell: tuple, cls: str, wrote: set[str]
                 ) -> list[str]:
    """CTSM's road conductivity, heat capacity and albedo from the new file."""
    ref = calibrated_properties(ctx, None)
    eqs = []
    where = f"class {cls}, grid cell {cell[0]},{cell[1]}"
    if "lambda" in wrote and "lambda" in ref:
        tk = float(np.asarray(ds["TK_IMPROAD"][0, c, cell[0], cell[1]]))
        eqs.append(Equivalent("lambda", ref["lambda"], tk, "W m-1 K-1", "CTSM SoilThermProp "
                              f"thk = TK_IMPROAD(level 1, {where})"))
    if "C" in wrote and "C" in ref:
        cv = float(np.asarray(ds["CV_IMPROAD"][0, c, cell[0], cell[1]]))
        eqs.append(Equivalent("C", ref["C"], cv, "J m-3 K-1", "CTSM SoilThermProp cv = "
                              f"CV_IMPROAD(level 1, {where}) dz"))
    if "alpha" in wrote and "alpha" in ref:
        for name in ("ALB_IMPROAD_DIR", "ALB_IMPROAD_DIF"):
            a = float(np.mean(np.asarray(ds[name][:, c, cell[0], cell[1]])))
            eqs.append(Equivalent("alpha", ref["alpha"], a, "1", f"CTSM road albedo, mean of "
                                  f"the two bands of {name} ({where})"))
    return check_equivalence(ctx, eqs)


def write(ctx: Context) -> tuple[list[Item], list[str]]:
    import netCDF4

    from ...forcing.alma import NETCDF_LOCK

    tpl = ctx.templates.get("fsurdat.nc")
    if tpl is None:
        raise ConfigError("export to clm needs your surface dataset (fsurdat) as --template: "
                          "sebcal changes only the impervious-road variables of one urban "
                          "class and leaves everything else as it is")
    cls = ctx.option("urban_class")
    if cls is None:
        raise ConfigError("export to clm: which urban density class does the calibrated soil "
                          "represent? give --option urban_class=TBD, HD or MD")
    ctx.cache["class"] = CLASSES[cls]
    if ctx.cal.config.spec.nlayers > 1:
        raise ConfigError("export to clm: the calibration has several soil layers; CTSM's "
                          "TK/CV_IMPROAD take one value per road level, which sebcal does not "
                          "map from layers")
    todo, skipped = plan(ctx, ROWS)
    items: list[Item] = []
    with atomic_path(ctx.out, ".nc") as tmp, NETCDF_LOCK:
        shutil.copyfile(tpl, tmp)
        with netCDF4.Dataset(tmp, "a") as ds:
            for dim in ("numurbl", "nlevurb", "numrad"):
                if dim not in ds.dimensions:
                    raise ConfigError(f"template {tpl}: no '{dim}' dimension; CTSM reads the "
                                      "multi-density urban layout (numurbl, nlevurb, numrad)")
            nlat = len(ds.dimensions.get("lsmlat", [0]))
            nlon = len(ds.dimensions.get("lsmlon", [0]))
            cell = (0, 0)
            if nlat * nlon > 1:
                g = ctx.option("gridcell")
                if g is None:
                    raise ConfigError(f"template {tpl} has {nlat} x {nlon} grid cells: give "
                                      "--option gridcell=I,J (0-based lsmlat, lsmlon)")
                cell = tuple(int(x) for x in g.split(","))
            c = _cls(ctx)
            nlev = int(np.asarray(ds["NLEV_IMPROAD"][c, cell[0], cell[1]]))
            pct = None
            if "PCT_URBAN" in ds.variables:
                pct = float(np.asarray(ds["PCT_URBAN"][c, cell[0], cell[1]]))
            if nlev == 0 and any(r.param in ("lambda", "C") for r, _, _ in todo):
                ctx.warn("clm-no-road-levels", f"NLEV_IMPROAD = 0 for class {cls}: CTSM never "
                         "uses TK_IMPROAD and CV_IMPROAD of this class (its road is all soil)")
            if pct is not None and pct == 0.0:
                ctx.warn("clm-zero-cover", f"PCT_URBAN of class {cls} is 0 in this grid cell: "
                         "CTSM does not run this urban class here")
            for row, value, fitted in todo:
                name = row.address.var
                if name not in ds.variables:
                    raise ConfigError(f"template {tpl}: no variable {name} (CTSM ends with "
                                      f"'{name} NOT on fsurdat file')")
                var = ds[name]
                if name in ("TK_IMPROAD", "CV_IMPROAD"):
                    sel = (slice(0, max(nlev, 1)), c, cell[0], cell[1])
                    where = f"{name}(1..{max(nlev, 1)}, {cls})"
                elif name.startswith("ALB_"):
                    sel = (slice(None), c, cell[0], cell[1])
                    where = f"{name}(:, {cls})"
                else:
                    sel = (c, cell[0], cell[1])
                    where = f"{name}({cls})"
                old = np.asarray(var[sel]).tolist()
                var[sel] = value
                items.append(Item(row, where, ctx.value(row.param), fitted, float(value), old))
            ds.setncattr("sebcal_export", "; ".join(it.line() for it in items) or "nothing")
        with netCDF4.Dataset(tmp) as ds:          # read back as CTSM does
            for it in items:
                name = it.row.address.var
                got = np.asarray(ds[name][:])
                if not np.isfinite(got).all() and name != "PCT_URBAN":
                    raise ConfigError(f"export to clm: {name} holds non-finite values after "
                                      "the edit; nothing was written")
            _equivalence(ctx, ds, c, cell, cls, {it.row.param for it in items})
        if ctx.equivalence:
            with netCDF4.Dataset(tmp, "a") as ds:
                ds.setncattr("sebcal_host_computes", "; ".join(ctx.equivalence))
    return items, skipped
