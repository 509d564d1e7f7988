"""Direct solver of the implicit steps and its exact (implicit-function) gradient.

Notation as in docs/theory.md and :mod:`sebcal.autodiff.layers`. Unknowns of one step are the
surface temperature T_0 and the prognostic sub-surface nodes u = (T_1..T_K) (K = N-1 with a
Dirichlet bottom, whose node is T_b, and K = N with the zero-flux bottom). The sub-surface rows
are linear with a matrix that is the same at every step for a given parameter set,

    (I + kdt A) u = u^n + kdt ga_1 T_0 e_1 + kdt gc_(N-1) T_b e_K,     A = -L restricted,

where L is the geometric operator that the conv layers assemble. W A (W = diag w) is symmetric,
so S = W^(1/2) A W^(-1/2) = V diag(l) V^T once per grid (``torch.linalg.eigh`` at model
construction, independent of the parameters). In the modal coordinates y = V^T W^(1/2) u one
step is diagonal,

    y^(n+1) = D y^n + kdt D beta_1 (T_0^(n+1) - T_b),                 D = 1/(1 + kdt l),

for the deviation u - T_b (a uniform T_b is a steady state of these rows when T_0 = T_b, so the
bottom term drops out and the modal amplitudes stay small, which keeps the round-off of the
transforms ~1e-12 K), and T_1 = T_b + rho . y. This is Thomas elimination written once for all
steps: T_1 = p_1 + q_1 T_0 with p_1 = rho . D y^n + (1 - q_1) T_b and q_1 = kdt rho . D beta_1,
so each step is O(K) elementwise work plus the scalar surface equation

    phi(T_0) = (1 + c_0 (1 - q_1) + c_0 g_1 h_eff) T_0 + c_0 g_1 eps sigma T_0^4
               - (T_0^n + c_0 p_1 + c_0 g_1 (SWnet + LWabs + h_eff Ta)) = 0,

solved by Newton's method (increasing and convex, so it converges monotonically after its first
step) to |update| <= tol, as the Fortran scheme does. The full profiles u = W^(-1/2) V y of all
steps are recovered afterwards by one batched matrix product.

Gradients. The whole trajectory S = (S^0..S^M) solves F(S, theta) = 0, where F stacks the
initial condition and the residual of every implicit step (evaluated by the conv layers).
Newton's method converges quadratically, so the solution S* (tol 1e-10 K) is exact to round-off
and the implicit-function theorem gives its exact derivative, dS/dtheta = -J^(-1) dF/dtheta with
J = dF/dS. Reverse mode needs only v = J^(-T) g for the cotangent g: J is block lower
bidiagonal in time with the step Jacobians on the diagonal, so this adjoint solve is one
backward sequential pass in the same modal coordinates (:func:`adjoint_solve`), after which
one autograd pass through the conv residual, -v . dF/dtheta, gives the gradient of every input
(parameters, forcing, initial profile). :class:`ImplicitTrajectory` is the autograd Function;
no sweep or Newton iteration is ever recorded.
Spin-up days become part of the trajectory; members that are already periodic hold their state
("hold" steps, F = S^m - S^(m-1)), so batched members may spin up for different numbers of days.
"""

# ruff: noqa: N802, N803, N806

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from ..params import SIGMA
from .layers import ColumnError, DiffusionOperator, Grid

#: rows of the time axis processed per batched matrix product (bounds temporary memory)
GEMM_CHUNK = 4096


