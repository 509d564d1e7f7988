"""The scheme's vocabulary: every parameter, option, forcing variable and flux, declared once.

This is the bottom layer of sebcal: it imports nothing from the package. Everything else
(configuration schema, Fortran binding, PyTorch mirror, calibration space, reports, params.json,
host exports) reads its names, units, bounds and slots from here, and
``tests/test_vocabulary.py`` checks the Fortran slots against ``fortran/sebcal_const.f90``.

Names are the ones users write in config files and read in params.json: ``lambda`` is the soil
thermal conductivity everywhere (Python code that needs an identifier uses ``params["lambda"]``).
The equations each parameter enters are numbered in docs/theory.md.

Adding a fitted parameter (docs/architecture.md walks through it): one :class:`Parameter` entry
here (its Fortran slot included), the slot constant in ``fortran/sebcal_const.f90``, and the
physics that uses it (Fortran ``sebcal_surface.f90`` / ``sebcal_soil.f90`` and
:mod:`sebcal.physics`). The configuration, calibration space, reports and params.json pick it
up from this table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "CONSTANTS", "CSDMS_NAMES", "FLUXES", "FORCING", "OPTIONS", "PARAMETERS", "Condition", "Flux",
    "ForcingVariable", "Option", "Parameter", "SETTINGS", "default_options", "needed",
    "parameter", "resolve_alias",
]


#: Physical constants shared by the Fortran scheme and the PyTorch mirror (SI). The Fortran
#: values in sebcal_const.f90 are checked against these by a test (through the API).
CONSTANTS: dict[str, tuple[float, str, str]] = {
    "sigma": (5.67e-8, "W m-2 K-4", "Stefan-Boltzmann constant, the published model's value"),
    "karman": (0.40, "1", "von Karman constant (Noah-MP ConstVonKarman)"),
    "gravity": (9.80616, "m s-2", "gravitational acceleration (Noah-MP ConstGravityAcc)"),
    "r_dry": (287.04, "J kg-1 K-1", "gas constant of dry air (Noah-MP ConstGasDryAir)"),
    "cp_air": (1004.64, "J kg-1 K-1", "specific heat of dry air (Noah-MP ConstHeatCapacAir)"),
    "lv": (2.5104e6, "J kg-1", "latent heat of vaporisation (Noah-MP ConstLatHeatEvap)"),
    "c_water": (4.188e6, "J m-3 K-1", "volumetric heat capacity of liquid water "
                                       "(Noah-MP ConstHeatCapacWater)"),
    "lambda_water": (0.57, "W m-1 K-1", "thermal conductivity of liquid water "
                                        "(Noah-MP, CLM tkwat)"),
    "t_freeze": (273.16, "K", "freezing point of water (Noah-MP ConstFreezePoint)"),
    "l_fusion": (0.3336e6, "J kg-1", "latent heat of fusion (Noah-MP ConstLatHeatFusion)"),
    "rho_water": (1000.0, "kg m-3", "density of liquid water (Noah-MP ConstDensityWater)"),
    "c_ice": (2.094e6, "J m-3 K-1", "volumetric heat capacity of ice (Noah-MP "
                                     "ConstHeatCapacIce)"),
    "lambda_ice": (2.2, "W m-1 K-1", "thermal conductivity of ice (Noah-MP "
                                     "ConstThermConductIce, CLM tkice)"),
}

# ------------------------------------------------------------------------------ conditions

#: A condition on the options: a mapping option -> allowed choices, all of which must hold.
Condition = Mapping[str, tuple[str, ...]]


def _holds(cond: Condition, options: Mapping[str, str]) -> bool:
    return all(options.get(k) in v for k, v in cond.items())


# ------------------------------------------------------------------------------ options


@dataclass(frozen=True)
class Option:
    """A model option. ``choices`` are in the order of their Fortran codes (1, 2, ...).

    Attributes:
        name: the config key.
        table: the config table it is written in.
        choices: the allowed values; choice k has Fortran code k + 1.
        default: the published model's choice.
        slot: index in the Fortran option vector ``iopt`` (sebcal_const.f90 ``io_*``).
        description: one line for docs and error messages.
        meaning: choice -> what it does (docs/config.md prints these).
    """

    name: str
    table: str
    choices: tuple[str, ...]
    default: str
    slot: int
    description: str
    meaning: Mapping[str, str] = field(default_factory=dict)

    def code(self, choice: str) -> int:
        """Fortran code of ``choice`` (1-based)."""
        return self.choices.index(choice) + 1


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("solver", "solver", ("direct", "jacobi"), "direct", 1,
           "solver of each implicit step",
           {"direct": "Thomas elimination and a safeguarded Newton iteration on the surface "
                      "equation, converged to tol (default 1e-10 K)",
            "jacobi": "the published Jacobi sweep iteration (stops on an increment of tol, "
                      "1e-4 K); only with the published model's options"}),
    Option("longwave", "physics", ("paper", "kirchhoff"), "paper", 2,
           "longwave treatment at the surface (eq. 3)",
           {"paper": "all of L_down absorbed, eps sigma Ts^4 emitted (the published model)",
            "kirchhoff": "eps L_down absorbed, (1 - eps) L_down reflected"}),
    Option("bottom", "physics", ("dirichlet", "zero_flux", "series"), "dirichlet", 3,
           "bottom boundary condition (eq. 9)",
           {"dirichlet": "T = T_b at the bottom node",
            "zero_flux": "no heat flux through the bottom (JULES, CLM)",
            "series": "T at the bottom node follows a prescribed series ([forcing.bottom])"}),
    Option("init", "initial", ("uniform", "profile", "spinup"), "uniform", 4,
           "initial soil temperature",
           {"uniform": "T = T_b everywhere (or T_init when it is fitted)",
            "profile": "a given temperature at every node",
            "spinup": "repeat the first day from T_b until the profile is periodic"}),
    Option("turbulence", "physics", ("h_eff", "bulk"), "h_eff", 5,
           "turbulent heat exchange (eq. 4-5)",
           {"h_eff": "the published h_eff (Ts - Ta), h_eff = h (1 + 1/beta)",
            "bulk": "H = rho c_p (Ts - Ta)/r_a with r_a from wind, measurement height and "
                    "roughness lengths (JULES, Noah-MP, CLM)"}),
    Option("stability", "physics", ("neutral", "most"), "neutral", 6,
           "stability correction of r_a (turbulence = \"bulk\")",
           {"neutral": "neutral log profile",
            "most": "Monin-Obukhov similarity as Noah-MP ResistanceBareGroundMOST (SFCDIF1): "
                    "Paulson unstable, -5 zeta stable, five iterations"}),
    Option("latent", "physics", ("none", "resistance"), "none", 7,
           "latent heat (turbulence = \"bulk\")",
           {"none": "no latent heat",
            "resistance": "LE = rho L_v (q_sat(Ts) - q_a)/(r_a + r_s)"}),
    Option("surface_resistance", "physics", ("constant", "soil_moisture"), "constant", 8,
           "surface resistance r_s to evaporation (latent = \"resistance\")",
           {"constant": "r_s a fitted constant",
            "soil_moisture": "r_s = exp(rs_a - rs_b theta_top/porosity) (Sellers et al. 1992; "
                             "Noah-MP OptGroundResistanceEvap = 2)"}),
    Option("canopy", "physics", ("none", "transmission", "lai"), "none", 9,
           "radiation reaching the soil under a canopy (eq. 2-3)",
           {"none": "the soil receives the full radiation",
            "transmission": "fitted transmitted fractions tau_sw, tau_lw",
            "lai": "tau = exp(-k_ext LAI) with LAI given ([site] lai or the forcing)"}),
    Option("soil_thermal", "physics", ("constant", "johansen"), "constant", 10,
           "soil thermal properties (eq. 10-12)",
           {"constant": "lambda and C per soil layer",
            "johansen": "lambda(theta), C(theta) from observed soil moisture (Johansen; "
                        "Noah-MP, CLM, JULES soilhc_method 2)"}),
    Option("top", "physics", ("seb", "temperature", "flux"), "seb", 11,
           "top boundary condition (eq. 2, 13)",
           {"seb": "the surface energy balance (the published model)",
            "temperature": "the top node follows an observed temperature ([forcing.top])",
            "flux": "an observed heat flux enters the top node ([forcing.top])"}),
    Option("freezing", "physics", ("none", "niu_yang", "linear"), "none", 14,
           "freeze-thaw of the soil water with latent heat of fusion (eq. 15-17)",
           {"none": "the soil water stays liquid (the published model)",
            "niu_yang": "supercooled liquid water from the freezing-point depression (Niu and "
                        "Yang 2006; Noah-MP OptSoilSupercoolWater = 1), latent heat solved in "
                        "the step's Newton iteration",
            "linear": "liquid fraction linear over dT_freeze below 273.16 K (an idealised "
                      "curve: the sharp front of the Stefan problem as dT_freeze -> 0)"}),
    Option("time_scheme", "solver", ("backward_euler", "crank_nicolson"), "backward_euler",
           0, "time stepping (eq. 8): theta = 1 or 1/2",
           {"backward_euler": "the published implicit Euler step (theta = 1)",
            "crank_nicolson": "theta = 1/2 (CLM cnfac = 0.5), second order in time"}),
)}

#: Integer and real settings passed to Fortran beside the options (slot in iopt / rset).
SETTINGS = {
    "max_iter": ("iopt", 12), "spinup_max_cycles": ("iopt", 13),
    "tol": ("rset", 1), "theta": ("rset", 2), "spinup_tol": ("rset", 3), "wind_min": ("rset", 4),
    "sigma": ("rset", 5),
}
NOPT = 14
NRSET = 5

#: solver defaults: tolerance [K] and iteration limit per step
SOLVER_DEFAULTS = {"direct": (1e-10, 50), "jacobi": (1e-4, 100000)}
#: the time-weight theta of each time scheme
THETA = {"backward_euler": 1.0, "crank_nicolson": 0.5}
#: lower limit of the wind speed in r_a [m s-1] (Noah-MP and CLM use max(U, 1 m s-1))
WIND_MIN = 1.0
#: the options the published Jacobi iteration supports (the Fortran's check_jacobi refuses the
#: others): option -> the choices it allows
JACOBI_OPTIONS: dict[str, tuple[str, ...]] = {
    "top": ("seb",), "turbulence": ("h_eff",), "canopy": ("none",),
    "soil_thermal": ("constant",), "bottom": ("dirichlet", "zero_flux"),
    "time_scheme": ("backward_euler",)}


def jacobi_conflicts(options: dict[str, str]) -> list[str]:
    """The options (``"name = 'choice'"``) that the Jacobi solver cannot run; empty for
    another solver or a combination it supports."""
    if options.get("solver") != "jacobi":
        return []
    return [f"{k} = '{options[k]}'" for k, allowed in JACOBI_OPTIONS.items()
            if k in options and options[k] not in allowed]


#: deepest soil node or sensor sebcal accepts [m]: host soil columns reach ~3 m (JULES,
#: Noah-MP) to ~42 m (CLM's bedrock layers), and the annual temperature wave is damped within
#: ~20 m; a deeper value is a unit or typing mistake
MAX_DEPTH = 100.0


def default_options() -> dict[str, str]:
    """Every option at the published model's choice."""
    return {name: o.default for name, o in OPTIONS.items()}


