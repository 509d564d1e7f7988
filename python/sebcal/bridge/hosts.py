"""Where sebcal's parameters live in each host land-surface model: the mapping table.

This module is the one place in code that says, for every host and every sebcal parameter,
which host entry receives it, in which unit, by which conversion, whether the host entry means
the same thing (``direct``), only approximately the same thing (``approximate``) or has no
counterpart (``none``), which values the host accepts, and where that was checked (a key of
:data:`SOURCES`). docs/hosts.md prints the same table (:func:`markdown_table` writes it).

Writers (:mod:`sebcal.bridge.writers`) walk :data:`MAPPINGS`; each :class:`Entry` carries an
``address`` that only the host's writer interprets (a namelist group and key, a NetCDF
variable, a YAML path).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

#: von Karman constant, specific gas constant of dry air [J kg-1 K-1], c_p of air [J kg-1 K-1]
KARMAN = 0.4
R_DRY = 287.04
CP_AIR = 1005.0

HOSTS = ("sebcal", "jules", "noahmp", "clm", "suews")

#: host -> one line saying what the exported file is
HOST_FILES = {
    "sebcal": "the scheme's own namelist (&sebcal_params, &sebcal_grid, &sebcal_options; "
              "docs/fortran.md), read by sebcal_scheme_init",
    "jules": "Fortran namelist groups &JULES_SOIL_PROPS (ancillaries.nml) and "
             "&JULES_NVEGPARM (nveg_params.nml)",
    "noahmp": "namelist-formatted Noah-MP parameter table (NoahmpTable.TBL): "
              "&noahmp_rad_parameters, &noahmp_general_parameters",
    "clm": "NetCDF surface data (fsurdat) urban impervious-road variables",
    "suews": "SUEWS YAML configuration, site properties land_cover.SURFACE",
}

#: citation key -> (what, where). docs/hosts.md lists the same keys.
SOURCES: dict[str, tuple[str, str]] = {
    "JULES-nveg": ("JULES user guide, nveg_params.nml (JULES_NVEGPARM members, units)",
                   "https://jules-lsm.github.io/latest/namelists/nveg_params.nml.html; "
                   "source github jules-lsm/jules-lsm.github.io "
                   "user_guide/doc/build/html/_sources/namelists/nveg_params.nml.rst.txt"),
    "JULES-anc": ("JULES user guide, ancillaries.nml (JULES_SOIL_PROPS: const_z, nvars, var, "
                  "use_file, const_val)",
                  "https://jules-lsm.github.io/vn4.1/namelists/ancillaries.nml.html"),
    "JULES-soil": ("JULES user guide, jules_soil.nml (soilhc_method 1-3; dzsoil_io: 'JULES "
                   "uses layer depths of 0.1, 0.25, 0.65 and 2.0m')",
                   "https://jules-lsm.github.io/vn4.0/namelists/jules_soil.nml.html, "
                   "https://jules-lsm.github.io/latest/namelists/jules_soil.nml.html"),
    "JULES-psparms": ("JULES source p_s_parms: HCAP 'Soil heat capacity (J/K/m3)', HCON "
                      "'Soil thermal conductivity (W/m/K)', ALBSOIL 'Soil albedo'",
                      "github purplecat7/JULES_trunk src/control/standalone/var/p_s_parms.F90"),
    "JULES-heatcon": ("JULES source heat_con: hcon is the 'Dry soil thermal conductivity "
                      "(W/m/K)', raised with soil water/ice; soilhc_method 3 uses "
                      "hcsat = (1 - 0.0134 ln hcon)/(-0.745 - ln hcon)",
                      "github purplecat7/JULES_trunk src/science/soil/heat_con_jls.F90"),
    "JULES-htc": ("JULES source soil_htc: hcapt = hcap + water and ice terms",
                  "JULES src/science/soil/soil_htc_jls.F90"),
    "JULES-example": ("JULES point-run namelists with JULES_SOIL_PROPS var = 'b' 'sathh' "
                      "'satcon' 'sm_sat' 'sm_crit' 'sm_wilt' 'hcap' 'hcon' 'albsoil'",
                      "public JULES python wrappers (julesNML templates) found by code search"),
    "NoahMP-table": ("Noah-MP v5 parameter table, namelist groups noahmp_rad_parameters "
                     "(ALBSAT_VIS/NIR, ALBDRY_VIS/NIR per soil colour, EG: 'emissivity soil "
                     "surface 1-soil;2-lake') and noahmp_general_parameters (CSOIL_DATA "
                     "'Soil heat capacity [J m-3 K-1]', ZBOT_DATA 'Depth [m] of lower "
                     "boundary soil temperature' = -8.0)",
                     "github NCAR/noahmp parameters/NoahmpTable.TBL"),
    "NoahMP-thermo": ("Noah-MP THERMOPROP: HCPCT = SH2O*CWAT + (1-SMCMAX)*CSOIL + "
                      "(SMCMAX-SMC)*CPAIR + SICE*CICE; conductivity from TDFCND (Johansen, "
                      "QTZ, SMCMAX); urban DF = 3.24",
                      "github NCAR/noahmp src/module_sf_noahmplsm.F (THERMOPROP)"),
    "NoahMP-urban": ("Noah-MP parameter init: 'if URBAN_FLAG then CSOIL = 3.0e6'",
                     "github NCAR/noahmp drivers (EnergyVarInitMod / NoahmpIO transfer)"),
    "HRLDAS-namelist": ("HRLDAS README.namelist: soil_thick_input 0.10, 0.30, 0.60, 1.00 "
                        "'Vector of soil layer thicknesses [in meters]'; TBOT_OPTION 2 "
                        "'TBOT at ZBOT (8m) read from a file'",
                        "github NCAR/hrldas hrldas/run/README.namelist"),
    "CTSM-urban": ("CTSM surface data urban variables TK_IMPROAD, CV_IMPROAD (numurbl, "
                   "nlevurb; 'W/m*K', 'J/m^3*K'), ALB_IMPROAD_DIR/DIF (numurbl, numrad), "
                   "EM_IMPROAD (numurbl), NLEV_IMPROAD",
                   "github ESCOMP/CTSM tools/mksurfdata_esmf/src/mkurbanparMod.F90 and "
                   "src/biogeophys/UrbanParamsType.F90 ('TK_IMPROAD NOT on fsurdat file')"),
    "SUEWS-yaml": ("SUEWS YAML configuration: site properties land_cover.SURFACE with alb, "
                   "emis and thermal_layers {dz [m], k [W m-1 K-1], heat capacity [J m-3 "
                   "K-1]}, values under 'value:'",
                   "github UMEP-dev/SUEWS src/supy/sample_run/sample_config.yml; "
                   "docs/source/inputs/yaml (ThermalLayers)"),
    "SUEWS-thermal": ("SUEWS data model ThermalLayers: the heat-capacity key differs between "
                      "SUEWS versions, 'cp', 'cv' or 'rho_cp', each described as 'Volumetric "
                      "heat capacity of each thermal layer' [J m^-3 K^-1]; five layers",
                      "SUEWS src/supy/data_model (surface.py) versions found by code search"),
    "SUEWS-ohm": ("UMEP discussion #581: with OHM the thermal properties are 'implicitly "
                  "incorporated within the OHM coefficients; only albedo and emissivity are "
                  "directly accounted for'", "github UMEP-dev/UMEP discussions/581"),
    "neutral": ("neutral bulk transfer: h = rho c_p U kappa^2 / [ln((z-d)/z0m) "
                "ln((z-d)/z0h)] (Monin-Obukhov similarity at zero stability)",
                "standard surface-layer theory; JULES z0hm_nvg_io 'generally assumed to be "
                "0.1' (JULES-nveg)"),
    "sebcal": ("sebcal namelist", "docs/fortran.md (this repository)"),
}


class NotApplicable(Exception):
    """A conversion that does not apply here: the entry is left unchanged, with this reason."""


@dataclass(frozen=True)
class Entry:
    """One row of the mapping table: a sebcal parameter and the host entry that receives it.

    Attributes:
        param: sebcal parameter (alpha, eps, lambda, C, T_b, h_eff, beta).
        location: the host entry, as a host user would name it.
        unit: the host entry's unit.
        kind: ``"direct"`` (same quantity, same unit), ``"approximate"`` (the documented
            approximation in ``conversion``; its limits in ``caveat``) or ``"none"`` (no
            counterpart: never written, the export says so).
        conversion: the unit conversion or formula, as text.
        caveat: what the user must know (printed as a warning for approximate/none entries
            and written into the file).
        sources: keys of :data:`SOURCES`.
        address: where the host writer puts it (writer-specific tuple).
        convert: (value in sebcal units, context) -> value in host units; raises
            :class:`NotApplicable` to leave the entry unchanged.
        valid: the host's accepted range (lo, hi), both exclusive unless ``closed``.
        closed: whether lo, hi are accepted.
        valid_note: why this range (host rule), for the error message.
    """

    param: str
    location: str
    unit: str
    kind: str
    conversion: str
    caveat: str
    sources: tuple[str, ...]
    address: tuple = ()
    convert: Callable[[float, Any], float] | None = field(default=None, repr=False)
    valid: tuple[float, float] = (-math.inf, math.inf)
    closed: tuple[bool, bool] = (True, True)
    valid_note: str = ""

    def to_host(self, value: float, ctx: Any) -> float:
        """The host value of ``value`` (sebcal units); :class:`NotApplicable` if none."""
        if self.kind == "none" or self.convert is None:
            raise NotApplicable(self.caveat)
        return float(self.convert(value, ctx))

    def host_std(self, value: float, std: float | None, ctx: Any) -> float | None:
        """Standard deviation in host units (linear propagation by central difference)."""
        if std is None or not math.isfinite(std):
            return None
        if self.convert is _same:
            return std
        step = 1e-6 * max(abs(value), 1e-12)
        try:
            d = (self.to_host(value + step, ctx) - self.to_host(value - step, ctx)) / (2 * step)
        except (NotApplicable, ValueError, ZeroDivisionError):
            return None
        return abs(d) * std

    def check_range(self, host_value: float, ctx: Any = None) -> None:
        """ConfigError when ``host_value`` is outside the host's accepted range.

        ``ctx.extra_limits`` may narrow the range for this entry from what the template
        says (e.g. JULES soilhc_method 3): location -> (lo, hi, why).
        """
        lo, hi = self.valid
        closed = self.closed
        note = self.valid_note
        extra = (getattr(ctx, "extra_limits", None) or {}).get(self.location)
        if extra is not None:
            lo, hi, note = max(lo, extra[0]), min(hi, extra[1]), extra[2]
            closed = (False, False)
        ok = math.isfinite(host_value)
        ok = ok and (host_value >= lo if closed[0] else host_value > lo)
        ok = ok and (host_value <= hi if closed[1] else host_value < hi)
        if not ok:
            lb = "[" if closed[0] else "("
            hb = "]" if closed[1] else ")"
            raise ConfigError(
                f"{self.location} = {host_value:.6g} [{self.unit}] (from {self.param}, "
                f"{self.conversion}) is outside the host's valid range {lb}{lo:.6g}, "
                f"{hi:.6g}{hb}{': ' + note if note else ''}; check the parameter value and "
                "the export options, or leave this entry to the host")


# ----------------------------------------------------------------------------- conversions

def _same(value: float, ctx: Any) -> float:
    return value


def rho_cp(ctx: Any) -> float:
    """Volumetric heat capacity of air rho c_p [J m-3 K-1] at the context's air state."""
    return ctx.air_density * CP_AIR


