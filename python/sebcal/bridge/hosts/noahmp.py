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
  mean soil moisture, with the porosity Noah-MP will use: MAXSMC(soil type) of the template,
  or the calibration's porosity when the export writes it (fitted, or --include-fixed);
* alpha -> ALBSAT_VIS/NIR and ALBDRY_VIS/NIR of the soil colour(s): every NCAR/noahmp driver
  fixes SoilColor = 4 (drivers/*/ConfigVarInTransferMod.F90); the UFS driver (ccpp-physics
  noahmpdrv.F90, soil_color_category = soilcol(i)) takes each cell's colour from the dataset,
  so --option driver=ufs needs the colour(s) of the user's cells; eps -> EG(1).

After writing, Noah-MP's own formulas (:func:`thermal`, :func:`soil_albedo`) recompute from the
new table the conductivity, heat capacity and albedo the host will use, and the export
refuses a difference above 1 % (common.check_equivalence).
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import ConfigError
from ..common import (
    Context,
    Equivalent,
    Item,
    NamelistAddress,
    Option,
    Row,
    calibrated_properties,
    check_equivalence,
    element_list,
    group,
    header,
    patch_namelist,
    plan,
    read_namelist,
    scalar,
)

NAME = "noahmp"
VERSION = "Noah-MP v5 NoahmpTable.TBL (NCAR/noahmp)"
FILES = ("NoahmpTable.TBL",)
NEEDS_TEMPLATE = True
OPTIONS = {
    "soil_type": Option("1-based soil category of the site in the STAS (or STAS_RUC) table, "
                        "for MAXSMC and QTZ", int),
    "soil_color": Option("soil colour(s) of the albedo entries, e.g. 4 or 3,4: the NCAR/noahmp "
                         "drivers fix SoilColor = 4; the UFS driver reads each cell's colour "
                         "from the dataset", str),
    "driver": Option("the Noah-MP driver that reads the table: ncar (hrldas, wrf, lis, erf: "
                     "SoilColor = 4, the default) or ufs (ccpp-physics: colours from the "
                     "dataset)", str, ("ncar", "ufs")),
    "theta": Option("mean volumetric soil moisture [m3 m-3] for the conversions and the "
                    "host-equivalence check when the calibration had none", float),
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
                           lambda ctx: ctx.cache["colors"][0], "soil colour(s)")


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


def thermal(maxsmc: float, qtz: float, csoil: float, theta: float) -> tuple[float, float]:
    """Noah-MP's conductivity [W m-1 K-1] and heat capacity [J m-3 K-1] of unfrozen soil
    (src/SoilThermalPropertyMod.F90, SoilThermalProperty; constants of ConstantDefineMod:
    quartz 7.7, other solids 2.0, water 0.57 W m-1 K-1, water 4.188e6, air 1004.64)."""
    sat = theta / maxsmc
    lam_s = QUARTZ ** qtz * OTHER ** (1.0 - qtz)
    lsat = lam_s ** (1.0 - maxsmc) * WATER ** maxsmc
    ke = math.log10(sat) + 1.0 if sat > 0.1 else 0.0
    ldry = _lambda_dry(maxsmc)
    lam = ke * (lsat - ldry) + ldry
    c = theta * CWAT + (1.0 - maxsmc) * csoil + (maxsmc - theta) * CAIR
    return lam, c


def soil_albedo(sat: float, dry: float, theta_top: float) -> float:
    """Noah-MP's snow-free soil albedo of one band (src/GroundAlbedoMod.F90, GroundAlbedo):
    min(ALBSAT + max(0.11 - 0.40 theta_top, 0), ALBDRY)."""
    return min(sat + max(0.11 - 0.40 * theta_top, 0.0), dry)


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
    q = _qtz(lam_s)
    if not 0.0 <= q <= 1.0:
        lo, hi = (ldry + ke * (x ** (1 - phi) * WATER ** phi - ldry) for x in (OTHER, QUARTZ))
        raise ConfigError(f"export to noahmp: lambda = {lam:.4g} W m-1 K-1 at theta "
                          f"{phi * s:.3g} would need QTZ = {q:.3g}, outside [0, 1]: with "
                          f"MAXSMC({ctx.cache['soil_type']}) = {phi:g} "
                          f"({ctx.cache['porosity_from']}) Noah-MP's conductivity ranges "
                          f"{lo:.3g}-{hi:.3g} W m-1 K-1 there. Choose the soil type of the "
                          "site (--option soil_type), or write the calibration's porosity too "
                          "(--include-fixed, or --only with porosity fitted)")
    return q


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
    *(Row("alpha", _rad(k), "1", "approximate", f"{k}(colour) = alpha",
          "Noah-MP interpolates between the saturated and dry albedos with the top soil "
          "moisture and splits visible and near-infrared bands; sebcal's broadband alpha goes "
          "into all four; NCAR drivers read colour 4 only, the UFS driver each cell's colour "
          "from the dataset (--option driver=ufs soil_color=...)",
          ("NoahMP-table", "NoahMP-color", "NoahMP-albedo", "NoahMP-ufs")) for k in
      ("ALBSAT_VIS", "ALBSAT_NIR", "ALBDRY_VIS", "ALBDRY_NIR")),
    Row("eps", NamelistAddress("NoahmpTable.TBL", "noahmp_rad_parameters", "EG",
                               lambda ctx: 1, "1: soil"), "1", "direct", "EG(1) = eps", "",
        ("NoahMP-table",)),
)


def _colors(ctx: Context, ncolors: int) -> list[int]:
    driver = ctx.option("driver", "ncar")
    raw = ctx.option("soil_color")
    if raw is None:
        if driver == "ufs" and _writes_albedo(ctx):
            raise ConfigError("export to noahmp with --option driver=ufs: the UFS driver takes "
                              "each cell's soil colour from the dataset (ccpp-physics "
                              "noahmpdrv.F90: soil_color_category = soilcol(i)), so sebcal cannot "
                              "know which ALBSAT/ALBDRY entries your cells use: give --option "
                              "soil_color=N (or N,M,...) with the colour(s) of your cells")
        return [SOIL_COLOR]
    try:
        colors = sorted({int(x) for x in str(raw).replace(";", ",").split(",") if x.strip()})
    except ValueError:
        raise ConfigError(f"--option soil_color={raw}: give colour numbers, e.g. 4 or 3,4") \
            from None
    for c in colors:
        if not 1 <= c <= ncolors:
            raise ConfigError(f"--option soil_color={raw}: the table has {ncolors} soil colours")
    if driver == "ncar" and colors != [SOIL_COLOR] and _writes_albedo(ctx):
        ctx.warn("noahmp-soil-color", f"--option soil_color={raw}: every NCAR/noahmp driver "
                 "sets SoilColor = 4 (drivers/*/ConfigVarInTransferMod.F90), so Noah-MP reads "
                 "only the albedos of colour 4; sebcal writes the colour(s) you gave (for the "
                 "UFS driver, which reads colours from the dataset, pass --option driver=ufs)")
    return colors


