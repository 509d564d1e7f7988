"""JULES (vn7.x namelists): &JULES_SOIL_PROPS (ancillaries.nml) and &JULES_NVEGPARM
(nveg_params.nml), read-only &JULES_SOIL (jules_soil.nml: soilhc_method) and
&JULES_SURFACE_TYPES (jules_surface_types.nml: which non-vegetated type is soil).

JULES needs complete groups: &JULES_NVEGPARM "All parameters must be defined for any
configuration" (every member for every non-vegetated type) and &JULES_SOIL_PROPS lists every
soil variable the run uses. sebcal knows only some of them, so a JULES export edits the user's
files (--template, repeatable: the files that hold these groups) and refuses without them.

Conversions (JULES source heat_con, soil_htc):

* lambda (constant-property soil) -> hcon, the DRY-soil conductivity JULES raises with soil
  water: inverted at the mean observed soil saturation S so that JULES's conductivity at S
  equals sebcal's lambda. soilhc_method 1 (Cox et al. 1999): lambda = hcon (1 + ((hcwat /
  hcair)^sm_sat - 1) S); method 2 (simplified Johansen, Dharssi 2008): lambda = hcon + (hcsat
  - hcon) Ke(S), hcsat = 1.58 + 12.4 (hcon - 0.25) capped to [1.58, 2.20] (so a dry
  conductivity above 2.2 conducts LESS when moist), Ke = 1 + log10 S (S > 0.1).
* lambda_dry (Johansen soil) -> hcon directly (JULES derives the saturated value itself).
* C -> hcap = C - c_w theta (JULES adds the water's heat capacity to hcap); C_dry -> hcap.
* porosity -> sm_sat; alpha -> albsoil (or albsnf_nvg_io of soil when that is not -1);
  eps -> emis_nvg_io, z0m -> z0_nvg_io, z0h_ratio -> z0hm_nvg_io of the soil type.

The conversions use the sm_sat JULES will read: the calibration's porosity when the export
writes it, else the template's const_val (or --option sm_sat when the template reads sm_sat
from an ancillary file). After editing, :func:`heat_con` (JULES's own formulas) recomputes
from the new files the conductivity and heat capacity JULES will use, and the export
refuses a difference above 1 % (common.check_equivalence). Rose writes scalars with a
trailing comma (``soil=8,,`` reads as [8, null]); these are read as the scalar gfortran
reads.
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
    commit_namelist,
    element_list,
    group,
    header,
    plan,
    prepare_namelist,
    read_namelist,
    scalar,
)

NAME = "jules"
VERSION = "JULES vn7.x namelists"
FILES = ("ancillaries.nml", "nveg_params.nml", "jules_soil.nml", "jules_surface_types.nml")
EDITED = ("ancillaries.nml", "nveg_params.nml")
#: file role -> the group that identifies it
GROUPS = {"ancillaries.nml": "jules_soil_props", "nveg_params.nml": "jules_nvegparm",
          "jules_soil.nml": "jules_soil", "jules_surface_types.nml": "jules_surface_types"}
NEEDS_TEMPLATE = True
OPTIONS = {
    "soil_type": Option("1-based index of soil among the non-vegetated types (the arrays of "
                        "&JULES_NVEGPARM); default: soil - npft from &JULES_SURFACE_TYPES",
                        int),
    "soilhc_method": Option("JULES's soilhc_method when &JULES_SOIL is not among the templates "
                            "(JULES's default is 1)", int, ("1", "2")),
    "saturation": Option("mean soil saturation theta/sm_sat for the lambda and C conversions "
                         "when the calibration had no soil moisture", float),
    "sm_sat": Option("the site's sm_sat [m3 m-3] when the template reads it from an ancillary "
                     "file (use_file = .true.): the conversions and the check need it", float),
}
#: JULES soil_param: conductivities of water and air [W m-1 K-1]; water's heat capacity
HCWAT, HCAIR, CWAT = 0.56, 0.025, 4.18e6
HCSAT = (1.58, 2.20, 12.4, 0.25)        # min, max, gradient, intercept (heat_con, method 2)


def _soil_index(ctx: Context) -> int:
    return ctx.cache["soil_type"]


def _nv(key: str) -> NamelistAddress:
    return NamelistAddress("nveg_params.nml", "jules_nvegparm", key, _soil_index, "soil type")


def _sp(var: str) -> NamelistAddress:
    return NamelistAddress("ancillaries.nml", "jules_soil_props", "const_val",
                           lambda ctx: ctx.cache["vars"].index(var) + 1, f"var '{var}'")


def _constant(ctx):
    return ctx.cal.config.options.get("soil_thermal") != "johansen"


ROWS = (
    Row("alpha", _sp("albsoil"), "1", "direct", "albsoil = alpha",
        "when &JULES_NVEGPARM albsnf_nvg_io of soil is not -1, JULES uses that instead; sebcal "
        "then writes albsnf_nvg_io", ("JULES-nveg", "JULES-psparms")),
    Row("eps", _nv("emis_nvg_io"), "1", "direct", "emis_nvg_io(soil) = eps", "",
        ("JULES-nveg",)),
    Row("z0m", _nv("z0_nvg_io"), "m", "direct", "z0_nvg_io(soil) = z0m", "", ("JULES-nveg",)),
    Row("z0h_ratio", _nv("z0hm_nvg_io"), "1", "direct", "z0hm_nvg_io(soil) = z0h/z0m", "",
        ("JULES-nveg",)),
    Row("porosity", _sp("sm_sat"), "m3 m-3", "direct", "sm_sat = porosity", "",
        ("JULES-anc", "JULES-psparms")),
    Row("lambda", _sp("hcon"), "W m-1 K-1", "approximate",
        "hcon such that JULES's conductivity at the mean saturation equals lambda",
        "exact at the calibration's mean soil moisture only: JULES varies the conductivity "
        "with moisture, sebcal's constant-property soil does not", ("JULES-heatcon",),
        convert=lambda v, ctx: _hcon(float(v[0] if isinstance(v, tuple) else v), ctx),
        when=_constant, limits=(0.0, 10.0)),
    Row("lambda_dry", _sp("hcon"), "W m-1 K-1", "direct", "hcon = lambda_dry",
        "JULES computes the saturated conductivity itself (method 2: from hcon), so sebcal's "
        "lambda_solids is not transferred", ("JULES-heatcon",),
        convert=lambda v, ctx: float(v[0] if isinstance(v, tuple) else v),
        when=lambda ctx: not _constant(ctx), limits=(0.0, 10.0)),
    Row("C", _sp("hcap"), "J m-3 K-1", "approximate", "hcap = C - c_w theta (mean theta)",
        "exact at the calibration's mean soil moisture", ("JULES-htc",),
        convert=lambda v, ctx: float(v[0] if isinstance(v, tuple) else v)
        - CWAT * _theta(ctx), when=_constant, limits=(1e5, 1e8)),
    Row("C_dry", _sp("hcap"), "J m-3 K-1", "direct", "hcap = C_dry", "", ("JULES-htc",),
        convert=lambda v, ctx: float(v[0] if isinstance(v, tuple) else v),
        when=lambda ctx: not _constant(ctx), limits=(1e5, 1e8)),
)


def heat_con(method: int, hcon: float, sth: float, v_sat: float) -> float:
    """JULES's conductivity [W m-1 K-1] of unfrozen soil at saturation sth (heat_con,
    src/science/soil/heat_con_jls.F90: method 1 Cox et al. 1999, method 2 simplified
    Johansen after Dharssi 2008)."""
    if method == 1:
        hcsat = hcon * HCWAT ** v_sat / HCAIR ** v_sat
        return (hcsat - hcon) * sth + hcon
    if method == 2:
        lo_, hi_, grad, icpt = HCSAT
        hcsat = min(hi_, max(lo_, lo_ + grad * (hcon - icpt)))
        ke = 0.0 if sth <= 0.1 else 1.0 + math.log10(sth)
        return (hcsat - hcon) * ke + hcon
    raise ConfigError(f"export to jules: soilhc_method = {method}; sebcal knows JULES's "
                      "methods 1 and 2 (heat_con) and cannot check what another computes")


def _theta(ctx: Context) -> float:
    return ctx.cache["saturation"] * ctx.cache["sm_sat"]


def _hcon(lam: float, ctx: Context) -> float:
    """The dry conductivity whose JULES conductivity at the mean saturation is lam."""
    s = ctx.cache["saturation"]
    vs = ctx.cache["sm_sat"]
    method = ctx.cache["soilhc_method"]
    if method == 1:
        return lam / (1.0 + ((HCWAT / HCAIR) ** vs - 1.0) * s)
    ke = 1.0 + math.log10(s) if s > 0.1 else 0.0
    lo_, hi_, grad, icpt = HCSAT

    def jules(h: float) -> float:
        hs = min(hi_, max(lo_, lo_ + grad * (h - icpt)))
        hs *= 1.0          # unfrozen: hcwat**thwat / hcwat**v_sat = 1
        return h + (hs - h) * ke

    a, b = 1e-4, 10.0
    if not (jules(a) <= lam <= jules(b)):
        raise ConfigError(f"export to jules: lambda = {lam:.4g} W m-1 K-1 cannot be reached by "
                          f"JULES soilhc_method 2 at saturation {s:.3g} (its conductivity "
                          f"ranges {jules(a):.3g}-{jules(b):.3g}); with Ke = {ke:.3g} the "
                          "moist conductivity is tied to 1.58-2.20 W m-1 K-1")
    for _ in range(200):
        m = 0.5 * (a + b)
        if jules(m) < lam:
            a = m
        else:
            b = m
    return 0.5 * (a + b)


def _prepare(ctx: Context) -> dict:
    """Read the templates; fill ctx.cache (soil type, soil variables, soilhc_method, sm_sat,
    saturation); return the parsed editable namelists."""
    for role in EDITED:
        if role not in ctx.templates:
            raise ConfigError(f"export to jules needs the file that holds &{GROUPS[role].upper()} "
                              f"({role}) as --template: JULES groups must be complete, and "
                              "sebcal edits only the entries it owns")
    nmls = {role: read_namelist(p) for role, p in ctx.templates.items()}
    props = group(nmls["ancillaries.nml"], "jules_soil_props", ctx.templates["ancillaries.nml"])
    var = props.get("var")
    if var is None:
        raise ConfigError(f"template {ctx.templates['ancillaries.nml']}: &JULES_SOIL_PROPS has no "
                          "var list; sebcal writes const_val of the listed variables")
    var = [str(v).strip().lower() for v in (var if isinstance(var, list) else [var])]
    ctx.cache["vars"] = var
    ctx.cache["const_val"] = element_list(props.get("const_val")) \
        if props.get("const_val") is not None else []
    # use_file defaults to .true. in JULES (ancillaries.nml): an element not given, or null,
    # reads the ancillary file
    uf = element_list(props.get("use_file")) if props.get("use_file") is not None else []
    uf += [None] * (len(var) - len(uf))
    ctx.cache["use_file"] = [True if x is None else bool(x) for x in uf]
    # which non-vegetated type is soil
    st = ctx.option("soil_type")
    if st is None and "jules_surface_types.nml" in nmls:
        types = group(nmls["jules_surface_types.nml"], "jules_surface_types",
                      ctx.templates["jules_surface_types.nml"])
        if scalar(types.get("soil")) is not None and scalar(types.get("npft")) is not None:
            st = int(scalar(types["soil"])) - int(scalar(types["npft"]))
    if st is None:
        raise ConfigError("export to jules: which non-vegetated type is soil? give "
                          "jules_surface_types.nml (&JULES_SURFACE_TYPES: soil, npft) as a "
                          "--template, or --option soil_type=N (1-based among the non-"
                          "vegetated types)")
    ctx.cache["soil_type"] = int(st)
    nveg = group(nmls["nveg_params.nml"], "jules_nvegparm", ctx.templates["nveg_params.nml"])
    n = max((len(v) for v in nveg.values() if isinstance(v, list)), default=1)
    if not 1 <= ctx.cache["soil_type"] <= n:
        raise ConfigError(f"export to jules: soil type {ctx.cache['soil_type']} is outside the "
                          f"{n} non-vegetated types of &JULES_NVEGPARM")
    # soilhc_method
    method = ctx.option("soilhc_method")
    if "jules_soil.nml" in nmls:
        soil = group(nmls["jules_soil.nml"], "jules_soil", ctx.templates["jules_soil.nml"])
        got = int(scalar(soil.get("soilhc_method", 1)) or 1)
        if method is not None and method != got:
            raise ConfigError(f"--option soilhc_method={method} contradicts the template's "
                              f"&JULES_SOIL soilhc_method = {got}")
        method = got
    ctx.cache["soilhc_method"] = method
    # the sm_sat JULES will read, and the mean saturation for the moisture-matched conversions
    sm_sat, ctx.cache["sm_sat_from"] = _host_sm_sat(ctx, var)
    ctx.cache["sm_sat"] = sm_sat
    theta = (ctx.cal.data.get("fit") or {}).get("soil_moisture_mean")
    sat = ctx.option("saturation")
    if sat is None and theta is not None and sm_sat:
        sat = min(1.0, float(theta) / sm_sat)
    ctx.cache["saturation"] = sat
    return nmls


def _writes(ctx: Context, p: str) -> bool:
    return ctx.value(p) is not None and (ctx.fitted(p) or ctx.include_fixed)


def _host_sm_sat(ctx: Context, var: list[str]) -> tuple[float | None, str]:
    """The sm_sat JULES will use, and where it comes from."""
    if _writes(ctx, "porosity"):
        v = ctx.value("porosity")
        return float(v[0] if isinstance(v, tuple) else v), "written from the calibration"
    if "sm_sat" in var:
        k = var.index("sm_sat")
        if ctx.cache["use_file"][k]:
            if ctx.option("sm_sat") is not None:
                return float(ctx.option("sm_sat")), "--option sm_sat (the ancillary file's)"
            return None, "the ancillary file (use_file = .true.)"
        cv = ctx.cache["const_val"]
        if k < len(cv) and cv[k] is not None:
            return float(cv[k]), "the template's const_val"
    if ctx.option("sm_sat") is not None:
        return float(ctx.option("sm_sat")), "--option sm_sat"
    return None, "nowhere (&JULES_SOIL_PROPS does not list sm_sat)"


def _needs(ctx: Context, row: Row) -> None:
    if row.param in ("lambda", "C") and _constant(ctx):
        if ctx.cache["sm_sat"] is None:
            raise ConfigError(f"export to jules: {row.param} converts with the sm_sat JULES "
                              f"will use, which comes from {ctx.cache['sm_sat_from']}: give "
                              "--option sm_sat=VALUE (the site's value there), or write the "
                              "calibration's porosity too (--include-fixed)")
        if ctx.cache["saturation"] is None:
            raise ConfigError(f"export to jules: {row.param} needs the mean soil saturation "
                              "(the calibration had no soil moisture): give --option "
                              "saturation=S (theta/sm_sat)")
        if row.param == "lambda" and ctx.cache["soilhc_method"] is None:
            raise ConfigError("export to jules: the conversion of lambda to hcon depends on "
                              "JULES's soilhc_method: give jules_soil.nml (&JULES_SOIL) as a "
                              "--template, or --option soilhc_method=1 (JULES's default) or 2")


def _equivalence(ctx: Context, anc: Any, nveg: Any, wrote: set[str]) -> list[str]:
    """JULES's conductivity, heat capacity and albedo recomputed from the new files."""
    props = anc["jules_soil_props"]
    var = [str(v).strip().lower() for v in element_list(props.get("var"))]
    cv = element_list(props.get("const_val"))
    uf = ctx.cache["use_file"]

    def const(name: str) -> float | None:
        if name not in var:
            return None
        k = var.index(name)
        if uf[k] or k >= len(cv) or cv[k] is None:
            return None
        return float(cv[k])
    eqs = []
    sat = ctx.cache["saturation"]
    vs = ctx.cache["sm_sat"] if "porosity" not in wrote else const("sm_sat")
    theta = None if sat is None or vs is None else sat * vs
    ref = calibrated_properties(ctx, theta)
    if wrote & {"porosity", "lambda", "lambda_dry", "C", "C_dry"}:
        hcon, hcap = const("hcon"), const("hcap")
        method = ctx.cache["soilhc_method"] or 1
        if theta is None or hcon is None or hcap is None:
            ctx.warn("host-equivalence", "JULES's conductivity and heat capacity cannot be "
                     "recomputed (the soil moisture, sm_sat, hcon or hcap JULES will use is not "
                     "known here: hcon/hcap read from an ancillary file, or no soil moisture)")
        else:
            how = (f"JULES heat_con method {method} and soil_htc at sth {sat:.3g} (theta "
                   f"{theta:.3g}) with sm_sat {vs:g} ({ctx.cache['sm_sat_from']}), hcon "
                   f"{hcon:g}, hcap {hcap:g}")
            if "lambda" in ref:
                eqs.append(Equivalent("lambda", ref["lambda"], heat_con(method, hcon, sat, vs),
                                      "W m-1 K-1", how))
            if "C" in ref:
                eqs.append(Equivalent("C", ref["C"], hcap + CWAT * theta, "J m-3 K-1", how))
    if "alpha" in wrote and "alpha" in ref:
        st = ctx.cache["soil_type"]
        albsnf = element_list(nveg["jules_nvegparm"].get("albsnf_nvg_io"))
        if len(albsnf) >= st and albsnf[st - 1] is not None and float(albsnf[st - 1]) != -1.0:
            a, how = float(albsnf[st - 1]), f"albsnf_nvg_io({st}) of soil"
        else:
            a, how = const("albsoil"), "albsoil (albsnf_nvg_io of soil is -1)"
        if a is not None:
            eqs.append(Equivalent("alpha", ref["alpha"], a, "1", f"JULES snow-free soil albedo "
                                  f"= {how}"))
    return check_equivalence(ctx, eqs)


