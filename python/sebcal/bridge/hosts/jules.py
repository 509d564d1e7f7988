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
"""

from __future__ import annotations

import math

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
    ctx.cache["const_val"] = list(props.get("const_val") or [])
    uf = props.get("use_file")
    ctx.cache["use_file"] = [bool(x) for x in (uf if isinstance(uf, list) else [uf] * len(var))] \
        if uf is not None else [False] * len(var)
    # which non-vegetated type is soil
    st = ctx.option("soil_type")
    if st is None and "jules_surface_types.nml" in nmls:
        types = group(nmls["jules_surface_types.nml"], "jules_surface_types",
                      ctx.templates["jules_surface_types.nml"])
        if "soil" in types and "npft" in types:
            st = int(types["soil"]) - int(types["npft"])
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
        got = soil.get("soilhc_method", 1)
        got = int(got[0] if isinstance(got, list) else got)
        if method is not None and method != got:
            raise ConfigError(f"--option soilhc_method={method} contradicts the template's "
                              f"&JULES_SOIL soilhc_method = {got}")
        method = got
    ctx.cache["soilhc_method"] = method
    # porosity and mean saturation for the moisture-matched conversions
    sm_sat = ctx.value("porosity")
    if sm_sat is None and "sm_sat" in var:
        k = var.index("sm_sat")
        sm_sat = ctx.cache["const_val"][k] if k < len(ctx.cache["const_val"]) else None
    ctx.cache["sm_sat"] = float(sm_sat[0] if isinstance(sm_sat, tuple) else sm_sat) \
        if sm_sat is not None else None
    theta = (ctx.cal.data.get("fit") or {}).get("soil_moisture_mean")
    sat = ctx.option("saturation")
    if sat is None and theta is not None and ctx.cache["sm_sat"]:
        sat = min(1.0, float(theta) / ctx.cache["sm_sat"])
    ctx.cache["saturation"] = sat
    return nmls


def _needs(ctx: Context, row: Row) -> None:
    if row.param in ("lambda", "C") and _constant(ctx):
        if ctx.cache["saturation"] is None or ctx.cache["sm_sat"] is None:
            raise ConfigError(f"export to jules: {row.param} needs the mean soil saturation "
                              "(the calibration had no soil moisture): give --option "
                              "saturation=S (theta/sm_sat) and sm_sat in the template")
        if row.param == "lambda" and ctx.cache["soilhc_method"] is None:
            raise ConfigError("export to jules: the conversion of lambda to hcon depends on "
                              "JULES's soilhc_method: give jules_soil.nml (&JULES_SOIL) as a "
                              "--template, or --option soilhc_method=1 (JULES's default) or 2")


def write(ctx: Context) -> tuple[list[Item], list[str]]:
    nmls = _prepare(ctx)
    for row in ROWS:
        if row.when(ctx) and ctx.value(row.param) is not None and (
                ctx.fitted(row.param) or ctx.include_fixed):
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
            albsnf = nveg.get("albsnf_nvg_io")
            if albsnf is not None and float(albsnf[st - 1]) != -1.0:
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
            while len(cv) <= k:
                cv.append(0.0)
            old = cv[k]
            cv[k] = float(value)
            patches["ancillaries.nml"].setdefault("jules_soil_props", {})["const_val"] = cv
            items.append(Item(row, f"&JULES_SOIL_PROPS const_val({k + 1}) ('{name}')",
                              ctx.value(row.param), fitted, float(value), old,
                              _note(row, ctx)))
        else:
            arr = nveg.get(addr.key)
            if arr is None:
                raise ConfigError(f"template {ctx.templates['nveg_params.nml']}: "
                                  f"&JULES_NVEGPARM has no {addr.key} (JULES vn7 requires it)")
            arr = list(arr) if isinstance(arr, list) else [arr]
            cur = patches["nveg_params.nml"].setdefault("jules_nvegparm", {}).get(addr.key, arr)
            old = cur[st - 1]
            cur = list(cur)
            cur[st - 1] = float(value)
            patches["nveg_params.nml"]["jules_nvegparm"][addr.key] = cur
            items.append(Item(row, f"&JULES_NVEGPARM {addr.key}({st})", ctx.value(row.param),
                              fitted, float(value), old, _note(row, ctx)))
    by_file: dict = {}
    for role in EDITED:
        if patches[role]:
            by_file.setdefault(ctx.templates[role], {}).update(patches[role])
    out = []
    for tpl, patch in by_file.items():
        target = ctx.out_for(tpl)
        groups = {g.upper() for g in patch}
        mine = [it for it in items if any(g in it.where for g in groups)]
        patch_namelist(tpl, patch, target, header(ctx, "!", mine, VERSION))
        out.append(target)
    ctx.cache["written"] = out
    return items, skipped


def _note(row: Row, ctx: Context) -> str:
    if row.param == "lambda":
        return (f"soilhc_method {ctx.cache['soilhc_method']}, saturation "
                f"{ctx.cache['saturation']:.3g}")
    if row.param == "C":
        return f"theta {_theta(ctx):.3g}"
    return ""
