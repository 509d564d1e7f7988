"""Fixed-weight convolution layers that carry the discrete physics of the soil column.

The soil column (docs/theory.md) has nodes z_0 = 0 < z_1 < ... < z_N, spacings
h_i = z_i - z_(i-1) and control-volume widths w_0 = h_1/2, w_i = (h_i + h_(i+1))/2,
w_N = h_N/2. Backward Euler over one step dt gives, for every node,

    T_i - T_i^n = kdt * L_i(T)  (+ c_0 (h_1/lambda) G(T_0) at i = 0),       kdt = lambda/C dt

with the *geometric* diffusion operator (units m-2)

    L_i(T) = [ (T_(i+1) - T_i)/h_(i+1) - (T_i - T_(i-1))/h_i ] / w_i,

where the flux through the surface (i = 0, replaced by G) and, for the zero-flux bottom,
through z_N are zero. So a_i = kdt/(w_i h_i), c_i = kdt/(w_i h_(i+1)) and
c_0 = 2 kdt/h_1^2 as in the Fortran scheme, and on a uniform grid a_i = c_i = r.

Two fixed ``torch.nn.Conv1d`` layers represent this operator (their weights are buffers,
never trained):

* :class:`DiffusionOperator`: a conv with kernel ``[-1, 1]`` gives the node differences
  T_i - T_(i-1); scaled by 1/h_i they are interface gradients; the same conv applied to those
  (padded with the zero boundary fluxes) gives their divergence, scaled by 1/w_i. This is the
  residual operator of every implicit step (any grid) and assembles the matrix the direct
  solver diagonalises.
* :class:`JacobiSweep`: the published neighbour-sum conv, kernel ``[1, 0, 1]`` on the uniform
  grid (model.md section 1.4), or a two-channel conv returning the left and right neighbours
  that per-node coefficients scale on a given (non-uniform) grid.

Surface terms (:func:`surface_fluxes`) follow the Fortran routine ``surface_fluxes``.
"""

# Symbols follow the paper and docs/theory.md (T, C, T_b, ...).
# ruff: noqa: N802, N803, N806

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SebcalError
from ..params import SIGMA

#: names of the surface fluxes [W m-2], same order and meaning as sebcal.fortran.FLUX_NAMES
FLUX_NAMES = ("SWnet", "LWdown", "LWup", "Qh", "Qle", "Qg", "Qh_plus_Qle")

SOLVERS = ("direct", "jacobi")
LONGWAVE = ("paper", "kirchhoff")
BOTTOM = ("dirichlet", "zero_flux")
INIT = ("uniform", "profile", "spinup")
#: default tolerance [K] and iteration limit per step, as in the Fortran scheme
SOLVER_DEFAULTS = {"direct": (1e-10, 50), "jacobi": (1e-4, 100000)}


class ColumnError(SebcalError, RuntimeError):
    """The torch column model could not advance (no convergence, non-physical state)."""


@dataclass(frozen=True)
class Grid:
    """Node geometry of one soil column, computed in float64 exactly as the Fortran scheme.

    Attributes:
        z: node depths [m], (nz,). With ``dx`` they are i*dx.
        h: spacings h_i = z_i - z_(i-1) [m], (N,); exactly dx on the uniform grid.
        w: control-volume widths [m], (nz,).
        dx: uniform spacing [m], or None for given depths.
    """

    z: np.ndarray
    h: np.ndarray
    w: np.ndarray
    dx: float | None

    @classmethod
    def build(cls, node_depths, dx: float | None = None) -> "Grid":
        """Grid from node depths (z_0 = 0, increasing) or, with ``dx``, the uniform grid.

        Args:
            node_depths: node depths [m], (nz,); with ``dx`` only their number is used.
            dx: uniform spacing [m]; spacings are then exactly dx (the paper's stencil).
        """
        z = np.asarray(node_depths, dtype=np.float64).reshape(-1)
        nz = z.size
        if nz < 3:
            raise ValueError(f"the column needs at least 3 nodes, got {nz}")
        if dx:
            dx = float(dx)
            if not (np.isfinite(dx) and dx > 0):
                raise ValueError(f"dx must be a positive number of metres, got {dx}")
            z = np.arange(nz, dtype=np.float64) * dx
            h = np.full(nz - 1, dx)
        else:
            dx = None
            if not np.all(np.isfinite(z)) or z[0] != 0.0 or np.any(np.diff(z) <= 0):
                raise ValueError("node depths must start at 0 m and increase strictly, got "
                                 f"{z.tolist()}")
            h = z[1:] - z[:-1]
        w = np.empty(nz)
        w[0] = 0.5 * h[0]
        w[1:-1] = 0.5 * (h[:-1] + h[1:])
        w[-1] = 0.5 * h[-1]
        return cls(z=z, h=h, w=w, dx=dx)

    @property
    def nz(self) -> int:
        return int(self.z.size)

    @property
    def uniform(self) -> bool:
        return self.dx is not None