class ModalBasis(torch.nn.Module):
    """Eigenbasis of the sub-surface operator, built from the conv-assembled matrix.

    Args:
        operator: the conv diffusion operator of the grid.
        grid: the column geometry.
        bottom: "dirichlet" or "zero_flux".
    """

    def __init__(self, operator: DiffusionOperator, grid: Grid, bottom: str) -> None:
        super().__init__()
        nz = grid.nz
        N = nz - 1
        self.dirichlet = bottom == "dirichlet"
        K = N - 1 if self.dirichlet else N
        self.K = K
        with torch.no_grad():
            Lg = operator.matrix().to(torch.float64).cpu()   # Lg[i, j] = L_i(e_j)
        A = -Lg[1:K + 1, 1:K + 1]
        w = torch.tensor(grid.w[1:K + 1], dtype=torch.float64)
        sw = w.sqrt()
        S = sw[:, None] * A / sw[None, :]
        S = 0.5 * (S + S.T)
        evals, V = torch.linalg.eigh(S)
        self.ga1 = float(Lg[1, 0])                 # 1/(w_1 h_1): coupling of node 1 to T_0
        self.gc0 = float(Lg[0, 1])                 # 2/h_1^2: c_0 / kdt
        self.gcb = float(Lg[K, N]) if self.dirichlet else 0.0   # 1/(w_(N-1) h_N)
        self.h1 = float(grid.h[0])
        self.register_buffer("evals", evals)
        # transforms with the W^(+-1/2) scaling folded in, row-vector form x @ M
        self.register_buffer("to_y", (sw[:, None] * V).contiguous())       # y = V^T W^(1/2) u
        self.register_buffer("from_y", (V.T / sw[None, :]).contiguous())   # u = W^(-1/2) V y
        self.register_buffer("to_z", (V / sw[:, None]).contiguous())       # z = V^T W^(-1/2) g
        self.register_buffer("from_z", (V.T * sw[None, :]).contiguous())   # v = W^(1/2) V z
        self.register_buffer("rho", V[0] / sw[0])             # T_1 = rho . y
        self.register_buffer("sigma1", V[0] * sw[0])          # v_1 = sigma1 . z (adjoint)
        self.register_buffer("beta1", self.ga1 * V[0] * sw[0])
        self.register_buffer("lastrow", V[K - 1] * sw[K - 1])

    @staticmethod
    def _transform(x: torch.Tensor, mat: torch.Tensor, out: torch.Tensor | None = None
                   ) -> torch.Tensor:
        """x @ mat over the last axis; 3-D inputs in chunks of the second axis (less memory)."""
        if x.dim() == 2:
            return x @ mat
        if out is None:
            out = torch.empty(x.shape[:-1] + (mat.shape[1],), dtype=x.dtype, device=x.device)
        for s in range(0, x.shape[1], GEMM_CHUNK):
            out[:, s:s + GEMM_CHUNK] = x[:, s:s + GEMM_CHUNK] @ mat
        return out

    def to_modal(self, u, out=None):
        """y = V^T W^(1/2) u (state)."""
        return self._transform(u, self.to_y, out)

    def from_modal(self, y, out=None):
        """u = W^(-1/2) V y (state)."""
        return self._transform(y, self.from_y, out)

    def to_modal_adj(self, g, out=None):
        """z = V^T W^(-1/2) g (adjoint)."""
        return self._transform(g, self.to_z, out)

    def from_modal_adj(self, z, out=None):
        """v = W^(1/2) V z (adjoint)."""
        return self._transform(z, self.from_z, out)


