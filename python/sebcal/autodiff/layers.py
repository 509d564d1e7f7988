"""Fixed-weight convolution layers that carry the discrete physics of the soil column.

With the coefficients of docs/theory.md eq. 8 (a_i couples node i to i-1, c_i to i+1, c_0 is
the surface coefficient), the diffusion term of every node is

    D_i(T) = a_i (T_(i-1) - T_i) + c_i (T_(i+1) - T_i) = c_i d_(i+1) - a_i d_i,
    d_j = T_j - T_(j-1),

and the implicit step reads T - T^n = theta D(T) + (1 - theta) D(T^n) (+ the surface term).
Two fixed ``torch.nn.Conv1d`` layers represent the operator (their weights are buffers,
never trained):

* :class:`DiffusionOperator`: a conv with kernel ``[-1, 1]`` gives the node differences d_j;
  per-node coefficients scale them. It evaluates the residual of every implicit step (any
  grid, any soil) in the gradient.
* :class:`JacobiSweep`: the published neighbour-sum conv, kernel ``[1, 0, 1]`` on the uniform
  grid (docs/theory.md sec. 4), or a two-channel conv returning the left and right neighbours
  that per-node coefficients scale on a given grid.
"""

# Symbols follow the paper and docs/theory.md (T, C, T_b, ...).
# ruff: noqa: N802, N803, N806

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SebcalError
from ..vocabulary import FLUX_NAMES


class ColumnError(SebcalError, RuntimeError):
    """The torch column model could not advance (no convergence, non-physical state)."""


def _fixed_conv(weight: list, out_channels: int = 1) -> nn.Conv1d:
    """A bias-free Conv1d whose weight is a buffer (moves with .to(), is never a Parameter)."""
    w = torch.tensor(weight, dtype=torch.float64).reshape(out_channels, 1, -1)
    conv = nn.Conv1d(1, out_channels, w.shape[-1], bias=False, padding=0)
    del conv.weight
    conv.register_buffer("weight", w)
    return conv


class DiffusionOperator(nn.Module):
    """Node differences and the diffusion term D(T) from one fixed conv (weight ``[-1, 1]``)."""

    def __init__(self) -> None:
        super().__init__()
        self.diff = _fixed_conv([-1.0, 1.0])

    def differences(self, T: torch.Tensor) -> torch.Tensor:
        """d_j = T_j - T_(j-1) [K], (..., n) -> (..., n-1).

        The profiles of each leading-axis member go through the conv as one long signal (a
        batch of a few long signals is much faster on CPU than many short ones); the outputs
        that straddle two profiles are dropped.
        """
        lead, n = T.shape[:-1], T.shape[-1]
        if T.dim() == 1:
            return self.diff(T.reshape(1, 1, n)).reshape(n - 1)
        T = T.contiguous()
        b = T.shape[0] if T.dim() > 2 else 1
        out = self.diff(T.reshape(b, 1, -1))                      # (b, 1, L - 1), L = m n
        L = out.shape[-1] + 1
        inner = lead[1:] if T.dim() > 2 else lead
        st, acc = [], n
        for d in reversed(inner):
            st.insert(0, acc)
            acc *= d
        strides = ([L - 1] if T.dim() > 2 else []) + st + [1]
        return out.as_strided(tuple(lead) + (n - 1,), tuple(strides))

    def forward(self, T: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """D(T) = c_i d_(i+1) - a_i d_i [K] for every node (..., nz); a_0 = c_N = 0 make the
        boundaries flux-free (the boundary rows add their own terms)."""
        d = self.differences(T)
        return c * F.pad(d, (0, 1)) - a * F.pad(d, (1, 0))


class JacobiSweep(nn.Module):
    """One sweep of the published Jacobi iteration (docs/theory.md sec. 4), as a fixed conv.

    Uniform grid: ``Conv1d(1, 1, 3)`` with weight ``[1, 0, 1]`` gives T_(i-1) + T_(i+1) of every
    interior node, and the update is the paper's ``1/(1+2r) * (r * conv(T^k) + T^n)``.
    Given grid or layered soil: ``Conv1d(1, 2, 3)`` with weights ``[1, 0, 0]`` and ``[0, 0, 1]``
    gives the left and right neighbours, combined as (a_i T_(i-1) + c_i T_(i+1) + T_i^n) /
    (1 + a_i + c_i).
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

        ``coef``: r and inv = 1/(1+2r) (uniform) or a, c (B, nz); c0, g1, hb = h_eff,
        es = sigma eps, g1src = g1 (SWnet + LWabs + h_eff Ta) of the step, aN; all (B,) or
        (B, 1).
        """
        nb = self.neighbours(tk.unsqueeze(1))                 # (B, 1 or 2, nz-2)
        if self.uniform:
            interior = coef["inv"] * (coef["r"] * nb[:, 0] + tn[:, 1:-1])
        else:
            a, c = coef["a"][:, 1:-1], coef["c"][:, 1:-1]
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


__all__ = ["ColumnError", "DiffusionOperator", "JacobiSweep", "FLUX_NAMES"]