def write(ctx: Context) -> tuple[list[Item], list[str]]:
    nmls = _prepare(ctx)
    for row in ROWS:
        if row.when(ctx) and _writes(ctx, row.param) and row.param not in ctx.excluded:
            _needs(ctx, row)
    todo, skipped = plan(ctx, ROWS)
    patches: dict[str, dict] = {"ancillaries.nml": {}, "nveg_params.nml": {}}
    items: list[Item] = []
    var, cv, uf = ctx.cache["vars"], list(ctx.cache["const_val"]), ctx.cache["use_file"]
    nveg = nmls["nveg_params.nml"]["jules_nvegparm"]
    st = ctx.cache["soil_type"]
    for row, value, fitted in todo:
        addr = row.address
        if row.param == "alpha":
            albsnf = element_list(nveg.get("albsnf_nvg_io"))
            if len(albsnf) >= st and albsnf[st - 1] is not None and \
                    float(albsnf[st - 1]) != -1.0:
                addr = _nv("albsnf_nvg_io")
        if addr.file == "ancillaries.nml":
            name = addr.index_text.split("'")[1]
            if name not in var:
                raise ConfigError(f"template {ctx.templates['ancillaries.nml']}: "
                                  f"&JULES_SOIL_PROPS var has no '{name}' (it lists "
                                  f"{', '.join(var)}); add it (nvars, var, use_file, const_val)")
            k = var.index(name)
            if uf[k]:
                ctx.warn("jules-use-file", f"&JULES_SOIL_PROPS '{name}' is read from the "
                         "ancillary file (use_file = .true.), so JULES would not use the "
                         "namelist value sebcal writes; set its use_file to .false.")
            old = cv[k] if k < len(cv) else None
            (patches["ancillaries.nml"].setdefault("jules_soil_props", {})
             .setdefault("const_val", {}))[k + 1] = float(value)
            items.append(Item(row, f"&JULES_SOIL_PROPS const_val({k + 1}) ('{name}')",
                              ctx.value(row.param), fitted, float(value), old,
                              _note(row, ctx)))
        else:
            arr = nveg.get(addr.key)
            if arr is None:
                raise ConfigError(f"template {ctx.templates['nveg_params.nml']}: "
                                  f"&JULES_NVEGPARM has no {addr.key} (JULES vn7 requires it)")
            arr = element_list(arr)
            old = arr[st - 1] if st <= len(arr) else None
            (patches["nveg_params.nml"].setdefault("jules_nvegparm", {})
             .setdefault(addr.key, {}))[st] = float(value)
            items.append(Item(row, f"&JULES_NVEGPARM {addr.key}({st})", ctx.value(row.param),
                              fitted, float(value), old, _note(row, ctx)))
    by_file: dict = {}
    for role in EDITED:
        if patches[role]:
            by_file.setdefault(ctx.templates[role], {}).update(patches[role])
    preps = {tpl: prepare_namelist(tpl, patch) for tpl, patch in by_file.items()}
    # the host-equivalence check sees both new files (or the templates where unedited)

    def parsed(role: str) -> Any:
        tpl = ctx.templates[role]
        return preps[tpl].parsed if tpl in preps else nmls[role]
    wrote = {it.row.param for it in items}
    eq = _equivalence(ctx, parsed("ancillaries.nml"), parsed("nveg_params.nml"), wrote)
    out = []
    for tpl, prep in preps.items():
        target = ctx.out_for(tpl)
        groups = {g.upper() for g in by_file[tpl]}
        mine = [it for it in items if any(g in it.where for g in groups)]
        commit_namelist(prep, target, header(ctx, "!", mine, VERSION, eq))
        out.append(target)
    ctx.cache["written"] = out
    return items, skipped


def _note(row: Row, ctx: Context) -> str:
    if row.param == "lambda":
        return (f"soilhc_method {ctx.cache['soilhc_method']}, saturation "
                f"{ctx.cache['saturation']:.3g} with sm_sat {ctx.cache['sm_sat']:g} "
                f"({ctx.cache['sm_sat_from']})")
    if row.param == "C":
        return (f"theta {_theta(ctx):.3g} with sm_sat {ctx.cache['sm_sat']:g} "
                f"({ctx.cache['sm_sat_from']})")
    return ""