def _writes(ctx: Context, p: str) -> bool:
    return ctx.value(p) is not None and (ctx.fitted(p) or ctx.include_fixed)


def _writes_albedo(ctx: Context) -> bool:
    return _writes(ctx, "alpha")


def _equivalence(ctx: Context, back: Any, soil_group: str, wrote: set[str]) -> list[str]:
    """Noah-MP's conductivity, heat capacity and albedo recomputed from the new table."""
    st = ctx.cache["soil_type"]
    theta = ctx.cache["theta"]
    eqs = []
    soil = back[soil_group]
    maxsmc = float(soil["maxsmc"][st - 1])
    qtz = float(soil["qtz"][st - 1])
    csoil = float(back["noahmp_general_parameters"]["csoil_data"])
    ref = calibrated_properties(ctx, theta)
    if wrote & {"porosity", "lambda_solids", "lambda", "C", "C_dry"}:
        if theta is None:
            ctx.warn("host-equivalence", "Noah-MP's conductivity and heat capacity depend on the "
                     "soil moisture, which the calibration does not have: they cannot be "
                     "compared with the calibrated ones; give --option theta=... (the mean "
                     "soil moisture, m3 m-3)")
        else:
            th = min(theta, maxsmc)
            lam, c = thermal(maxsmc, qtz, csoil, th)
            how = (f"Noah-MP SoilThermalProperty at theta {th:.3g} with MAXSMC({st}) "
                   f"{maxsmc:g} ({ctx.cache['porosity_from']}), QTZ({st}) {qtz:g}, "
                   f"CSOIL_DATA {csoil:g}")
            if "lambda" in ref:
                eqs.append(Equivalent("lambda", ref["lambda"], lam, "W m-1 K-1", how))
            if "C" in ref:
                eqs.append(Equivalent("C", ref["C"], c, "J m-3 K-1", how))
    if "alpha" in wrote and "alpha" in ref:
        rad = back["noahmp_rad_parameters"]
        th = theta if theta is not None else 0.0
        for col in ctx.cache["colors"]:
            a = 0.5 * sum(soil_albedo(float(rad[f"albsat_{b}"][col - 1]),
                                      float(rad[f"albdry_{b}"][col - 1]), th)
                          for b in ("vis", "nir"))
            eqs.append(Equivalent("alpha", ref["alpha"], a, "1",
                                  f"Noah-MP GroundAlbedo of soil colour {col} (mean of the "
                                  f"visible and near-infrared bands) at top-layer theta "
                                  f"{th:.3g}"))
    return check_equivalence(ctx, eqs)