# ------------------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class Parameter:
    """One parameter of the scheme.

    Attributes:
        name: the name in configs, params.json, reports and the PyTorch mirror.
        symbol: the symbol in docs/theory.md.
        unit: SI unit (UDUNITS spelling).
        long_name: what it is.
        group: ``"surface"`` (one value, Fortran vector ``psurf``), ``"soil"`` (one value per
            soil layer, Fortran rows ``psoil``), ``"site"`` (a fixed property of the site,
            from ``[site]``) or ``"state"`` (an initial state, not a Fortran parameter).
        slot: 1-based index in ``psurf`` or row of ``psoil`` (0 for state parameters).
        bounds: the physical bounds (lo, hi); the model refuses values outside.
        closed: whether lo and hi themselves are allowed.
        plausible: the range typical of soils and land surfaces; a fit outside it is not
            usable for a host without a reason (calibration verdict).
        prior: default range of calibration starts (and of the prior when one is asked for).
        calib: default calibration bounds, enforced by the transform; inside ``bounds``.
        scale: ``"log"`` (positive, spans decades) or ``"linear"`` for the transform.
        default: value used when the config does not give one (None: required when used).
        used: the option conditions under which the model uses it (any one suffices).
        aliases: other names accepted in configs and params.json.
        fittable: whether ``[calibration] free`` may name it.
        equation: equation number(s) in docs/theory.md.
        source: where bounds and ranges come from.
        nml: its member name in the scheme's namelist (&sebcal_params / &sebcal_soil of
            fortran/sebcal_namelist.f90), when it differs from the lower-case name.
    """

    name: str
    symbol: str
    unit: str
    long_name: str
    group: str
    slot: int
    bounds: tuple[float, float]
    closed: tuple[bool, bool]
    plausible: tuple[float, float]
    prior: tuple[float, float]
    calib: tuple[float, float]
    scale: str
    default: float | None
    used: tuple[Condition, ...]
    aliases: tuple[str, ...] = ()
    fittable: bool = True
    equation: str = ""
    source: str = ""
    nml: str = ""

    @property
    def nml_name(self) -> str:
        """The member name in the scheme's namelist."""
        return self.nml or self.name.lower()

    def is_used(self, options: Mapping[str, str]) -> bool:
        """Whether the model uses this parameter with these options."""
        return any(_holds(c, options) for c in self.used)

    def in_bounds(self, value: float) -> bool:
        lo, hi = self.bounds
        if not math.isfinite(value):
            return False
        ok_lo = value >= lo if self.closed[0] else value > lo
        ok_hi = value <= hi if self.closed[1] else value < hi
        return ok_lo and ok_hi

    def bounds_text(self) -> str:
        lb = "[" if self.closed[0] else "("
        hb = "]" if self.closed[1] else ")"
        return f"{lb}{self.bounds[0]:g}, {self.bounds[1]:g}{hb}"


