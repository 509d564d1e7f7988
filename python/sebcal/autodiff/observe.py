"""Differentiable observation operators: model state -> what a flux tower measures.

All take the model output (tensors with time levels on the second-to-last or last axis) and
return tensors that autograd differentiates with respect to the parameters.

* :func:`soil_temperature`: T at any depth by linear interpolation between the two nodes that
  bracket it; exact (bit for bit) at node depths, linear in depth between nodes.
* :func:`surface_temperature`: Ts = T_0 (the surface node is the surface).
* :func:`ground_heat_flux`: conductive flux [W m-2], positive downward, at depth z. The flux
  between nodes i and i+1 is lambda (T_i - T_(i+1)) / h_(i+1), the finite-volume flux of the
  scheme through that interface; it is located at the interface midpoint (z_i + z_(i+1))/2 and
  interpolated linearly between midpoints (held constant above the first and below the last
  midpoint). At a node of a uniform grid this is lambda (T_(i-1) - T_(i+1)) / (2 dx), the
  central difference the published West Phoenix figure uses for the 2 cm heat-flux plates.
* :func:`equivalent`: any observable (soil temperature, surface temperature, fluxes), the
  operator the calibration loss and the reports share.
"""

# ruff: noqa: N802, N803, N806

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..physics import TORCH
from ..physics.soil import interface_conductivity


def _depths(depth: float | Sequence[float]) -> tuple[np.ndarray, bool]:
    d = np.asarray(depth, dtype=np.float64)
    return d.reshape(-1), d.ndim == 0


def _col(x: Any, ref: torch.Tensor) -> torch.Tensor | float:
    """Parameter (B,) or number as something that broadcasts against (B, n)."""
    if isinstance(x, torch.Tensor):
        return x.to(ref.dtype).reshape(-1, 1) if x.dim() == 1 else x
    return float(x)


def _as(x: Any, ref: torch.Tensor) -> torch.Tensor:
    """Array-like as a tensor on ref's dtype and device (numpy input is copied)."""
    if isinstance(x, torch.Tensor):
        return x.to(dtype=ref.dtype, device=ref.device)
    return torch.tensor(np.array(x, dtype=np.float64), dtype=ref.dtype, device=ref.device)