@dataclass
class StepPlan:
    """Per-forward constants of the direct solver (detached, one row per batch member).

    (B, K): D = 1/(1 + kdt l), gvec = kdt D beta_1, Drho = D rho. (B,): kdt, q1 = rho . gvec,
    c0 = kdt 2/h_1^2, g1 = h_1/lambda, Ac = 1 + c0 (1 - q1) + c0 g1 h_eff, Ke = c0 g1 eps sigma,
    kga1 = kdt ga_1, kgcb = kdt gc_(N-1), and Tref = T_b (the modal state holds u - Tref).
    """

    basis: ModalBasis
    kdt: torch.Tensor
    D: torch.Tensor
    gvec: torch.Tensor
    q1: torch.Tensor
    Drho: torch.Tensor
    c0: torch.Tensor
    g1: torch.Tensor
    Ac: torch.Tensor
    Ke: torch.Tensor
    kga1: torch.Tensor
    kgcb: torch.Tensor
    Tref: torch.Tensor
    # set for the gradient
    den: torch.Tensor | None = None      # d phi/d T_0 at the solution, (B, M+1)
    hold: torch.Tensor | None = None     # (B, M+1) bool: hold steps (spin-up), or None
    P: int = 0                           # hold steps only occur at m <= P
    S: torch.Tensor | None = None        # the solution handed to ImplicitTrajectory

    @classmethod
    def build(cls, basis: ModalBasis, dt: float, lam, C, T_b, h_eff, eps) -> "StepPlan":
        """Constants for parameters (B,) (detached tensors)."""
        kdt = lam / C * dt
        k = kdt.unsqueeze(1)
        D = 1.0 / (1.0 + k * basis.evals)
        gvec = (k * D) * basis.beta1
        q1 = gvec @ basis.rho
        c0 = kdt * basis.gc0
        g1 = basis.h1 / lam
        Ac = 1 + c0 * (1 - q1) + c0 * g1 * h_eff
        Ke = c0 * g1 * (eps * SIGMA)
        return cls(basis=basis, kdt=kdt, D=D, gvec=gvec, q1=q1, Drho=D * basis.rho, c0=c0,
                   g1=g1, Ac=Ac, Ke=Ke, kga1=kdt * basis.ga1, kgcb=kdt * basis.gcb, Tref=T_b)

    def set_solution(self, T0: torch.Tensor, hold: torch.Tensor | None, P: int) -> None:
        """Store d phi/dT_0 = Ac + 4 Ke T_0^3 along the solution T0 (B, M+1) and the holds."""
        self.den = self.Ac.unsqueeze(1) + 4 * self.Ke.unsqueeze(1) * T0.pow(3)
        self.hold = hold
        self.P = P


class _Arrays:
    """Array namespace of the sequential loops: NumPy views of CPU tensors, else torch.

    The time loops do a few dozen operations on (B,) and (B, K) arrays per step, where
    operator dispatch dominates; NumPy dispatches about twice as fast as torch on the CPU and
    its views share the tensors' memory. On other devices the same code runs on tensors.
    """

    def __init__(self, ref: torch.Tensor) -> None:
        self.numpy = ref.device.type == "cpu"
        self.device = ref.device

    def __call__(self, t):
        if t is None or not isinstance(t, torch.Tensor):
            return t
        return t.detach().numpy() if self.numpy else t

    def tensor(self, a) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)) if self.numpy else a

    def stack(self, items, axis: int, out=None):
        if self.numpy:
            return np.stack(items, axis=axis, out=out)
        return torch.stack(items, axis, out=out)

    def where(self, cond, a, b):
        return np.where(cond, a, b) if self.numpy else torch.where(cond, a, b)

    def zeros(self, shape, like):
        return np.zeros(shape) if self.numpy else torch.zeros(shape, dtype=like.dtype,
                                                               device=like.device)