_SEB = {"top": ("seb",)}
_BULK = {"top": ("seb",), "turbulence": ("bulk",)}
_ALWAYS: tuple[Condition, ...] = ({},)
_OKE = "Oke et al. (2017) Urban Climates, table A3.1; Farouki (1981)"

PARAMETERS: dict[str, Parameter] = {p.name: p for p in (
    # ---- surface (psurf)
    Parameter("alpha", "alpha", "1", "surface albedo", "surface", 1, (0.0, 1.0), (True, True),
              (0.05, 0.45), (0.05, 0.5), (0.01, 0.95), "linear", None, (_SEB,),
              equation="2", source="published prior; " + _OKE),
    Parameter("eps", "epsilon", "1", "surface emissivity", "surface", 2, (0.5, 1.0),
              (True, True), (0.85, 1.0), (0.9, 0.99), (0.8, 1.0), "linear", 0.95, (_SEB,),
              aliases=("emissivity",), equation="3", source=_OKE, nml="emissivity"),
    Parameter("h_eff", "h_eff", "W m-2 K-1", "turbulent transfer coefficient h (1 + 1/beta)",
              "surface", 3, (0.0, 1.0e4), (False, True), (2.0, 300.0), (6.45, 30.35),
              (0.5, 2000.0), "log", None, ({"top": ("seb",), "turbulence": ("h_eff",)},),
              aliases=("hb", "h_beta"), equation="4",
              source="rho c_p / r_a with r_a 10-500 s m-1, times (1 + 1/beta); published prior"),
    Parameter("beta", "beta", "1", "Bowen ratio Qh/Qle (splits h_eff; optional)", "surface",
              4, (1.0e-3, 1.0e4), (True, True), (0.05, 20.0), (0.5, 5.0), (0.01, 100.0), "log",
              None, (), aliases=("bowen",), equation="5",
              source="published prior; below 1e-3 (wetter than open water) it is not a Bowen "
                     "ratio but a unit or sign mistake",
              nml="bowen"),
    Parameter("T_b", "T_b", "K", "deep soil temperature (bottom boundary, uniform initial "
              "state)", "surface", 5, (150.0, 400.0), (False, False), (220.0, 330.0),
              (290.0, 303.0), (200.0, 350.0), "linear", None,
              ({"bottom": ("dirichlet",)}, {"init": ("uniform", "spinup")}),
              aliases=("Tb", "t_bottom"), equation="9",
              source="Earth surface temperatures; published prior", nml="t_bottom"),
    Parameter("z0m", "z_0m", "m", "roughness length for momentum", "surface", 6,
              (0.0, 10.0), (False, True), (1.0e-4, 3.0), (1.0e-3, 0.5), (1.0e-5, 5.0), "log",
              None, (_BULK,), aliases=("z0",), equation="6",
              source="bare soil 1e-4-1e-2 m, crops and grass 0.01-0.2 m, suburbs 0.3-2 m "
                     "(Oke et al. 2017, table 2.2; Grimmond and Oke 1999)"),
    Parameter("z0h_ratio", "z_0h/z_0m", "1", "ratio of the heat to the momentum roughness "
              "length (JULES z0hm_nvg_io)", "surface", 7, (0.0, 10.0), (False, True),
              (1.0e-9, 1.0), (1.0e-3, 0.5), (1.0e-10, 1.0), "log", 0.1, (_BULK,),
              equation="6", source="kB^-1 = ln(z0m/z0h) from 0 to ~20 (Kanda et al. 2007); "
                                   "JULES default 0.1"),
    Parameter("d0", "d", "m", "zero-plane displacement height", "site", 8, (0.0, 200.0),
              (True, False), (0.0, 30.0), (0.1, 5.0), (0.0, 50.0), "linear", 0.0, (_BULK,),
              aliases=("displacement_height",), equation="6",
              source="about 2/3 of the obstacle height"),
    Parameter("z_ref", "z", "m", "measurement height of wind and air temperature above "
              "ground", "site", 9, (0.0, 1000.0), (False, False), (0.5, 500.0), (2.0, 50.0),
              (0.5, 500.0), "log", None, (_BULK,), aliases=("measurement_height",),
              fittable=False, equation="6", source="the tower"),
    Parameter("r_s", "r_s", "s m-1", "surface resistance to evaporation", "surface", 10,
              (0.0, 1.0e6), (True, True), (0.0, 5000.0), (20.0, 1000.0), (0.1, 1.0e5), "log",
              None, ({**_BULK, "latent": ("resistance",),
                      "surface_resistance": ("constant",)},), equation="7",
              source="wet soil ~0-50, crops 50-200, dry soil 500-5000 s m-1 (Kelliher et al. "
                     "1995; Sellers et al. 1992)"),
    Parameter("rs_a", "a_s", "1", "ln r_s of dry soil in r_s = exp(a_s - b_s theta/porosity)",
              "surface", 11, (0.0, 20.0), (True, True), (5.0, 12.0), (6.0, 10.0), (1.0, 15.0),
              "linear", 8.25, ({**_BULK, "latent": ("resistance",),
                                "surface_resistance": ("soil_moisture",)},), equation="7",
              source="Noah-MP OptGroundResistanceEvap = 2: exp(8.25 - 4.225 S)"),
    Parameter("rs_b", "b_s", "1", "moisture sensitivity b_s of r_s", "surface", 12,
              (0.0, 20.0), (True, True), (1.0, 10.0), (2.0, 8.0), (0.1, 15.0), "linear", 4.225,
              ({**_BULK, "latent": ("resistance",), "surface_resistance": ("soil_moisture",)},),
              equation="7", source="Noah-MP OptGroundResistanceEvap = 2"),
    Parameter("tau_sw", "tau_sw", "1", "fraction of net shortwave reaching the soil under the "
              "canopy", "surface", 13, (0.0, 1.0), (False, True), (0.02, 1.0), (0.1, 0.9),
              (0.005, 1.0), "linear", 1.0, ({**_SEB, "canopy": ("transmission",)},),
              equation="2", source="exp(-0.5 LAI) for LAI 0-8"),
    Parameter("tau_lw", "tau_lw", "1", "fraction of the longwave exchange reaching the soil "
              "under the canopy", "surface", 14, (0.0, 1.0), (False, True), (0.02, 1.0),
              (0.1, 0.9), (0.005, 1.0), "linear", 1.0, ({**_SEB, "canopy": ("transmission",)},),
              equation="3", source="exp(-0.5 LAI) for LAI 0-8"),
    Parameter("k_ext", "k", "1", "canopy extinction coefficient in tau = exp(-k LAI)",
              "surface", 15, (0.0, 5.0), (False, True), (0.3, 1.0), (0.4, 0.8), (0.05, 3.0),
              "linear", 0.5, ({**_SEB, "canopy": ("lai",)},), equation="2",
              source="0.5 for a spherical leaf distribution (Campbell and Norman 1998)"),
    # ---- soil (psoil rows, one value per layer)
    Parameter("lambda", "lambda", "W m-1 K-1", "soil thermal conductivity", "soil", 1,
              (0.0, 50.0), (False, False), (0.1, 3.0), (0.47, 0.8), (0.05, 6.0), "log", None,
              ({"soil_thermal": ("constant",)},), aliases=("lam",), equation="10",
              source=_OKE + "; published prior"),
    Parameter("C", "C", "J m-3 K-1", "soil volumetric heat capacity", "soil", 2,
              (0.0, 1.0e8), (False, False), (0.9e6, 4.0e6), (2.0e6, 2.5e6), (0.5e6, 5.0e6),
              "log", None, ({"soil_thermal": ("constant",)},), aliases=("heat_capacity",),
              equation="10", source=_OKE + "; published prior", nml="heat_capacity"),
    Parameter("porosity", "phi", "m3 m-3", "soil porosity (saturated water content; JULES "
              "sm_sat, Noah-MP SMCMAX, CLM watsat)", "soil", 3, (0.0, 1.0), (False, False),
              (0.25, 0.6), (0.3, 0.55), (0.05, 0.9), "linear", None,
              ({"soil_thermal": ("johansen",)},
               {**_BULK, "latent": ("resistance",), "surface_resistance": ("soil_moisture",)},
               {"freezing": ("niu_yang",)}),
              aliases=("smcmax", "theta_sat"), equation="11, 15",
              source="Cosby et al. (1984) texture classes 0.34-0.48"),
    Parameter("lambda_dry", "lambda_dry", "W m-1 K-1", "thermal conductivity of the dry soil "
              "(JULES hcon)", "soil", 4, (0.0, 50.0), (False, False), (0.05, 0.6), (0.15, 0.35),
              (0.02, 2.0), "log", None, ({"soil_thermal": ("johansen",)},), equation="11",
              source="(0.135 rho_d + 64.7)/(2700 - 0.947 rho_d) = 0.15-0.35 (Johansen 1975)"),
    Parameter("lambda_solids", "lambda_s", "W m-1 K-1", "thermal conductivity of the soil "
              "solids (Noah-MP 7.7^QTZ 2.0^(1-QTZ), CLM tkm)", "soil", 5, (0.0, 50.0),
              (False, False), (1.5, 8.0), (2.0, 5.0), (0.5, 10.0), "log", None,
              ({"soil_thermal": ("johansen",)},), equation="11",
              source="quartz 7.7, other minerals 2.0 W m-1 K-1 (Peters-Lidard et al. 1998)"),
    Parameter("C_dry", "C_dry", "J m-3 K-1", "heat capacity of the dry soil, (1 - porosity) x "
              "solids (JULES hcap)", "soil", 6, (0.0, 1.0e8), (False, False), (0.8e6, 2.2e6),
              (1.0e6, 1.6e6), (0.3e6, 4.0e6), "log", None, ({"soil_thermal": ("johansen",)},),
              equation="12", source="(1 - porosity) x 2.0-2.4e6 J m-3 K-1 (de Vries 1963)"),
    Parameter("psi_sat", "psi_sat", "m", "saturated soil matric potential, magnitude (Noah-MP "
              "PSISAT, CLM sucsat/1000)", "soil", 7, (0.0, 100.0), (False, True), (0.03, 0.8),
              (0.05, 0.5), (0.005, 5.0), "log", None, ({"freezing": ("niu_yang",)},),
              equation="15", source="Cosby et al. (1984) texture classes 0.036-0.759 m "
                                    "(Noah-MP SOILPARM.TBL PSISAT)"),
    Parameter("b_clapp", "b", "1", "Clapp-Hornberger exponent (Noah-MP BEXP, CLM bsw)", "soil",
              8, (0.0, 50.0), (False, True), (2.5, 12.0), (4.0, 8.0), (1.0, 20.0), "linear",
              None, ({"freezing": ("niu_yang",)},), equation="15",
              source="Cosby et al. (1984) texture classes 2.79-11.55 (Noah-MP SOILPARM.TBL "
                     "BEXP)"),
    Parameter("dT_freeze", "dT_f", "K", "width of the freezing interval of the linear "
              "unfrozen-water curve", "soil", 9, (0.0, 50.0), (False, True), (0.01, 5.0),
              (0.1, 2.0), (0.001, 10.0), "log", None, ({"freezing": ("linear",)},),
              equation="15", source="apparent-heat-capacity method (Bonacina et al. 1973); "
                                    "freezing ranges of soils 0.1-5 K (Williams and Smith "
                                    "1989)", nml="dt_freeze"),
    # ---- state
    Parameter("T_init", "T_init", "K", "uniform initial soil temperature (when it differs "
              "from T_b)", "state", 0, (150.0, 400.0), (False, False), (220.0, 330.0),
              (290.0, 303.0), (200.0, 350.0), "linear", None, (), equation="",
              source="as T_b"),
)}

