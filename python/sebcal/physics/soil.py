"""Soil thermal properties at the nodes and the finite-volume coefficients (docs/theory.md eq.
8-12), for NumPy and PyTorch. The same equations as fortran/sebcal_soil.f90."""

# ruff: noqa: N803, N806

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..vocabulary import CONSTANTS
from .xp import Namespace, namespace

C_WATER = CONSTANTS["c_water"][0]
LAMBDA_WATER = CONSTANTS["lambda_water"][0]


def node_properties(soil: Mapping[str, Any], theta: Any, soil_thermal: str,
                    xp: Namespace | None = None) -> tuple[Any, Any]:
    """Conductivity lambda [W m-1 K-1] and heat capacity C [J m-3 K-1] at every node.

    Args:
        soil: per-node soil parameters (..., nz): lambda, C (constant) or porosity,
            lambda_dry, lambda_solids, C_dry (johansen).
        theta: soil moisture at the nodes [m3 m-3], broadcastable (johansen only).
        soil_thermal: "constant" or "johansen" (eq. 11-12: Kersten number Ke = log10(S) + 1
            for S > 0.1, else 0; lambda = lambda_dry + Ke (lambda_sat - lambda_dry) with
            lambda_sat = lambda_solids^(1-phi) lambda_water^phi; C = C_dry + theta c_water).
    """
    if soil_thermal != "johansen":
        return soil["lambda"], soil["C"]
    xp = xp or namespace(theta)
    phi = soil["porosity"]
    sat = xp.clip(theta / phi, 0.0, 1.0) if xp.is_torch else np.clip(theta / phi, 0.0, 1.0)
    wet = sat > 0.1
    ke = xp.where(wet, xp.log10(xp.where(wet, sat, 1.0)) + 1, 0.0)
    lsat = soil["lambda_solids"] ** (1 - phi) * LAMBDA_WATER ** phi
    lam = soil["lambda_dry"] + ke * (lsat - soil["lambda_dry"])
    C = soil["C_dry"] + theta * C_WATER
    return lam, C


def interface_conductivity(lam: Any, xp: Namespace | None = None) -> Any:
    """lambda_(i-1/2), i = 1..N (..., N): harmonic mean of the two nodes (the node value when
    both are equal, exactly)."""
    xp = xp or namespace(lam)
    a, b = lam[..., :-1], lam[..., 1:]
    hm = 2 * a * b / (a + b)
    exact = xp.where(a == b, b, hm)
    if xp.is_torch:
        # the value is exactly the node value when both are equal (as the Fortran computes
        # it), the derivative that of the harmonic mean (1/2 each there, not 0 and 1)
        return hm + (exact - hm).detach()
    return exact


def coefficients(lam: Any, C: Any, h: Any, w: Any, dt: float,
                 xp: Namespace | None = None) -> tuple[Any, Any, Any, Any]:
    """Backward-Euler coefficients (eq. 8) from node properties (..., nz).

    Returns:
        a (..., nz) (a_0 = 0), c (..., nz) (c_N = 0), c0 (...) = c_0 and g1 (...) = g_1, with
        a_i = (lambda_(i-1/2)/C_i dt)/(w_i h_i), c_i = (lambda_(i+1/2)/C_i dt)/(w_i h_(i+1)),
        c_0 = 2 ((lambda_(1/2)/C_0 dt)/(h_1 h_1)), g_1 = h_1/lambda_(1/2), in the Fortran's
        order of operations.
    """
    xp = xp or namespace(lam)
    lh = interface_conductivity(lam, xp)                 # (..., N)
    kdt_lo = lh / C[..., 1:] * dt                        # for a_1..a_N
    kdt_hi = lh / C[..., :-1] * dt                       # for c_0..c_(N-1)
    a_tail = kdt_lo / (w[1:] * h)
    c_head = kdt_hi[..., 1:] / (w[1:-1] * h[1:])
    c0 = 2 * (kdt_hi[..., 0] / (h[0] * h[0]))
    g1 = h[0] / lh[..., 0]
    if xp.is_torch:
        import torch

        zero = torch.zeros_like(a_tail[..., :1])
        a = torch.cat([zero, a_tail], dim=-1)
        c = torch.cat([c0.unsqueeze(-1), c_head, zero], dim=-1)
    else:
        zero = np.zeros_like(a_tail[..., :1])
        a = np.concatenate([zero, a_tail], axis=-1)
        c = np.concatenate([np.asarray(c0)[..., None], c_head, zero], axis=-1)
    return a, c, c0, g1


