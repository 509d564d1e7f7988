"""Differentiable observation operators: model state -> what a flux tower measures.

All take the model output (tensors with time levels on the second-to-last or last axis) and
return tensors that autograd differentiates with respect to the parameters.

* :func:`soil_temperature`: T at any depth by linear interpolation between the two nodes that
  bracket it; exact (bit for bit) at node depths, linear in depth between nodes.
* :func:`surface_temperature`: Ts = T_0 (the surface node is the surface).
* :func:`lw_up`: eps sigma Ts^4 (+ (1 - eps) L_down with Kirchhoff longwave).
* :func:`ground_heat_flux`: conductive flux [W m-2], positive downward, at depth z. The flux
  between nodes i and i+1 is lambda (T_i - T_(i+1)) / h_(i+1), the finite-volume flux of the
  scheme through that interface; it is located at the interface midpoint (z_i + z_(i+1))/2 and
  interpolated linearly between midpoints (held constant above the first and below the last
  midpoint). At a node of a uniform grid this is lambda (T_(i-1) - T_(i+1)) / (2 dx), the
  central difference the published West Phoenix figure uses for the 2 cm heat-flux plates.
* :func:`turbulent_flux`: Qh + Qle = h_eff (Ts - Ta).
"""

# ruff: noqa: N802, N803, N806

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..params import SIGMA


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


def lw_up(T: torch.Tensor, eps: Any, lw_down: Any = None, longwave: str = "paper"
          ) -> torch.Tensor:
    """Upward longwave [W m-2] from T (B, n, nz): eps sigma Ts^4 (+ (1-eps) L_down, Kirchhoff).

    Args:
        eps: emissivity, number or (B,). lw_down: L_down [W m-2], (n,) or (B, n) (Kirchhoff).
    """
    Ts = surface_temperature(T)
    e = _col(eps, Ts)
    out = e * SIGMA * Ts ** 4
    if longwave == "kirchhoff":
        if lw_down is None:
            raise ValueError("Kirchhoff longwave needs lw_down")
        out = out + (1 - e) * _as(lw_down, Ts)
    return out


def ground_heat_flux(T: torch.Tensor, z: Any, lam: Any, depth: float | Sequence[float]
                     ) -> torch.Tensor:
    """Conductive heat flux [W m-2], positive downward, at depth(s) [m].

    Interface fluxes lambda (T_i - T_(i+1)) / h_(i+1) sit at the interface midpoints and are
    interpolated linearly between them (constant beyond the first/last midpoint).

    Args:
        T: temperatures [K], (B, n, nz) (or (..., nz) with a number lam).
        z: node depths [m], (nz,).
        lam: conductivity [W m-1 K-1], number or (B,).
        depth: depth(s) within the column [m].
    """
    zz = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, float)
    d, scalar = _depths(depth)
    if np.any(d < zz[0]) or np.any(d > zz[-1]):
        raise ValueError(f"depth(s) {d.tolist()} m outside the column [{zz[0]}, {zz[-1]}] m")
    h = torch.as_tensor(np.diff(zz), dtype=T.dtype, device=T.device)
    mid = 0.5 * (zz[:-1] + zz[1:])
    grad = (T[..., :-1] - T[..., 1:]) / h                          # (..., nz-1)
    if isinstance(lam, torch.Tensor) and lam.dim() == 1:
        lam = lam.to(T.dtype).reshape((-1,) + (1,) * (T.dim() - 1))
    q = lam * grad
    if mid.size == 1:
        out = q[..., [0] * d.size]
    else:
        dc = np.clip(d, mid[0], mid[-1])
        i, f = interpolation_weights(mid, dc)
        out = _interp(q, i, f)
    return out[..., 0] if scalar else out


def turbulent_flux(T: torch.Tensor, t_air: Any, h_eff: Any) -> torch.Tensor:
    """Qh + Qle = h_eff (Ts - Ta) [W m-2] from T (B, n, nz) and Ta [K] (n,) or (B, n)."""
    Ts = surface_temperature(T)
    ta = _as(t_air, Ts)
    return _col(h_eff, Ts) * (Ts - ta)


__all__ = ["soil_temperature", "surface_temperature", "lw_up", "ground_heat_flux",
           "turbulent_flux", "interpolation_weights"]