#: the number of surface parameters (Fortran npsurf) and soil parameter rows (npsoil)
NPSURF = 15
NPSOIL = 9

#: The pseudo-parameter h: with beta, config files may give h instead of h_eff
#: (h_eff = h (1 + 1/beta), eq. 5), and calibrations may fit h and beta (never identifiable
#: separately: the published experiments show it).
H_SENSIBLE = Parameter("h", "h", "W m-2 K-1", "sensible heat transfer coefficient (with beta, "
                       "h_eff = h (1 + 1/beta))", "surface", 0, (0.0, 1.0e4), (False, True),
                       (1.0, 100.0), (5.0, 20.0), (0.5, 2000.0), "log", None, (),
                       equation="5", source="published prior")

_ALIAS = {a: p.name for p in PARAMETERS.values() for a in p.aliases}


def resolve_alias(name: str) -> str:
    """The canonical parameter name of ``name`` (itself when it is not an alias)."""
    return _ALIAS.get(name, name)


def parameter(name: str) -> Parameter:
    """The Parameter called ``name`` (or by one of its aliases; ``h`` is the pseudo-parameter).

    Raises:
        KeyError: unknown name.
    """
    if name == "h":
        return H_SENSIBLE
    return PARAMETERS[resolve_alias(name)]


def needed(options: Mapping[str, str]) -> list[str]:
    """Names of the parameters the model uses with ``options`` (vocabulary order)."""
    return [p.name for p in PARAMETERS.values() if p.is_used(options)]