def z0_from_h(h: float, u: float, z: float, d: float, z0h_over_z0m: float,
              rho_cp_air: float) -> float:
    """Momentum roughness length z0m [m] whose neutral transfer coefficient is ``h``.

    Solves h = rho c_p U kappa^2 / [L (L - ln r)] for L = ln((z-d)/z0m), with z0h = r z0m
    (r <= 1): L = [ln r + sqrt(ln(r)^2 + 4A/h)] / 2, A = rho c_p U kappa^2.
    """
    if not (u > 0 and z - d > 0 and 0 < z0h_over_z0m <= 1 and h > 0):
        raise ValueError("needs u > 0, z > d, 0 < z0h/z0m <= 1 and h > 0")
    a = rho_cp_air * u * KARMAN ** 2
    lnr = math.log(z0h_over_z0m)
    big_l = 0.5 * (lnr + math.sqrt(lnr * lnr + 4.0 * a / h))
    return (z - d) * math.exp(-big_l)


def neutral_h(z0m: float, u: float, z: float, d: float, z0h_over_z0m: float,
              rho_cp_air: float) -> float:
    """Neutral sensible heat transfer coefficient rho c_p U kappa^2 / [ln ln] [W m-2 K-1]."""
    big_l = math.log((z - d) / z0m)
    return rho_cp_air * u * KARMAN ** 2 / (big_l * (big_l - math.log(z0h_over_z0m)))