def write(ctx: Context) -> tuple[list[Item], list[str]]:
    tpl = ctx.templates.get("NoahmpTable.TBL")
    if tpl is None:
        raise ConfigError("export to noahmp needs your NoahmpTable.TBL as --template (the "
                          "official v5 table: parameters/NoahmpTable.TBL of github "
                          "NCAR/noahmp): its groups must stay complete, and sebcal changes only "
                          "the entries it owns")
    nml = read_namelist(tpl)
    rad = group(nml, "noahmp_rad_parameters", tpl)
    ctx.cache["colors"] = _colors(ctx, len(element_list(rad.get("albsat_vis"))))
    cats = group(nml, "noahmp_stas_soil_categories", tpl)
    sltype = str(scalar(cats.get("sltype", "STAS"))).strip().upper()
    soil_group = {"STAS": "noahmp_soil_stas_parameters",
                  "STAS_RUC": "noahmp_soil_stas_ruc_parameters"}.get(sltype)
    if soil_group is None:
        raise ConfigError(f"template {tpl}: SLTYPE = '{sltype}'; Noah-MP reads STAS or STAS_RUC")
    slcats = int(scalar(cats.get("slcats", 19)))
    soil_rows = {"porosity", "lambda_solids", "lambda", "C", "C_dry"}
    need_soil = any(_writes(ctx, p) for p in soil_rows)
    st = ctx.option("soil_type")
    if need_soil and st is None:
        raise ConfigError("export to noahmp: the soil entries (MAXSMC, QTZ) are per soil "
                          f"category: give --option soil_type=N (1..{slcats}, the site's "
                          "category in the STAS table)")
    if st is not None and not 1 <= st <= slcats:
        raise ConfigError(f"--option soil_type={st}: the table has {slcats} soil categories")
    ctx.cache["soil_type"] = st or 1
    soil = group(nml, soil_group, tpl)
    # the porosity Noah-MP will use: the calibration's when written, else the template's
    if _writes(ctx, "porosity"):
        phi = _first(ctx.value("porosity"))
        ctx.cache["porosity_from"] = "written from the calibration"
    else:
        phi = float(element_list(soil["maxsmc"])[ctx.cache["soil_type"] - 1])
        cal_phi = ctx.value("porosity")
        ctx.cache["porosity_from"] = "the template's" + (
            f"; the calibration's {_first(cal_phi):g} is not written" if cal_phi is not None
            else "")
    ctx.cache["porosity"] = phi
    theta = (ctx.cal.data.get("fit") or {}).get("soil_moisture_mean")
    if ctx.option("theta") is not None:
        theta = ctx.option("theta")
    ctx.cache["theta"] = None if theta is None else float(theta)
    ctx.cache["saturation"] = None if theta is None else min(1.0, float(theta) / phi)
    for p in ("lambda", "C"):
        if _constant(ctx) and _writes(ctx, p) and ctx.cache["saturation"] is None:
            raise ConfigError(f"export to noahmp: {p} of the constant-property soil converts "
                              "at the calibration's mean soil moisture, which it does not have; "
                              "calibrate with [forcing.soil_moisture], give --option theta=..., "
                              "or calibrate with soil_thermal = \"johansen\" (whose parameters "
                              "Noah-MP has)")
    todo, skipped = plan(ctx, ROWS)
    patch: dict[str, dict[str, dict[int, float]]] = {}
    items = []
    for row, value, fitted in todo:
        addr = row.address
        g = soil_group if addr.group == "noahmp_soil_stas_parameters" else addr.group
        key = addr.key.lower()
        cur = group(nml, g, tpl).get(key)
        if cur is None:
            raise ConfigError(f"template {tpl}: &{g} has no {addr.key}")
        targets = ctx.cache["colors"] if addr.group == "noahmp_rad_parameters" and \
            addr.key != "EG" else [addr.index(ctx) if addr.index else 1]
        for k in targets:
            old = element_list(cur)[k - 1] if k <= len(element_list(cur)) else None
            patch.setdefault(g, {}).setdefault(key, {})[k] = float(value)
            where = f"&{g} {addr.key}" + (f"({k})" if addr.index is not None else "")
            note = ""
            if row.param in ("lambda", "C", "C_dry"):
                note = (f"with MAXSMC({ctx.cache['soil_type']}) = {phi:g} "
                        f"({ctx.cache['porosity_from']})"
                        + (f", theta {ctx.cache['theta']:.3g}" if ctx.cache["theta"] is not None
                           and row.param != "C_dry" else ""))
            items.append(Item(row, where, ctx.value(row.param), fitted, float(value), old, note))
    wrote = {it.row.param for it in items}
    patch_namelist(tpl, patch, ctx.out,
                   lambda eq: header(ctx, "!", items, VERSION, eq),
                   verify=lambda back: _equivalence(ctx, back, soil_group, wrote))
    return items, skipped