def _fixed_conv(weight: list, out_channels: int = 1) -> nn.Conv1d:
    """A bias-free Conv1d whose weight is a buffer (moves with .to(), is never a Parameter)."""
    w = torch.tensor(weight, dtype=torch.float64).reshape(out_channels, 1, -1)
    conv = nn.Conv1d(1, out_channels, w.shape[-1], bias=False, padding=0)
    del conv.weight
    conv.register_buffer("weight", w)
    return conv


class DiffusionOperator(nn.Module):
    """Geometric diffusion operator L(T) of the finite-volume scheme, built from one fixed conv.

    ``diff`` is ``Conv1d(1, 1, 2)`` with weight ``[-1, 1]``: (diff T)_j = T_j - T_(j-1).

    Args:
        grid: the column geometry.
    """

    def __init__(self, grid: Grid) -> None:
        super().__init__()
        self.nz = grid.nz
        self.diff = _fixed_conv([-1.0, 1.0])
        self.register_buffer("inv_h", torch.tensor(1.0 / grid.h))
        self.register_buffer("inv_w", torch.tensor(1.0 / grid.w))

    def differences(self, T: torch.Tensor) -> torch.Tensor:
        """Node differences T_j - T_(j-1) [K], (..., n) -> (..., n-1).

        The profiles of each leading-axis member go through the conv as one long signal (a
        batch of a few long signals is much faster on CPU than many short ones); the outputs
        that straddle two profiles are dropped.
        """
        lead, n = T.shape[:-1], T.shape[-1]
        if T.dim() == 1:
            return self.diff(T.reshape(1, 1, n)).reshape(n - 1)
        b = T.shape[0] if T.dim() > 2 else 1
        out = self.diff(T.reshape(b, 1, -1))                      # (b, 1, L - 1), L = m n
        L = out.shape[-1] + 1
        # view the valid outputs without a copy: for T (b, m..., n) the difference j of profile
        # p of member k is output k (L - 1) + p n + j
        inner = lead[1:] if T.dim() > 2 else lead
        st, acc = [], n
        for d in reversed(inner):
            st.insert(0, acc)
            acc *= d
        strides = ([L - 1] if T.dim() > 2 else []) + st + [1]
        return out.as_strided(tuple(lead) + (n - 1,), tuple(strides))

    def forward(self, T: torch.Tensor) -> torch.Tensor:
        """L(T) [K m-2], (..., nz) -> (..., nz), zero flux through z_0 and z_N.

        Multiplied by kdt = lambda dt / C it is the diffusion increment of every node: for
        0 < i < N it is a_i (T_(i-1) - T_i) + c_i (T_(i+1) - T_i); at i = 0, c_0 (T_1 - T_0);
        at i = N, a_N (T_(N-1) - T_N).
        """
        grad = self.differences(T) * self.inv_h              # interface gradients (..., N)
        flux = F.pad(grad, (1, 1))                            # zero flux at z_0 and z_N
        return self.differences(flux) * self.inv_w

    def matrix(self) -> torch.Tensor:
        """The operator as a dense (nz, nz) matrix (column j = L(e_j)), assembled by the conv."""
        eye = torch.eye(self.nz, dtype=self.inv_w.dtype, device=self.inv_w.device)
        return self.forward(eye).T


class JacobiSweep(nn.Module):
    """One sweep of the published Jacobi iteration (model.md section 1.4), as a fixed conv.

    Uniform grid: ``Conv1d(1, 1, 3)`` with weight ``[1, 0, 1]`` gives T_(i-1) + T_(i+1) of every
    interior node, and the update is the paper's ``1/(1+2r) * (r * conv(T^k) + T^n)``.
    Given grid: ``Conv1d(1, 2, 3)`` with weights ``[1, 0, 0]`` and ``[0, 0, 1]`` gives the left
    and right neighbours, combined as (a_i T_(i-1) + c_i T_(i+1) + T_i^n)/(1 + a_i + c_i).

    Args:
        uniform: use the paper's [1, 0, 1] kernel.
    """

    def __init__(self, uniform: bool) -> None:
        super().__init__()
        self.uniform = uniform
        if uniform:
            self.neighbours = _fixed_conv([1.0, 0.0, 1.0])
        else:
            self.neighbours = _fixed_conv([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], out_channels=2)

    def forward(self, tk: torch.Tensor, tn: torch.Tensor, coef: dict, bottom: str,
                T_b: torch.Tensor) -> torch.Tensor:
        """T^(k+1) from T^(k) (both (B, nz)) and T^n.

        ``coef``: :func:`jacobi_coefficients` plus hb = h_eff, es = sigma eps and
        g1src = g1 (SWnet + LWabs + h_eff Ta) of the step, all (B,).
        """
        B, nz = tk.shape
        nb = self.neighbours(tk.unsqueeze(1))                 # (B, 1 or 2, nz-2)
        if self.uniform:
            r = coef["r"]
            interior = coef["inv"] * (r * nb[:, 0] + tn[:, 1:-1])
        else:
            a, c = coef["a"], coef["c"]
            interior = (a * nb[:, 0] + c * nb[:, 1] + tn[:, 1:-1]) / (1 + a + c)
        c0, g1 = coef["c0"], coef["g1"]
        top = ((tn[:, 0] + c0 * (tk[:, 1] + coef["g1src"]))
               / (1 + c0 * (1 + g1 * (coef["hb"] + coef["es"] * tk[:, 0] ** 3))))
        if bottom == "dirichlet":
            bot = T_b
        else:
            aN = coef["aN"]
            bot = (tn[:, -1] + aN * tk[:, -2]) / (1 + aN)
        return torch.cat([top.unsqueeze(1), interior, bot.unsqueeze(1)], dim=1)


