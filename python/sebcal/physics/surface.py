"""Surface energy balance of the soil surface (docs/theory.md eq. 2-7), for NumPy and PyTorch.

    G(Ts) = tau_sw K_down (1 - alpha) + tau_lw (LWabs - eps sigma Ts^4) - H(Ts) - LE(Ts)

The same equations as fortran/sebcal_surface.f90, written independently. Arguments broadcast
against each other: a surface temperature (B, n) with forcing (B, n) or (n,) and parameters
(B, 1) gives (B, n).
"""

# Symbols follow docs/theory.md.
# ruff: noqa: N803, N806

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..vocabulary import CONSTANTS
from .xp import Namespace, namespace

SIGMA = CONSTANTS["sigma"][0]
KARMAN = CONSTANTS["karman"][0]
GRAVITY = CONSTANTS["gravity"][0]
R_DRY = CONSTANTS["r_dry"][0]
CP_AIR = CONSTANTS["cp_air"][0]
LV = CONSTANTS["lv"][0]
N_MOST = 5                 # stability iterations, Noah-MP SurfaceEnergyFluxBareGround NumIter
HALF_PI = 1.5707963        # as Noah-MP writes pi/2 in psi_m


def transmissions(ps: Mapping[str, Any], forcing: Mapping[str, Any], canopy: str,
                  xp: Namespace) -> tuple[Any, Any]:
    """Transmitted fractions (tau_sw, tau_lw) of shortwave and of the longwave exchange."""
    if canopy == "transmission":
        return ps["tau_sw"], ps["tau_lw"]
    if canopy == "lai":
        tau = xp.exp(-ps["k_ext"] * forcing["LAI"])
        return tau, tau
    return 1.0, 1.0


def qsat(T: Any, p: Any, xp: Namespace) -> Any:
    """Saturation specific humidity [kg kg-1] at T [K], p [Pa] (Bolton 1980 Magnus form)."""
    es = 611.2 * xp.exp(17.67 * (T - 273.15) / (T - 29.65))
    return 0.622 * es / (p - 0.378 * es)


def surface_balance(Ts: Any, forcing: Mapping[str, Any], ps: Mapping[str, Any],
                    options: Mapping[str, str], wind_min: float = 1.0, theta_top: Any = None,
                    phi_top: Any = None, xp: Namespace | None = None) -> tuple[Any, dict]:
    """G(Ts) [W m-2] (positive into the soil) and its terms.

    Args:
        Ts: surface temperature [K] (real, complex for a complex step, or a tensor).
        forcing: SWdown, LWdown [W m-2], Tair [K], and with turbulence = "bulk" Wind
            [m s-1], PSurf [Pa], Qair [kg kg-1]; LAI [m2 m-2] with canopy = "lai".
        ps: surface parameters by vocabulary name (alpha, eps, h_eff, beta, z0m, z0h_ratio,
            d0, z_ref, r_s, rs_a, rs_b, tau_sw, tau_lw, k_ext) as used by the options.
        options: model options (vocabulary.OPTIONS).
        wind_min: lower limit of the wind speed [m s-1].
        theta_top, phi_top: soil moisture and porosity of the top node [m3 m-3]
            (surface_resistance = "soil_moisture").

    Returns:
        (G, terms) with terms SWnet, LWnet, LWup, Qh, Qle, Qh_plus_Qle [W m-2] (Qh, Qle None
        when h_eff is not split by a Bowen ratio).
    """
    xp = xp or namespace(Ts)
    tau_sw, tau_lw = transmissions(ps, forcing, options["canopy"], xp)
    eps = ps["eps"]
    lw = forcing["LWdown"]
    lwabs = eps * lw if options["longwave"] == "kirchhoff" else lw
    emit = eps * SIGMA * Ts ** 4
    swnet = tau_sw * (forcing["SWdown"] * (1 - ps["alpha"]))
    lwnet = tau_lw * (lwabs - emit)
    qh = qle = None
    if options["turbulence"] == "bulk":
        qh, qle = bulk_fluxes(Ts, forcing, ps, options, wind_min, theta_top, phi_top, xp)
        turb = qh + qle
    else:
        turb = ps["h_eff"] * (Ts - forcing["Tair"])
        beta = ps.get("beta")
        if beta is not None:
            qh = turb * (beta / (1 + beta))
            qle = turb / (1 + beta)
    G = swnet + lwnet - turb
    lwup = emit + (1 - eps) * lw if options["longwave"] == "kirchhoff" else emit
    return G, {"SWnet": swnet, "LWnet": lwnet, "LWup": lwup, "Qh": qh, "Qle": qle,
               "Qh_plus_Qle": turb}