# ------------------------------------------------------------------------------ forcing


@dataclass(frozen=True)
class ForcingVariable:
    """A forcing variable: ALMA name, unit, Fortran row and when the model needs it."""

    name: str
    unit: str
    long_name: str
    row: int
    used: tuple[Condition, ...]
    aliases: tuple[str, ...] = ()


FORCING: dict[str, ForcingVariable] = {v.name: v for v in (
    ForcingVariable("SWdown", "W m-2", "downward shortwave radiation", 1, (_SEB,),
                    ("SW_IN_F", "SW_IN")),
    ForcingVariable("LWdown", "W m-2", "downward longwave radiation", 2, (_SEB,),
                    ("LW_IN_F", "LW_IN")),
    ForcingVariable("Tair", "K", "air temperature at the measurement height", 3, (_SEB,),
                    ("TA_F", "TA")),
    ForcingVariable("Wind", "m s-1", "wind speed at the measurement height", 4, (_BULK,),
                    ("WS_F", "WS")),
    ForcingVariable("PSurf", "Pa", "surface air pressure", 5, (_BULK,),
                    ("Psurf", "PA_F", "PA")),
    ForcingVariable("Qair", "kg kg-1", "specific humidity at the measurement height", 6,
                    (_BULK,), ()),
    ForcingVariable("LAI", "m2 m-2", "leaf area index", 7, ({**_SEB, "canopy": ("lai",)},)),
    ForcingVariable("Ttop", "K", "temperature of the top node (top = \"temperature\")", 8,
                    ({"top": ("temperature",)},)),
    ForcingVariable("Gtop", "W m-2", "heat flux into the top node, positive down "
                    "(top = \"flux\")", 8, ({"top": ("flux",)},)),
    ForcingVariable("Tbottom", "K", "temperature of the bottom node (bottom = \"series\")", 9,
                    ({"bottom": ("series",)},)),
)}
NFORC = 9