T_FREEZE = CONSTANTS["t_freeze"][0]
L_FUSION = CONSTANTS["l_fusion"][0]
RHO_WATER = CONSTANTS["rho_water"][0]
C_ICE = CONSTANTS["c_ice"][0]
LAMBDA_ICE = CONSTANTS["lambda_ice"][0]
GRAVITY = CONSTANTS["gravity"][0]


def liquid_water(soil: Mapping[str, Any], theta: Any, T: Any, freezing: str,
                 xp: Namespace | None = None) -> tuple[Any, Any]:
    """Liquid water wl [m3 m-3] of nodes holding total water theta [m3 m-3] at temperature T
    [K], and dwl/dT [m3 m-3 K-1] (docs/theory.md eq. 15; fortran/sebcal_soil.f90
    ``liquid_water``). Above T_f = 273.16 K all water is liquid.

    ``niu_yang`` (Niu and Yang 2006; Noah-MP SoilWaterSupercoolNiu06):
    wl = min(theta, porosity (L_f (T_f - T)/(g T psi_sat))^(-1/b)); ``linear``:
    wl = theta max(0, 1 - (T_f - T)/dT_freeze). At a kink the derivative of the branch that
    holds at T.
    """
    xp = xp or namespace(T)
    cold = (T < T_FREEZE) & (theta > 0)
    if freezing == "niu_yang":
        phi, psi, b = soil["porosity"], soil["psi_sat"], soil["b_clapp"]
        Tc = xp.where(cold, T, T_FREEZE - 1.0)           # a safe point where T >= T_f
        s = L_FUSION * (T_FREEZE - Tc) / (GRAVITY * Tc * psi)
        sup = phi * s ** (-1 / b)
        ice = cold & (sup < theta)
        wl = xp.where(ice, sup, theta)
        dwl = xp.where(ice, sup / (b * s) * L_FUSION * T_FREEZE / (GRAVITY * psi * Tc * Tc), 0.0)
        return wl, dwl
    if freezing == "linear":
        d = soil["dT_freeze"]
        frac = 1 - (T_FREEZE - T) / d
        part = cold & (frac > 0)
        wl = xp.where(cold, xp.where(part, theta * frac, 0.0 * theta), theta)
        dwl = xp.where(part, theta / d, 0.0)
        return wl, dwl
    return theta, 0.0 * theta


def frozen_properties(soil: Mapping[str, Any], theta: Any, wl: Any, soil_thermal: str,
                      xp: Namespace | None = None) -> tuple[Any, Any]:
    """Conductivity [W m-1 K-1] and heat capacity [J m-3 K-1] of partly frozen soil (eq. 16;
    fortran/sebcal_soil.f90 ``frozen_properties``): for ``johansen`` a node holding ice
    (wl < theta) has Ke = S, lambda_sat = lambda_s^(1-phi) lambda_ice^(phi - x_u)
    lambda_water^x_u with x_u = phi wl/theta, and C = C_dry + wl c_water + (theta - wl) c_ice
    (Noah-MP SoilThermalProperty, CLM SoilThermalProperties); ``constant``: the bulk lambda and
    C, ice or not."""
    if soil_thermal != "johansen":
        return soil["lambda"], soil["C"]
    xp = xp or namespace(wl)
    lam, C = node_properties(soil, theta, "johansen", xp)
    phi = soil["porosity"]
    frozen = wl < theta
    sat = xp.clip(theta / phi, 0.0, 1.0) if xp.is_torch else np.clip(theta / phi, 0.0, 1.0)
    xu = phi * wl / xp.where(frozen, theta, 1.0)
    lsat = soil["lambda_solids"] ** (1 - phi) * LAMBDA_ICE ** (phi - xu) * LAMBDA_WATER ** xu
    lam_f = soil["lambda_dry"] + sat * (lsat - soil["lambda_dry"])
    C_f = soil["C_dry"] + wl * C_WATER + (theta - wl) * C_ICE
    return xp.where(frozen, lam_f, lam), xp.where(frozen, C_f, C)