def interpolation_weights(z: Any, depth: float | Sequence[float], points: Any = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Left index i and weight f so that value(depth) = (1 - f) v_i + f v_(i+1).

    Args:
        z: node depths [m], (nz,), increasing.
        depth: depth(s) [m] within [z_0, z_(nz-1)].
        points: positions of the values (default z).

    Raises:
        ValueError: a depth outside the column.
    """
    zz = np.asarray(points if points is not None else z, dtype=np.float64).reshape(-1)
    d, _ = _depths(depth)
    if np.any(~np.isfinite(d)) or np.any(d < zz[0]) or np.any(d > zz[-1]):
        raise ValueError(f"depth(s) {d.tolist()} m outside the interval [{zz[0]}, {zz[-1]}] m")
    i = np.clip(np.searchsorted(zz, d, side="right") - 1, 0, zz.size - 2)
    f = (d - zz[i]) / (zz[i + 1] - zz[i])
    return i, f


def _interp(values: torch.Tensor, i: np.ndarray, f: np.ndarray) -> torch.Tensor:
    it = torch.as_tensor(i, device=values.device)
    ft = torch.as_tensor(f, dtype=values.dtype, device=values.device)
    left = values.index_select(-1, it)
    right = values.index_select(-1, it + 1)
    return (1 - ft) * left + ft * right


def soil_temperature(T: torch.Tensor, z: Any, depth: float | Sequence[float]) -> torch.Tensor:
    """Soil temperature [K] at depth(s) [m], linear between nodes, exact at nodes.

    Args:
        T: temperatures [K], (..., nz) (e.g. ColumnOutput.T, (B, nt+1, nz)).
        z: node depths [m], (nz,) (ColumnOutput.z).
        depth: one depth (returns (...)) or a sequence (returns (..., ndepth)).
    """
    zz = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, float)
    i, f = interpolation_weights(zz, depth)
    out = _interp(T, i, f)
    return out[..., 0] if np.ndim(depth) == 0 else out


def surface_temperature(T: torch.Tensor) -> torch.Tensor:
    """Ts = T_0 [K], (..., nz) -> (...)."""
    return T[..., 0]


def ground_heat_flux(T: torch.Tensor, z: Any, lam: Any, depth: float | Sequence[float]
                     ) -> torch.Tensor:
    """Conductive heat flux [W m-2], positive downward, at depth(s) [m].

    Interface fluxes lambda_(i+1/2) (T_i - T_(i+1)) / h_(i+1) (lambda_(i+1/2) the interface
    conductivity of docs/theory.md eq. 8) sit at the interface midpoints and are interpolated
    linearly between them (constant beyond the first/last midpoint). At a node of a uniform
    grid this is lambda (T_(i-1) - T_(i+1)) / (2 dx), the central difference the published
    West Phoenix figure uses for the 2 cm heat-flux plates.

    Args:
        T: temperatures [K], (B, n, nz).
        z: node depths [m], (nz,).
        lam: node conductivity [W m-1 K-1]: a number, (B,), (B, nz) or (B, n, nz).
        depth: depth(s) within the column [m].
    """
    zz = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, float)
    d, scalar = _depths(depth)
    if np.any(d < zz[0]) or np.any(d > zz[-1]):
        raise ValueError(f"depth(s) {d.tolist()} m outside the column [{zz[0]}, {zz[-1]}] m")
    h = torch.as_tensor(np.diff(zz), dtype=T.dtype, device=T.device)
    mid = 0.5 * (zz[:-1] + zz[1:])
    grad = (T[..., :-1] - T[..., 1:]) / h                          # (..., nz-1)
    if isinstance(lam, torch.Tensor) and lam.dim() >= 1:
        lam = lam.to(T.dtype)
        if lam.dim() == 1:
            lam = lam.reshape((-1,) + (1,) * (T.dim() - 1))
        else:
            lam = interface_conductivity(lam, TORCH)
            if lam.dim() == 2 and T.dim() == 3:
                lam = lam.unsqueeze(1)
    q = lam * grad
    if mid.size == 1:
        out = q[..., [0] * d.size]
    else:
        dc = np.clip(d, mid[0], mid[-1])
        i, f = interpolation_weights(mid, dc)
        out = _interp(q, i, f)
    return out[..., 0] if scalar else out


#: observable variable -> (unit, needs a depth)
OBSERVABLES: dict[str, tuple[str, bool]] = {
    "SoilTemp": ("K", True),
    "AvgSurfT": ("K", False),
    "LWup": ("W m-2", False),
    "Qg": ("W m-2", False),
    "Qh": ("W m-2", False),
    "Qle": ("W m-2", False),
    "Qh_plus_Qle": ("W m-2", False),
    "LWnet": ("W m-2", False),
    "SWnet": ("W m-2", False),
    "Rnet": ("W m-2", False),
}


def equivalent(variable: str, T: torch.Tensor, fluxes: Any, z: Any, lam: Any,
               depth: float | None = None) -> torch.Tensor:
    """The model's value of an observed quantity, (B, n): the one observation operator of
    sebcal, used by the calibration loss and by the reports (on Fortran output too).

    * SoilTemp at depth z: linear interpolation between the two nodes around z.
    * AvgSurfT: the top node.
    * Qg at depth z: at the top node the model's Qg (the ground heat flux entering the
      column), below it the conductive flux of :func:`ground_heat_flux`.
    * LWup, LWnet, SWnet, Qh, Qle, Qh_plus_Qle: the model's surface fluxes; Rnet = SWnet +
      LWnet, the net radiation of the surface.

    Args:
        T: temperatures [K], (B, n, nz); fluxes: name -> (B, n); z: node depths [m];
        lam: node conductivity (see :func:`ground_heat_flux`); depth [m].
    """
    if variable not in OBSERVABLES:
        raise ValueError(f"unknown observable {variable!r}; observables: "
                         f"{', '.join(OBSERVABLES)}")
    zz = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, float)
    if variable == "SoilTemp":
        return soil_temperature(T, zz, depth)
    if variable == "AvgSurfT":
        return surface_temperature(T)
    if variable == "Qg" and depth is not None and depth > zz[0]:
        return ground_heat_flux(T, zz, lam, depth)
    if variable == "Rnet":
        return fluxes["SWnet"] + fluxes["LWnet"]
    return fluxes[variable]


__all__ = ["OBSERVABLES", "equivalent", "ground_heat_flux", "interpolation_weights",
           "soil_temperature", "surface_temperature"]