def jacobi_coefficients(grid: Grid, h_t: torch.Tensor, w_t: torch.Tensor, kdt: torch.Tensor,
                        lam: torch.Tensor) -> dict:
    """Per-member Jacobi coefficients computed with the Fortran scheme's operations.

    Args:
        grid: geometry; h_t (N,) and w_t (nz,) the same spacings/widths as tensors.
        kdt: lambda/C*dt [m2], (B,).
        lam: lambda [W m-1 K-1], (B,).

    Returns:
        dict with c0 = 2*(kdt/(h1*h1)) (B,), g1 = h1/lam (B,), aN (B,), and r and
        inv = 1/(1+2r) (B, 1) on the uniform grid or a, c (B, nz-2) otherwise.
    """
    k = kdt.unsqueeze(1)
    h1 = h_t[0]
    out = {"c0": 2 * (kdt / (h1 * h1)), "g1": h1 / lam, "aN": kdt / (w_t[-1] * h_t[-1])}
    if grid.uniform:
        out["r"] = k / (w_t[1] * h_t[0])                      # kdt/(dx*dx): the paper's r
        out["inv"] = 1 / (1 + 2 * out["r"])
    else:
        out["a"] = k / (w_t[1:-1] * h_t[:-1])
        out["c"] = k / (w_t[1:-1] * h_t[1:])
    return out


def absorbed_longwave(lw: torch.Tensor, eps: torch.Tensor, longwave: str) -> torch.Tensor:
    """LWabs [W m-2]: L_down (paper) or eps L_down (kirchhoff)."""
    return eps * lw if longwave == "kirchhoff" else lw


def surface_source(sw, lw, ta, alpha, eps, h_eff, longwave: str) -> torch.Tensor:
    """K_down (1 - alpha) + LWabs + h_eff Ta [W m-2], grouped as in the published code."""
    return sw * (1 - alpha) + absorbed_longwave(lw, eps, longwave) + h_eff * ta


def ground_flux(Ts, sw, lw, ta, alpha, eps, h_eff, longwave: str) -> torch.Tensor:
    """G(Ts) = SWnet + LWabs - eps sigma Ts^4 - h_eff (Ts - Ta) [W m-2] (surface equation)."""
    return (sw * (1 - alpha) + absorbed_longwave(lw, eps, longwave)
            - eps * SIGMA * Ts ** 4 - h_eff * (Ts - ta))


def surface_fluxes(Ts: torch.Tensor, sw: torch.Tensor, lw: torch.Tensor, ta: torch.Tensor,
                   alpha: torch.Tensor, eps: torch.Tensor, h_eff: torch.Tensor,
                   beta: torch.Tensor | None, longwave: str) -> dict[str, torch.Tensor]:
    """Surface flux terms [W m-2] at surface temperature Ts [K], as Fortran ``surface_fluxes``.

    Args:
        Ts: surface temperature, (B, n). sw, lw [W m-2], ta [K]: forcing, (B, n).
        alpha, eps, h_eff, beta: (B, 1) (beta None or <= 0: Qh and Qle are NaN).
        longwave: "paper" or "kirchhoff".

    Returns:
        dict keyed by :data:`FLUX_NAMES`, each (B, n). Qg = SWnet + LWdown - LWup - (Qh + Qle).
    """
    swnet = sw * (1 - alpha)
    if longwave == "kirchhoff":
        lwup = eps * SIGMA * Ts ** 4 + (1 - eps) * lw
    else:
        lwup = eps * SIGMA * Ts ** 4
    turb = h_eff * (Ts - ta)
    if beta is None:
        qh = torch.full_like(turb, float("nan"))
        qle = qh
    else:
        known = beta > 0
        bpos = torch.where(known, beta, torch.ones_like(beta))
        nan = torch.full_like(turb, float("nan"))
        qh = torch.where(known, turb * (bpos / (1 + bpos)), nan)
        qle = torch.where(known, turb / (1 + bpos), nan)
    qg = swnet + lw - lwup - turb
    return {"SWnet": swnet, "LWdown": lw.expand_as(swnet).clone() if lw.shape != swnet.shape
            else lw, "LWup": lwup, "Qh": qh, "Qle": qle, "Qg": qg, "Qh_plus_Qle": turb}