def march(plan: StepPlan, y: torch.Tensor, T0: torch.Tensor, cgsrc: torch.Tensor, tol: float,
          max_iter: int, first_step: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Advance the modal state over cgsrc.shape[1] implicit steps (no autograd).

    Each step: p_1 = rho . D y^n, Newton on phi(T_0) = Ac T_0 + Ke T_0^4 - Bc from T_0^n
    (update t <- (3 Ke t^4 + Bc)/(Ac + 4 Ke t^3)) until |update| <= tol for every member,
    then y^(n+1) = D y^n + gvec (T_0 - T_b).

    Args:
        plan: constants from :meth:`StepPlan.build`.
        y: modal sub-surface state of u - T_b (B, K); T0: surface temperature [K] (B,).
        cgsrc: c_0 g_1 (SWnet + LWabs + h_eff Ta) at the new level of each step, (B, n).
        tol: Newton tolerance on the update [K]; max_iter: most Newton iterations.
        first_step: number of the first step (for error messages).

    Returns:
        Y (B, n, K), T0 (B, n) after each step, and Newton iterations per step (B, n) (as the
        Fortran counts them: the first iteration whose update is <= tol).
    """
    B, n = cgsrc.shape
    xp = _Arrays(y)
    D, rho, c0, Ac, Ke, gvec, Tref = (xp(v) for v in (plan.D, plan.basis.rho, plan.c0, plan.Ac,
                                                     plan.Ke, plan.gvec, plan.Tref))
    # c_0 p_1 = c_0 (rho . D y^n) + c_0 (1 - q_1) T_b: the constant part joins the source
    src = xp((cgsrc + (plan.c0 * (1 - plan.q1) * plan.Tref).unsqueeze(1)).T.contiguous())
    Ke3, Ke4 = 3 * Ke, 4 * Ke
    y, T0 = xp(y), xp(T0)
    Ys, T0s, iters = [], [], []
    for j in range(n):
        yp = D * y
        Bc = T0 + src[j] + c0 * (yp @ rho)
        t = T0
        upd = []
        for k in range(max_iter):
            t3 = t * t * t
            tn = (Ke3 * t3 * t + Bc) / (Ac + Ke4 * t3)
            d = abs(tn - t)
            upd.append(d)
            t = tn
            if k == 0 and max_iter > 1:   # the first update is the step's change of Ts
                continue
            dmax = float(d.max())
            if dmax <= tol:
                break
            if not dmax < float("inf"):
                raise ColumnError(f"step {first_step + j}: direct solver: surface temperature "
                                  "became non-finite; check the parameters and forcing")
        else:
            raise ColumnError(f"step {first_step + j}: direct solver: Newton did not converge in "
                              f"{max_iter} iterations (last update {float(d.max()):.3e} K, tol "
                              f"{tol:.3e} K); raise max_iter or tol")
        if not float(t.min()) > 0:
            raise ColumnError(f"step {first_step + j}: direct solver: surface temperature left the"
                              " physical range; check the parameters and forcing")
        y = yp + gvec * (t - Tref)[:, None]
        T0 = t
        Ys.append(y)
        T0s.append(t)
        # iterations until the first update <= tol (the last one is <= tol for every member)
        iters.append((xp.stack(upd[:-1], 0) > tol).sum(0) + 1 if len(upd) > 1
                     else upd[0] * 0 + 1)
    if not Ys:
        e = plan.D.new_empty(B, 0)
        return plan.D.new_empty(B, 0, plan.D.shape[1]), e, torch.empty(B, 0, dtype=torch.int64)
    return (xp.tensor(xp.stack(Ys, 1)), xp.tensor(xp.stack(T0s, 1)),
            xp.tensor(xp.stack(iters, 1)).to(torch.int64))


class _Transformed:
    """Rows ``g[m] @ mat`` computed on demand (the z-transform of a sparse cotangent)."""

    def __init__(self, g, mat) -> None:
        self.g, self.mat = g, mat

    def __getitem__(self, m):
        return self.g[m] @ self.mat


def adjoint_solve(plan: StepPlan, G: torch.Tensor) -> torch.Tensor:
    """v = J^(-T) g for a trajectory cotangent g (B, M+1, nz): one backward sequential pass.

    J = dF/dS is block lower bidiagonal in time: diagonal blocks are the step Jacobians J_m
    (identity for level 0 and hold steps), sub-diagonal blocks -E (E = I except a zero for the
    Dirichlet bottom row of a regular step). So J_m^T v^m = g^m + E v^(m+1), m = M..0, each
    solved like a forward step: modal sub-surface rows, then the scalar surface row.
    """
    basis = plan.basis
    B, M1, nz = G.shape
    K = basis.K
    dirichlet = basis.dirichlet
    xp = _Arrays(G)
    Gu = G[..., 1:K + 1]
    # observation operators usually touch a few nodes: then the z-transform of g is done per
    # step on those columns only, else for all levels at once (one matrix product)
    cols = torch.nonzero(Gu.abs().amax(dim=(0, 1)) > 0).flatten()
    if cols.numel() < K // 4:
        Z = torch.empty(B, M1, K, dtype=G.dtype, device=G.device)
        gc = xp(Gu[..., cols].transpose(0, 1).contiguous())          # (M1, B, ncols)
        tz = xp(basis.to_z[cols].contiguous())
        pb = _Transformed(gc, tz)
    else:
        Z = basis.to_modal_adj(Gu)                   # z-transform of g, then z itself
        pb = xp(Z).transpose(1, 0, 2) if xp.numpy else Z.transpose(0, 1)
    Zx = xp(Z)
    g0 = xp(G[..., 0].T.contiguous())
    gN = xp(G[..., -1].T.contiguous()) if dirichlet else None
    den = xp(plan.den.T.contiguous())
    D, sigma1, lastrow, Drho, c0, kga1, kgcb = (xp(v) for v in (
        plan.D, basis.sigma1, basis.lastrow, plan.Drho, plan.c0, plan.kga1, plan.kgcb))
    hold = xp(plan.hold.T.contiguous()) if plan.hold is not None else None
    P = plan.P
    z = xp.zeros((B, K), G)
    v0 = xp.zeros((B,), G)
    vN = v0
    zero = v0
    zs, v0s, vNs = [None] * M1, [None] * M1, [None] * M1

    def carry_bottom(m_next: int):
        # the bottom row couples to the next level only through a hold step
        if hold is None or m_next > P or m_next >= M1:
            return zero
        return xp.where(hold[m_next], vN, zero)

    for m in range(M1 - 1, 0, -1):
        pbm = pb[m]
        t = D * (pbm + z)
        v0n = (g0[m] + v0 + kga1 * (t @ sigma1)) / den[m]
        zn = t + Drho * (c0 * v0n)[:, None]
        if dirichlet:
            cb = carry_bottom(m + 1)
            vNn = gN[m] + cb + kgcb * (zn @ lastrow)
        if hold is not None and m <= P:
            hm = hold[m]
            zn = xp.where(hm[:, None], pbm + z, zn)
            v0n = xp.where(hm, g0[m] + v0, v0n)
            if dirichlet:
                vNn = xp.where(hm, gN[m] + cb, vNn)
        z, v0 = zn, v0n
        zs[m], v0s[m] = z, v0
        if dirichlet:
            vN = vNn
            vNs[m] = vN
    # level 0: F_0 = S^0 - S_init, an identity block
    zs[0] = pb[0] + z
    v0s[0] = g0[0] + v0
    xp.stack(zs, 1, out=Zx)
    v = torch.empty_like(G)
    v[..., 0] = xp.tensor(xp.stack(v0s, 1))
    basis.from_modal_adj(Z, out=v[..., 1:K + 1])
    if dirichlet:
        vNs[0] = gN[0] + carry_bottom(1)
        v[..., -1] = xp.tensor(xp.stack(vNs, 1))
    return v


class ImplicitTrajectory(torch.autograd.Function):
    """Identity on the solved trajectory S* whose backward is the implicit-function gradient.

    ``apply(plan, lagrangian, *inputs)`` returns S = plan.S (B, M+1, nz), the solution computed
    without autograd, now attached to the graph. With F(S, inputs) = 0 the trajectory's
    equations and J = dF/dS, the vector-Jacobian product for a cotangent g is

        dL/dinputs = d/dinputs [ w . F(S*, inputs) ],      w = -J^(-T) g,

    with S* and w held fixed: :func:`adjoint_solve` gives w, and ``lagrangian(S, w, inputs)``
    evaluates the parameter-dependent part of w . F (the conv diffusion operator applied to
    S*, contracted with w, plus the surface, bottom and initial-state terms) with autograd, so a
    single small graph gives the gradient of every input. Nothing of the forward pass is
    recorded; the operator is re-applied in the backward pass, like a checkpoint.
    """

    @staticmethod
    def forward(ctx, plan: StepPlan, lagrangian, *inputs: torch.Tensor
                ) -> torch.Tensor:  # noqa: D102
        S, plan.S = plan.S, None
        ctx.plan = plan
        ctx.lagrangian = lagrangian
        ctx.save_for_backward(S, *inputs)
        return S

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        S, *inputs = ctx.saved_tensors
        need = ctx.needs_input_grad[2:]
        grads: list = [None] * len(inputs)
        wanted = [i for i, n in enumerate(need) if n]
        if wanted:
            w = adjoint_solve(ctx.plan, grad.contiguous())
            w.neg_()
            with torch.enable_grad():
                xs = [x.detach().requires_grad_(n) for x, n in zip(inputs, need)]
                psi = ctx.lagrangian(S, w, xs)
                gs = torch.autograd.grad(psi, [xs[i] for i in wanted], allow_unused=True)
            for i, g in zip(wanted, gs):
                grads[i] = g
        return (None, None, *grads)
