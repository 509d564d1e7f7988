"""Noah-MP v5 (NoahmpTable.TBL of github NCAR/noahmp, read by NoahmpReadTableMod).

The table's groups must be complete (NoahmpReadTableMod reads every member), so the export
edits the user's table (--template) and refuses without one; the official table is
`parameters/NoahmpTable.TBL` of NCAR/noahmp.

Noah-MP's soil (src/SoilThermalPropertyMod.F90) is Johansen's: lambda = Ke (lambda_sat -
lambda_dry) + lambda_dry, lambda_sat = lambda_s^(1 - SMCMAX) 0.57^SMCMAX, lambda_s =
7.7^QTZ 2.0^(1 - QTZ), lambda_dry from the porosity alone; C = theta c_w + (1 - SMCMAX)
CSOIL + (SMCMAX - theta) c_air. Hence:

* porosity -> MAXSMC(soil type), lambda_solids -> QTZ(soil type) = ln(lambda_s/2)/ln(7.7/2),
  C_dry -> CSOIL_DATA = C_dry/(1 - porosity) (one value for every soil type);
* lambda, C of the constant-property soil -> QTZ and CSOIL_DATA matched at the calibration's
  mean soil moisture;
* alpha -> ALBSAT_VIS/NIR and ALBDRY_VIS/NIR of soil colour 4: every NCAR/noahmp driver fixes
  SoilColor = 4 (drivers/*/ConfigVarInTransferMod.F90), so another colour would change
  nothing; eps -> EG(1) ('emissivity soil surface').
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import ConfigError
from ..common import (
    Context,
    Item,
    NamelistAddress,
    Option,
    Row,
    group,
    header,
    patch_namelist,
    plan,
    read_namelist,
)

NAME = "noahmp"
VERSION = "Noah-MP v5 NoahmpTable.TBL (NCAR/noahmp)"
FILES = ("NoahmpTable.TBL",)
NEEDS_TEMPLATE = True
OPTIONS = {
    "soil_type": Option("1-based soil category of the site in the STAS (or STAS_RUC) table, "
                        "for MAXSMC and QTZ", int),
    "soil_color": Option("soil colour class of the albedo entries; NCAR/noahmp drivers fix "
                         "SoilColor = 4, so only 4 takes effect", int),
}
QUARTZ, OTHER, WATER, CWAT, CAIR = 7.7, 2.0, 0.57, 4.188e6, 1004.64
SOIL_COLOR = 4


def _cat(ctx: Context) -> int:
    return ctx.cache["soil_type"]


def _soil(key: str) -> NamelistAddress:
    return NamelistAddress("NoahmpTable.TBL", "noahmp_soil_stas_parameters", key, _cat,
                           "soil type")


def _rad(key: str) -> NamelistAddress:
    return NamelistAddress("NoahmpTable.TBL", "noahmp_rad_parameters", key,
                           lambda ctx: SOIL_COLOR, "soil colour 4")


_GEN = NamelistAddress("NoahmpTable.TBL", "noahmp_general_parameters", "CSOIL_DATA")


def _constant(ctx: Context) -> bool:
    return ctx.cal.config.options.get("soil_thermal") != "johansen"


def _first(v: Any) -> float:
    return float(v[0] if isinstance(v, (tuple, list)) else v)


def _qtz(lam_s: float) -> float:
    return math.log(lam_s / OTHER) / math.log(QUARTZ / OTHER)


def _lambda_dry(phi: float) -> float:
    g = (1.0 - phi) * 2700.0
    return (0.135 * g + 64.7) / (2700.0 - 0.947 * g)


def _qtz_from_lambda(lam: float, ctx: Context) -> float:
    phi, s = ctx.cache["porosity"], ctx.cache["saturation"]
    ke = math.log10(s) + 1.0 if s > 0.1 else 0.0
    if ke <= 0:
        raise ConfigError("export to noahmp: at a mean saturation below 0.1 Noah-MP's "
                          "conductivity is the dry value, set by the porosity alone: lambda "
                          "cannot be transferred through QTZ")
    ldry = _lambda_dry(phi)
    lsat = ldry + (lam - ldry) / ke
    if lsat <= 0:
        raise ConfigError(f"export to noahmp: lambda = {lam:.4g} is below Noah-MP's dry "
                          f"conductivity {ldry:.3g} for porosity {phi:.3g}")
    lam_s = (lsat / WATER ** phi) ** (1.0 / (1.0 - phi))
    return _qtz(lam_s)


def _csoil_from_c(c: float, ctx: Context) -> float:
    phi, s = ctx.cache["porosity"], ctx.cache["saturation"]
    theta = s * phi
    return (c - theta * CWAT - (phi - theta) * CAIR) / (1.0 - phi)


ROWS = (
    Row("porosity", _soil("MAXSMC"), "m3 m-3", "direct", "MAXSMC(soil type) = porosity", "",
        ("NoahMP-table", "NoahMP-thermo"), convert=lambda v, ctx: _first(v),
        limits=(0.05, 0.95)),
    Row("lambda_solids", _soil("QTZ"), "1", "direct",
        "QTZ = ln(lambda_s/2.0)/ln(7.7/2.0)",
        "Noah-MP derives the dry conductivity from MAXSMC, so sebcal's lambda_dry is not "
        "transferred", ("NoahMP-thermo",), convert=lambda v, ctx: _qtz(_first(v)),
        when=lambda ctx: not _constant(ctx), limits=(0.0, 1.0)),
    Row("lambda", _soil("QTZ"), "1", "approximate",
        "QTZ such that Noah-MP's conductivity at the mean saturation equals lambda",
        "exact at the calibration's mean soil moisture only", ("NoahMP-thermo",),
        convert=lambda v, ctx: _qtz_from_lambda(_first(v), ctx), when=_constant,
        limits=(0.0, 1.0)),
    Row("C_dry", _GEN, "J m-3 K-1", "direct", "CSOIL_DATA = C_dry/(1 - porosity)",
        "CSOIL_DATA is one value for every soil type", ("NoahMP-table", "NoahMP-thermo"),
        convert=lambda v, ctx: _first(v) / (1.0 - ctx.cache["porosity"]),
        when=lambda ctx: not _constant(ctx), limits=(1e5, 1e8)),
    Row("C", _GEN, "J m-3 K-1", "approximate",
        "CSOIL_DATA = (C - theta c_w - (porosity - theta) c_air)/(1 - porosity), mean theta",
        "exact at the calibration's mean soil moisture; one value for every soil type",
        ("NoahMP-table", "NoahMP-thermo"), convert=lambda v, ctx: _csoil_from_c(_first(v), ctx),
        when=_constant, limits=(1e5, 1e8)),
    *(Row("alpha", _rad(k), "1", "approximate", f"{k}(4) = alpha",
          "Noah-MP interpolates between the saturated and dry albedos with the top soil "
          "moisture and splits visible and near-infrared bands; sebcal's broadband alpha goes "
          "into all four", ("NoahMP-table", "NoahMP-color")) for k in
      ("ALBSAT_VIS", "ALBSAT_NIR", "ALBDRY_VIS", "ALBDRY_NIR")),
    Row("eps", NamelistAddress("NoahmpTable.TBL", "noahmp_rad_parameters", "EG",
                               lambda ctx: 1, "1: soil"), "1", "direct", "EG(1) = eps", "",
        ("NoahMP-table",)),
)


def write(ctx: Context) -> tuple[list[Item], list[str]]:
    tpl = ctx.templates.get("NoahmpTable.TBL")
    if tpl is None:
        raise ConfigError("export to noahmp needs your NoahmpTable.TBL as --template (the "
                          "official v5 table: parameters/NoahmpTable.TBL of github "
                          "NCAR/noahmp): its groups must stay complete, and sebcal changes only "
                          "the entries it owns")
    color = ctx.option("soil_color", SOIL_COLOR)
    if color != SOIL_COLOR:
        ctx.warn("noahmp-soil-color", f"--option soil_color={color}: every NCAR/noahmp driver "
                 "sets SoilColor = 4 (drivers/*/ConfigVarInTransferMod.F90), so the albedos of "
                 "colour 4 are the ones Noah-MP uses; sebcal writes colour 4")
    nml = read_namelist(tpl)
    cats = group(nml, "noahmp_stas_soil_categories", tpl)
    sltype = str(cats.get("sltype", "STAS")).strip().upper()
    soil_group = {"STAS": "noahmp_soil_stas_parameters",
                  "STAS_RUC": "noahmp_soil_stas_ruc_parameters"}.get(sltype)
    if soil_group is None:
        raise ConfigError(f"template {tpl}: SLTYPE = '{sltype}'; Noah-MP reads STAS or STAS_RUC")
    slcats = int(cats.get("slcats", 19))
    soil_rows = {"porosity", "lambda_solids", "lambda", "C", "C_dry"}
    need_soil = any(ctx.value(p) is not None and (ctx.fitted(p) or ctx.include_fixed)
                    for p in soil_rows)
    st = ctx.option("soil_type")
    if need_soil and st is None:
        raise ConfigError("export to noahmp: the soil entries (MAXSMC, QTZ) are per soil "
                          f"category: give --option soil_type=N (1..{slcats}, the site's "
                          "category in the STAS table)")
    if st is not None and not 1 <= st <= slcats:
        raise ConfigError(f"--option soil_type={st}: the table has {slcats} soil categories")
    ctx.cache["soil_type"] = st or 1
    soil = group(nml, soil_group, tpl)
    phi = ctx.value("porosity")
    phi = _first(phi) if phi is not None else float(soil["maxsmc"][ctx.cache["soil_type"] - 1])
    ctx.cache["porosity"] = phi
    theta = (ctx.cal.data.get("fit") or {}).get("soil_moisture_mean")
    ctx.cache["saturation"] = None if theta is None else min(1.0, float(theta) / phi)
    for p in ("lambda", "C"):
        if _constant(ctx) and ctx.value(p) is not None and (ctx.fitted(p) or ctx.include_fixed) \
                and ctx.cache["saturation"] is None:
            raise ConfigError(f"export to noahmp: {p} of the constant-property soil converts "
                              "at the calibration's mean soil moisture, which it does not have; "
                              "calibrate with [forcing.soil_moisture], or with soil_thermal = "
                              "\"johansen\" (whose parameters Noah-MP has)")
    todo, skipped = plan(ctx, ROWS)
    patch: dict[str, dict[str, Any]] = {}
    items = []
    for row, value, fitted in todo:
        addr = row.address
        g = soil_group if addr.group == "noahmp_soil_stas_parameters" else addr.group
        key = addr.key.lower()
        cur = patch.get(g, {}).get(key, group(nml, g, tpl).get(key))
        if cur is None:
            raise ConfigError(f"template {tpl}: &{g} has no {addr.key}")
        if addr.index is None:
            old, new = cur, float(value)
            where = f"&{g} {addr.key}"
        else:
            k = addr.index(ctx)
            cur = list(cur) if isinstance(cur, list) else [cur]
            old = cur[k - 1]
            cur[k - 1] = float(value)
            new = cur
            where = f"&{g} {addr.key}({k})"
        patch.setdefault(g, {})[key] = new
        items.append(Item(row, where, ctx.value(row.param), fitted, float(value), old))
    patch_namelist(tpl, patch, ctx.out, header(ctx, "!", items, VERSION))
    return items, skipped