def _z0(value: float, ctx: Any) -> float:
    """z0m from h_eff (or from h = h_eff beta/(1+beta) when the Bowen ratio is known)."""
    u = ctx.u_ref
    if u is None:
        raise NotApplicable("no reference wind speed: give --option u_ref=<m s-1> (the "
                            "forcing file has no Wind/Wind_N/Wind_E)")
    h = value if ctx.beta is None else value * ctx.beta / (1.0 + ctx.beta)
    return z0_from_h(h, u, ctx.z_ref, ctx.d, ctx.z0h_over_z0m, rho_cp(ctx))


def _csoil(value: float, ctx: Any) -> float:
    s = ctx.smcmax
    if s is None:
        return value
    return value / (1.0 - s) if s < 1.0 else math.inf


def _zbot(value: float, ctx: Any) -> float:
    depth = ctx.column_depth
    if depth <= ctx.noahmp_soil_depth:
        raise NotApplicable(
            f"sebcal's deep temperature T_b holds at the bottom of its {depth:g} m column, "
            f"which is not below the Noah-MP soil column ({ctx.noahmp_soil_depth:g} m, "
            "soil_thick_input); ZBOT_DATA must lie below it, so it is left unchanged. "
            f"Set TBOT = {ctx.params.T_b:.2f} K in the HRLDAS setup file only as an "
            "approximation (Noah-MP's TBOT is at ZBOT, default 8 m)")
    return -depth


