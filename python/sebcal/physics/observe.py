"""Observation operators: model state -> what a flux tower measures, on NumPy arrays or
PyTorch tensors alike (the physics namespace of :mod:`sebcal.physics.xp`), so that the
calibration loss (tensors, autograd), the Levenberg-Marquardt residuals and the reports (NumPy,
Fortran output) share one operator without importing torch where it is not used.

Model output has time levels on the second-to-last axis and nodes on the last.

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

from .soil import interface_conductivity
from .xp import namespace


def _depths(depth: float | Sequence[float]) -> tuple[np.ndarray, bool]:
    d = np.asarray(depth, dtype=np.float64)
    return d.reshape(-1), d.ndim == 0


def _numpy(z: Any) -> np.ndarray:
    """Node depths as a NumPy array (a tensor is detached and copied)."""
    if type(z).__module__.startswith("torch"):
        return z.detach().cpu().numpy()
    return np.asarray(z, dtype=np.float64)


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


def _interp(values: Any, i: np.ndarray, f: np.ndarray) -> Any:
    xp = namespace(values)
    left = xp.take_last(values, i)
    right = xp.take_last(values, i + 1)
    ft = xp.like(f, values)
    return (1 - ft) * left + ft * right


def soil_temperature(T: Any, z: Any, depth: float | Sequence[float]) -> Any:
    """Soil temperature [K] at depth(s) [m], linear between nodes, exact at nodes.

    Args:
        T: temperatures [K], (..., nz) (e.g. ColumnOutput.T, (B, nt+1, nz)).
        z: node depths [m], (nz,) (ColumnOutput.z).
        depth: one depth (returns (...)) or a sequence (returns (..., ndepth)).
    """
    i, f = interpolation_weights(_numpy(z), depth)
    out = _interp(T, i, f)
    return out[..., 0] if np.ndim(depth) == 0 else out


def surface_temperature(T: Any) -> Any:
    """Ts = T_0 [K], (..., nz) -> (...)."""
    return T[..., 0]


def ground_heat_flux(T: Any, z: Any, lam: Any, depth: float | Sequence[float]) -> Any:
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
    xp = namespace(T)
    zz = _numpy(z)
    d, scalar = _depths(depth)
    if np.any(d < zz[0]) or np.any(d > zz[-1]):
        raise ValueError(f"depth(s) {d.tolist()} m outside the column [{zz[0]}, {zz[-1]}] m")
    h = xp.like(np.diff(zz), T)
    mid = 0.5 * (zz[:-1] + zz[1:])
    grad = (T[..., :-1] - T[..., 1:]) / h                          # (..., nz-1)
    if np.ndim(lam) >= 1:
        lam = xp.like(lam, T)
        if lam.ndim == 1:
            lam = lam.reshape((-1,) + (1,) * (T.ndim - 1))
        else:
            lam = interface_conductivity(lam, xp)
            if lam.ndim == 2 and T.ndim == 3:
                lam = lam[:, None]
    q = lam * grad
    if mid.size == 1:
        out = xp.take_last(q, np.zeros(d.size, dtype=np.int64))
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


def equivalent(variable: str, T: Any, fluxes: Any, z: Any, lam: Any,
               depth: float | None = None) -> Any:
    """The model's value of an observed quantity, (B, n): the one observation operator of
    sebcal, used by the calibration loss and by the reports (on Fortran output too).

    * SoilTemp at depth z: linear interpolation between the two nodes around z.
    * AvgSurfT: the top node.
    * Qg at depth z: at the top node the model's Qg (the ground heat flux entering the
      column), below it the conductive flux of :func:`ground_heat_flux`.
    * LWup, LWnet, SWnet, Qh, Qle, Qh_plus_Qle: the model's surface fluxes; Rnet = SWnet +
      LWnet, the net radiation of the surface.

    Args:
        T: temperatures [K], (B, n, nz), an array or a tensor; fluxes: name -> (B, n);
        z: node depths [m]; lam: node conductivity (see :func:`ground_heat_flux`); depth [m].
    """
    if variable not in OBSERVABLES:
        raise ValueError(f"unknown observable {variable!r}; observables: "
                         f"{', '.join(OBSERVABLES)}")
    zz = _numpy(z)
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