#: soil moisture at the nodes is passed separately (theta, m3 m-3); needed when:
SOIL_MOISTURE_USED: tuple[Condition, ...] = (
    {"soil_thermal": ("johansen",)},
    {"freezing": ("niu_yang", "linear")},
    {**_BULK, "latent": ("resistance",), "surface_resistance": ("soil_moisture",)},
)


def forcing_needed(options: Mapping[str, str]) -> list[str]:
    """Forcing variables the model reads with ``options``."""
    return [v.name for v in FORCING.values() if any(_holds(c, options) for c in v.used)]


def soil_moisture_needed(options: Mapping[str, str]) -> bool:
    return any(_holds(c, options) for c in SOIL_MOISTURE_USED)


# ------------------------------------------------------------------------------ fluxes


@dataclass(frozen=True)
class Flux:
    """A surface flux the scheme outputs: ALMA name, unit, sign and Fortran row."""

    name: str
    long_name: str
    positive: str
    row: int


FLUXES: dict[str, Flux] = {f.name: f for f in (
    Flux("SWnet", "net shortwave radiation absorbed by the soil surface", "down", 1),
    Flux("LWnet", "net longwave radiation of the soil surface", "down", 2),
    Flux("LWup", "upward longwave radiation of the soil surface (emitted plus reflected)",
         "up", 3),
    Flux("Qh", "sensible heat flux", "up", 4),
    Flux("Qle", "latent heat flux", "up", 5),
    Flux("Qg", "ground heat flux into the soil at the top node", "down", 6),
    Flux("Qh_plus_Qle", "total turbulent heat flux Qh + Qle", "up", 7),
)}
NFLUX = 7
FLUX_NAMES = tuple(FLUXES)
FLUX_UNIT = "W m-2"