# ------------------------------------------------------------------------------- the table

_BULK_NOTE = ("sebcal fits one bulk (effective) value for the whole column, moisture "
              "included")

_E = Entry
MAPPINGS: dict[str, tuple[Entry, ...]] = {
    "sebcal": (
        _E("alpha", "&sebcal_params alpha", "1", "direct", "x 1", "", ("sebcal",),
           ("sebcal_params", "alpha"), _same, (0.0, 1.0)),
        _E("eps", "&sebcal_params emissivity", "1", "direct", "x 1", "", ("sebcal",),
           ("sebcal_params", "emissivity"), _same, (0.0, 1.0), (False, True)),
        _E("lambda", "&sebcal_params lambda", "W m-1 K-1", "direct", "x 1", "", ("sebcal",),
           ("sebcal_params", "lambda"), _same, (0.0, math.inf), (False, False)),
        _E("C", "&sebcal_params heat_capacity", "J m-3 K-1", "direct", "x 1", "",
           ("sebcal",), ("sebcal_params", "heat_capacity"), _same, (0.0, math.inf),
           (False, False)),
        _E("T_b", "&sebcal_params t_bottom", "K", "direct", "x 1", "", ("sebcal",),
           ("sebcal_params", "t_bottom"), _same, (0.0, math.inf), (False, False)),
        _E("h_eff", "&sebcal_params h_eff", "W m-2 K-1", "direct", "x 1", "", ("sebcal",),
           ("sebcal_params", "h_eff"), _same, (0.0, math.inf), (False, False)),
        _E("beta", "&sebcal_params bowen", "1", "direct", "x 1", "", ("sebcal",),
           ("sebcal_params", "bowen"), _same, (0.0, math.inf), (False, False)),
    ),
    "jules": (
        _E("lambda", "&JULES_SOIL_PROPS const_val of var 'hcon'", "W m-1 K-1", "approximate",
           "hcon = lambda (x 1)",
           "JULES hcon is the DRY-soil conductivity, which heat_con raises with soil water "
           "and ice (soilhc_method 1-3); " + _BULK_NOTE + ", so in moist soil JULES will "
           "conduct more than the fit (exact only for dry soil)",
           ("JULES-anc", "JULES-psparms", "JULES-heatcon", "JULES-example"),
           ("jules_soil_props", "var", "hcon"), _same, (0.0, math.inf), (False, False)),
        _E("C", "&JULES_SOIL_PROPS const_val of var 'hcap'", "J m-3 K-1", "approximate",
           "hcap = C (x 1)",
           "JULES hcap is the DRY-soil heat capacity; soil_htc adds the capacity of soil "
           "water and ice; " + _BULK_NOTE,
           ("JULES-anc", "JULES-psparms", "JULES-htc", "JULES-example"),
           ("jules_soil_props", "var", "hcap"), _same, (0.0, math.inf), (False, False)),
        _E("alpha", "&JULES_SOIL_PROPS const_val of var 'albsoil'", "1", "direct",
           "albsoil = alpha (x 1)",
           "broadband snow-free soil albedo; JULES also uses it under vegetation",
           ("JULES-anc", "JULES-psparms", "JULES-example"),
           ("jules_soil_props", "var", "albsoil"), _same, (0.0, 1.0)),
        _E("alpha", "&JULES_NVEGPARM albsnf_nvg_io(tile)", "1", "direct",
           "albsnf_nvg_io = alpha (x 1)",
           "snow-free albedo of the non-vegetated tile; a template value of -1.0 (albedo "
           "from the soil ancillary) is kept, albsoil then carries alpha",
           ("JULES-nveg",), ("jules_nvegparm", "tile", "albsnf_nvg_io"), _same, (0.0, 1.0)),
        _E("eps", "&JULES_NVEGPARM emis_nvg_io(tile)", "1", "direct",
           "emis_nvg_io = eps (x 1)", "", ("JULES-nveg",),
           ("jules_nvegparm", "tile", "emis_nvg_io"), _same, (0.0, 1.0), (False, True)),
        _E("h_eff", "&JULES_NVEGPARM z0_nvg_io(tile)", "m", "approximate",
           "neutral: z0m from h = rho c_p U kappa^2 / [ln((z-d)/z0m) ln((z-d)/z0h)], "
           "z0h = z0hm_nvg_io z0m, h = h_eff (h_eff beta/(1+beta) with a Bowen ratio)",
           "h_eff has no one-to-one JULES parameter: JULES computes the transfer "
           "coefficient from z0 and stability each step; this z0 reproduces h_eff only in "
           "neutral conditions at the stated reference wind speed and height, and h_eff "
           "also carries the latent heat when the Bowen ratio is unknown",
           ("JULES-nveg", "neutral"), ("jules_nvegparm", "tile", "z0_nvg_io"), _z0,
           (0.0, math.inf), (False, False), "roughness length must be positive"),
        _E("C", "&JULES_NVEGPARM ch_nvg_io(tile)", "J K-1 m-2", "none", "-",
           "ch_nvg_io is an AREAL heat capacity (J K-1 m-2) of a surface 'canopy' layer used "
           "only with can_model 3 or 4, not the soil's volumetric C; left unchanged",
           ("JULES-nveg",), ("jules_nvegparm", "tile", "ch_nvg_io")),
        _E("T_b", "(none)", "K", "none", "-",
           "JULES has no deep-temperature parameter: its soil column (3 m with the "
           "standard layers) has a zero-flux base; T_b could only seed t_soil in "
           "JULES_INITIAL", ("JULES-soil",)),
        _E("beta", "(none)", "1", "none", "-",
           "JULES computes the latent heat flux from soil moisture and surface "
           "conductance; the Bowen ratio is not a parameter", ("JULES-nveg",)),
    ),
    "noahmp": (
        _E("C", "&noahmp_general_parameters CSOIL_DATA", "J m-3 K-1", "approximate",
           "CSOIL_DATA = C (x 1), or C / (1 - SMCMAX) with --option smcmax=...",
           "Noah-MP's CSOIL is the heat capacity of the soil SOLIDS: HCPCT = SH2O*CWAT + "
           "(1-SMCMAX)*CSOIL + (SMCMAX-SMC)*CPAIR + SICE*CICE; with smcmax given, C/(1-SMCMAX)"
           " reproduces C in dry soil; urban points use CSOIL = 3.0e6 regardless",
           ("NoahMP-table", "NoahMP-thermo", "NoahMP-urban"),
           ("noahmp_general_parameters", "scalar", "csoil_data"), _csoil, (0.0, math.inf),
           (False, False), "a heat capacity must be positive (smcmax must be < 1)"),
        _E("alpha", "&noahmp_rad_parameters ALBSAT_VIS(colour)", "1", "approximate",
           "ALBSAT_VIS = alpha (x 1)",
           "broadband albedo written to both bands (VIS, NIR) and both wetness end members "
           "(saturated, dry) of one soil colour class, so Noah-MP's soil albedo no longer "
           "varies with band or top-soil moisture", ("NoahMP-table",),
           ("noahmp_rad_parameters", "soil_color", "albsat_vis"), _same, (0.0, 1.0)),
        _E("alpha", "&noahmp_rad_parameters ALBSAT_NIR(colour)", "1", "approximate",
           "ALBSAT_NIR = alpha (x 1)", "as ALBSAT_VIS", ("NoahMP-table",),
           ("noahmp_rad_parameters", "soil_color", "albsat_nir"), _same, (0.0, 1.0)),
        _E("alpha", "&noahmp_rad_parameters ALBDRY_VIS(colour)", "1", "approximate",
           "ALBDRY_VIS = alpha (x 1)", "as ALBSAT_VIS", ("NoahMP-table",),
           ("noahmp_rad_parameters", "soil_color", "albdry_vis"), _same, (0.0, 1.0)),
        _E("alpha", "&noahmp_rad_parameters ALBDRY_NIR(colour)", "1", "approximate",
           "ALBDRY_NIR = alpha (x 1)", "as ALBSAT_VIS", ("NoahMP-table",),
           ("noahmp_rad_parameters", "soil_color", "albdry_nir"), _same, (0.0, 1.0)),
        _E("eps", "&noahmp_rad_parameters EG(1)", "1", "direct", "EG(1) = eps (x 1)",
           "EG(1) is the soil-surface emissivity (EG(2) is lake)", ("NoahMP-table",),
           ("noahmp_rad_parameters", "first", "eg"), _same, (0.0, 1.0), (False, True)),
        _E("T_b", "&noahmp_general_parameters ZBOT_DATA", "m", "approximate",
           "ZBOT_DATA = -(sebcal column depth); TBOT itself is in the HRLDAS setup file",
           "Noah-MP holds TBOT at depth ZBOT below its soil column (default -8 m); sebcal's "
           "T_b holds at its own column bottom. The table carries only the depth",
           ("NoahMP-table", "HRLDAS-namelist"),
           ("noahmp_general_parameters", "scalar", "zbot_data"), _zbot, (-math.inf, 0.0),
           (False, False), "ZBOT_DATA is a depth below the surface, negative"),
        _E("lambda", "(none)", "W m-1 K-1", "none", "-",
           "Noah-MP has no conductivity parameter: TDFCND computes it from quartz content "
           "QTZ and porosity SMCMAX (Johansen); urban points use DF = 3.24", ("NoahMP-thermo",)),
        _E("h_eff", "(none; Z0MVT / Z0SOIL roughness)", "m", "none", "-",
           "Noah-MP computes transfer coefficients from roughness (Z0MVT per vegetation "
           "type, Z0SOIL for bare soil) and stability; the neutral z0 equivalent of h_eff is "
           "reported in the file as a suggestion only", ("NoahMP-table", "neutral")),
        _E("beta", "(none)", "1", "none", "-",
           "Noah-MP computes evaporation from soil moisture; the Bowen ratio is not a "
           "parameter", ("NoahMP-table",)),
    ),
    "clm": (
        _E("lambda", "TK_IMPROAD(nlevurb, numurbl)", "W m-1 K-1", "approximate",
           "TK_IMPROAD = lambda (x 1) in the impervious-road layers (1..NLEV_IMPROAD)",
           "CLM's impervious road is one urban surface; pervious road and soil compute "
           "their conductivity from texture (no parameter); " + _BULK_NOTE,
           ("CTSM-urban",), ("levels", "TK_IMPROAD"), _same, (0.0, math.inf), (False, False)),
        _E("C", "CV_IMPROAD(nlevurb, numurbl)", "J m-3 K-1", "approximate",
           "CV_IMPROAD = C (x 1) in the impervious-road layers (1..NLEV_IMPROAD)",
           "as TK_IMPROAD", ("CTSM-urban",), ("levels", "CV_IMPROAD"), _same,
           (0.0, math.inf), (False, False)),
        _E("alpha", "ALB_IMPROAD_DIR(numrad, numurbl)", "1", "approximate",
           "ALB_IMPROAD_DIR = alpha (x 1), both bands",
           "broadband albedo written to the visible and near-infrared bands",
           ("CTSM-urban",), ("bands", "ALB_IMPROAD_DIR"), _same, (0.0, 1.0)),
        _E("alpha", "ALB_IMPROAD_DIF(numrad, numurbl)", "1", "approximate",
           "ALB_IMPROAD_DIF = alpha (x 1), both bands", "as ALB_IMPROAD_DIR",
           ("CTSM-urban",), ("bands", "ALB_IMPROAD_DIF"), _same, (0.0, 1.0)),
        _E("eps", "EM_IMPROAD(numurbl)", "1", "direct", "EM_IMPROAD = eps (x 1)", "",
           ("CTSM-urban",), ("class", "EM_IMPROAD"), _same, (0.0, 1.0), (False, True)),
        _E("h_eff", "(none)", "W m-2 K-1", "none", "-",
           "CLM urban transfer follows from roughness and displacement of the canyon "
           "geometry; no transfer-coefficient entry", ("CTSM-urban",)),
        _E("T_b", "(none)", "K", "none", "-",
           "the surface data hold no deep soil temperature", ("CTSM-urban",)),
        _E("beta", "(none)", "1", "none", "-", "not a CLM parameter", ("CTSM-urban",)),
    ),
    "suews": (
        _E("alpha", "land_cover.SURFACE.alb", "1", "direct", "alb = alpha (x 1)", "",
           ("SUEWS-yaml",), ("surface", "alb"), _same, (0.0, 1.0)),
        _E("eps", "land_cover.SURFACE.emis", "1", "direct", "emis = eps (x 1)", "",
           ("SUEWS-yaml",), ("surface", "emis"), _same, (0.0, 1.0), (False, True)),
        _E("lambda", "land_cover.SURFACE.thermal_layers.k (every layer)", "W m-1 K-1",
           "approximate", "k = lambda (x 1) in all five layers",
           "used only by storage-heat methods that resolve conduction (ESTM/EHC); the "
           "default OHM does not use k or the heat capacity; dz is left as in the template",
           ("SUEWS-yaml", "SUEWS-thermal", "SUEWS-ohm"), ("layers", "k"), _same,
           (0.0, math.inf), (False, False)),
        _E("C", "land_cover.SURFACE.thermal_layers.rho_cp (or cv, cp; every layer)",
           "J m-3 K-1", "approximate", "rho_cp = C (x 1) in all five layers",
           "as k; the key is whichever of rho_cp, cv, cp the template uses (rho_cp without a "
           "template)", ("SUEWS-yaml", "SUEWS-thermal", "SUEWS-ohm"),
           ("layers", "heat_capacity"), _same, (0.0, math.inf), (False, False)),
        _E("h_eff", "(none)", "W m-2 K-1", "none", "-",
           "SUEWS computes turbulent fluxes from roughness (z0m_in, zdm_in) and its "
           "resistance scheme", ("SUEWS-yaml",)),
        _E("T_b", "(none)", "K", "none", "-", "no deep-temperature parameter in the site "
           "properties", ("SUEWS-yaml",)),
        _E("beta", "(none)", "1", "none", "-", "not a SUEWS parameter", ("SUEWS-yaml",)),
    ),
}