def bulk_fluxes(Ts: Any, forcing: Mapping[str, Any], ps: Mapping[str, Any],
                options: Mapping[str, str], wind_min: float, theta_top: Any, phi_top: Any,
                xp: Namespace) -> tuple[Any, Any]:
    """Bulk sensible and latent heat [W m-2] (eq. 6-7), with the stability iteration of Noah-MP
    ResistanceBareGroundMOST when options["stability"] == "most" (see the Fortran routine
    bulk_fluxes for the description)."""
    U = forcing["Wind"]
    U = xp.where(xp.re(U) > wind_min, U, wind_min)
    Ta, q, p = forcing["Tair"], forcing["Qair"], forcing["PSurf"]
    Tv = Ta * (1 + 0.61 * q)
    rho = p / (R_DRY * Tv)
    zl = ps["z_ref"] - ps["d0"]
    lm = xp.log(zl / ps["z0m"])
    lh = xp.log(zl / (ps["z0m"] * ps["z0h_ratio"]))
    if options["stability"] == "most":
        psim = psih = 0.0
        hs = ustar = None
        for k in range(N_MOST):
            if k > 0:
                tmp = KARMAN * (GRAVITY / Tv) * hs / (rho * CP_AIR)
                tmp = xp.where(abs(xp.re(tmp)) <= 1e-6, 1e-6, tmp)
                zeta = -zl * tmp / ustar ** 3
                zeta = xp.where(xp.re(zeta) > 1, 1.0, zeta)
                unstable = xp.re(zeta) < 0
                zu = xp.where(unstable, zeta, 0.0)       # keeps the unused branch finite
                x = (1 - 16 * zu) ** 0.25
                fm_u = 2 * xp.log((1 + x) / 2) + xp.log((1 + x * x) / 2) - 2 * xp.atan(x) + HALF_PI
                fh_u = 2 * xp.log((1 + x * x) / 2)
                fm = xp.where(unstable, fm_u, -5 * zeta)
                fh = xp.where(unstable, fh_u, -5 * zeta)
                psim = 0.5 * (psim + fm)
                psih = 0.5 * (psih + fh)
                psih = xp.where(xp.re(psih) > 0.9 * lh, 0.9 * lh, psih)
                psim = xp.where(xp.re(psim) > 0.9 * lm, 0.9 * lm, psim)
            cmfm = lm - psim
            chfh = lh - psih
            cmfm = xp.where(abs(xp.re(cmfm)) <= 1e-6, 1e-6, cmfm)
            chfh = xp.where(abs(xp.re(chfh)) <= 1e-6, 1e-6, chfh)
            cm = KARMAN ** 2 / (cmfm * cmfm)
            ch = KARMAN ** 2 / (cmfm * chfh)
            ustar = U * xp.sqrt(cm)
            hs = rho * CP_AIR * ch * U * (Ts - Ta)
    else:
        ch = KARMAN ** 2 / (lm * lh)
        hs = rho * CP_AIR * ch * U * (Ts - Ta)
    if options["latent"] == "resistance":
        if options["surface_resistance"] == "soil_moisture":
            sat = xp.clip(theta_top / phi_top, 0.0, 1.0)
            rs = xp.exp(ps["rs_a"] - ps["rs_b"] * sat)
        else:
            rs = ps["r_s"]
        ra = 1 / (ch * U)
        le = rho * LV * (qsat(Ts, p, xp) - q) / (ra + rs)
    else:
        le = 0.0 * hs
    return hs, le