#: CSDMS standard names (csdms.colorado.edu, names registry 2.0) of the variables the BMI
#: (sebcal.bmi) exposes, by sebcal name. Those marked "coined" are not in the registry and
#: follow its object__quantity grammar (docs/frameworks.md).
CSDMS_NAMES: dict[str, tuple[str, bool]] = {
    # state and outputs
    "T": ("soil__temperature", False),
    "Ts": ("land_surface__temperature", False),
    "SWnet": ("land_surface_radiation~net~shortwave__energy_flux", False),
    "LWnet": ("land_surface_radiation~net~longwave__energy_flux", False),
    "LWup": ("land_surface_radiation~outgoing~longwave__energy_flux", False),
    "Qh": ("land_surface__upward_component_of_sensible_heat_energy_flux", False),
    "Qle": ("land_surface__upward_component_of_latent_heat_energy_flux", False),
    "Qg": ("land_surface_soil_conduction__heat_energy_flux", False),
    "Qh_plus_Qle": ("land_surface__upward_component_of_turbulent_heat_energy_flux", True),
    # forcing
    "SWdown": ("land_surface_radiation~incoming~shortwave__energy_flux", False),
    "LWdown": ("land_surface_radiation~incoming~longwave__energy_flux", False),
    "Tair": ("land_surface_air__temperature", False),
    "Wind": ("land_surface_air_flowing__speed", False),
    "PSurf": ("land_surface_air__pressure", False),
    "Qair": ("land_surface_air_water~vapor__specific_saturation", True),
    "LAI": ("land_vegetation__leaf-area_index", False),
    "Ttop": ("soil_surface__temperature", True),
    "Gtop": ("soil_surface__downward_component_of_heat_energy_flux", True),
    "Tbottom": ("soil_profile_bottom__temperature", True),
    "theta": ("soil_water__volume_fraction", False),
    # parameters
    "alpha": ("land_surface__albedo", False),
    "eps": ("land_surface__emissivity", False),
    "h_eff": ("land_surface_air__effective_heat_transfer_coefficient", True),
    "beta": ("land_surface__bowen_ratio", True),
    "T_b": ("soil_profile_bottom__reference_temperature", True),
    "z0m": ("atmosphere_bottom_air_flowing__log-law_roughness_length", False),
    "z0h_ratio": ("atmosphere_bottom_air_flowing__ratio_of_heat_and_momentum_roughness_length",
                  True),
    "d0": ("atmosphere_bottom_air_flowing__log-law_displacement_length", False),
    "z_ref": ("atmosphere_bottom_air_flowing_at-speed__reference_height", False),
    "r_s": ("land_surface_water_evaporation__surface_resistance", True),
    "rs_a": ("land_surface_water_evaporation__surface_resistance_log_of_dry_value", True),
    "rs_b": ("land_surface_water_evaporation__surface_resistance_moisture_sensitivity", True),
    "tau_sw": ("land_vegetation_canopy_radiation~incoming~shortwave_transmission__transmittance",
               True),
    "tau_lw": ("land_vegetation_canopy_radiation~incoming~longwave_transmission__transmittance",
               True),
    "k_ext": ("land_vegetation_canopy_radiation~incoming~shortwave__extinction_coefficient",
              True),
    "lambda": ("soil__thermal_conductivity", False),
    "C": ("soil_isochoric-process__volume-specific_heat_capacity", False),
    "porosity": ("soil__porosity", False),
    "lambda_dry": ("soil~dry__thermal_conductivity", True),
    "lambda_solids": ("soil_solids__thermal_conductivity", True),
    "C_dry": ("soil~dry_isochoric-process__volume-specific_heat_capacity", True),
    "psi_sat": ("soil_water__saturated_matric_potential", True),
    "b_clapp": ("soil_water__brooks-corey-b_parameter", True),
    "dT_freeze": ("soil_water_freezing__temperature_interval", True),
}