#: host soil layer thicknesses [m] used by ``sebcal transfer`` (source key)
LAYERS: dict[str, tuple[tuple[float, ...], str]] = {
    "jules": ((0.1, 0.25, 0.65, 2.0), "JULES-soil"),
    "noahmp": ((0.1, 0.3, 0.6, 1.0), "HRLDAS-namelist"),
}


def check_host(host: str) -> str:
    """``host`` if known, else a ConfigError naming the nearest host."""
    if host in HOSTS:
        return host
    near = difflib.get_close_matches(str(host).lower(), HOSTS, n=1, cutoff=0.4)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    raise ConfigError(f"unknown host '{host}'{hint}; choose one of {', '.join(HOSTS)}")


def entries(host: str, params_present: Mapping[str, Any] | None = None) -> tuple[Entry, ...]:
    """The mapping rows of a host (rows of parameters absent from params.json dropped)."""
    rows = MAPPINGS[check_host(host)]
    if params_present is None:
        return rows
    return tuple(e for e in rows if params_present.get(e.param) is not None)


def markdown_table(host: str) -> str:
    """The mapping rows of ``host`` as a Markdown table (docs/hosts.md)."""
    lines = ["| sebcal | host entry | unit | kind | conversion | caveat | source |",
             "|---|---|---|---|---|---|---|"]
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    for e in MAPPINGS[check_host(host)]:
        lines.append("| " + " | ".join(cell(c) for c in (
            e.param, e.location, e.unit, e.kind, e.conversion, e.caveat or "-",
            ", ".join(f"`{k}`" for k in e.sources))) + " |")
    return "\n".join(lines)