#: error codes of the Fortran scheme (errflg), as in sebcal_const.f90
ERROR_CODES = {1: "grid", 2: "parameter", 3: "option", 4: "forcing", 5: "convergence",
               6: "namelist", 7: "state", 8: "spin-up"}


# ------------------------------------------------------------------------------ docs


def _cond_text(conds: tuple[Condition, ...]) -> str:
    if not conds:
        return "when fitted or given"
    parts = []
    for c in conds:
        words = [f"{k} = {'/'.join(v)}" for k, v in c.items() if not (k == "top" and v == ("seb",))]
        parts.append(", ".join(words) or "always")
    return "; or ".join(parts)


def markdown_parameters() -> str:
    """The parameter and option tables of docs/parameters.md (``make docs``)."""
    def rng(r: tuple[float, float]) -> str:
        return f"{r[0]:g} – {r[1]:g}"

    lines = ["| name | symbol | unit | meaning | physical bounds | plausible | starts | "
             "calibration bounds | transform | default | used when | eq. |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in (*PARAMETERS.values(), H_SENSIBLE):
        names = f"`{p.name}`" + "".join(f", `{a}`" for a in p.aliases)
        fit = rng(p.calib) if p.fittable else "not fitted"
        default = "–" if p.default is None else f"{p.default:g}"
        used = _cond_text(p.used) + (" (one value per layer)" if p.group == "soil" else "")
        lines.append(f"| {names} | {p.symbol} | {p.unit} | {p.long_name} | {p.bounds_text()} | "
                     f"{rng(p.plausible)} | {rng(p.prior)} | {fit} | {p.scale} | {default} | "
                     f"{used} | {p.equation or '–'} |")
    lines += ["", "Sources of the ranges:", ""]
    for p in (*PARAMETERS.values(), H_SENSIBLE):
        if p.source:
            lines.append(f"* `{p.name}`: {p.source}")
    lines += ["", "| option | table | choices (default first in bold) | meaning |",
              "|---|---|---|---|"]
    for o in OPTIONS.values():
        choices = ", ".join(f"**{c}**" if c == o.default else c for c in o.choices)
        meaning = "; ".join(f"`{c}`: {m}" for c, m in o.meaning.items())
        lines.append(f"| `{o.name}` | [{o.table}] | {choices} | {meaning} |")
    lines += ["", "| flux | positive | meaning |", "|---|---|---|"]
    for f in FLUXES.values():
        lines.append(f"| `{f.name}` | {f.positive} | {f.long_name} (W m-2) |")
    lines += ["", "| forcing | unit | meaning | other names read |", "|---|---|---|---|"]
    for v in FORCING.values():
        lines.append(f"| `{v.name}` | {v.unit} | {v.long_name} | "
                     f"{', '.join(v.aliases) or '–'} |")
    return "\n".join(lines) + "\n"
