"""Batched optimisers over independent starts: Adam, then L-BFGS per start, and the Hessian.

Every start b has its own loss L_b(u_b) with u_b in the prior-scaled space
(:mod:`sebcal.calibration.space`). Starts never interact: Adam is element-wise, and the L-BFGS
here keeps one curvature history and one line search per start (a stock L-BFGS on the sum of
the losses would mix the starts' curvature and step lengths).

Stopping rule (documented in docs/calibration.md and applied exactly):

* Adam runs ``adam_iterations`` steps (learning rate ``adam_lr``, cosine-decayed to a tenth).
* L-BFGS then runs per start until **any** of: the relative loss decrease of an iteration is
  below ``ftol``; the largest gradient component |dL/du| is below ``gtol``; the line search
  finds no decrease; ``lbfgs_iterations`` iterations.

A start whose loss becomes NaN or infinite is marked failed and frozen; it is reported and
dropped, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

#: fun(u (B, P)) -> loss (B,), differentiable
LossFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class OptimState:
    """Where the optimisation of all starts stands (also what a checkpoint holds)."""

    u: np.ndarray                      # (B, P)
    loss: np.ndarray                   # (B,)
    failed: np.ndarray                 # (B,) bool
    converged: np.ndarray              # (B,) bool
    stage: str = "adam"                # "adam", "lbfgs", "done"
    iteration: int = 0                 # iterations done in the current stage
    history: list = field(default_factory=list)   # best loss per iteration
    reason: list = field(default_factory=list)    # per start: why it stopped

    def to_dict(self) -> dict:
        return {"u": self.u.tolist(), "loss": self.loss.tolist(), "failed": self.failed.tolist(),
                "converged": self.converged.tolist(), "stage": self.stage,
                "iteration": self.iteration, "history": self.history, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict) -> OptimState:
        return cls(np.array(d["u"], dtype=np.float64), np.array(d["loss"], dtype=np.float64),
                   np.array(d["failed"], dtype=bool), np.array(d["converged"], dtype=bool),
                   d["stage"], int(d["iteration"]), list(d["history"]), list(d["reason"]))


def value_and_grad(fun: LossFn, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loss (B,) and its gradient (B, P) at u; NaN rows keep NaN."""
    x = torch.tensor(u, dtype=torch.float64, requires_grad=True)
    loss = fun(x)
    ok = torch.isfinite(loss)
    total = torch.where(ok, loss, torch.zeros_like(loss)).sum()
    (g,) = torch.autograd.grad(total, x)
    g = g.detach().numpy().copy()
    lv = loss.detach().numpy().copy()
    g[~np.isfinite(lv)] = np.nan
    return lv, g


def adam(fun: LossFn, state: OptimState, iterations: int, lr: float,
         callback: Callable[[OptimState], None] | None = None) -> OptimState:
    """Element-wise Adam from state.u for the remaining iterations of the Adam stage."""
    u = torch.tensor(state.u, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([u], lr=lr)
    failed = state.failed.copy()
    loss_np = state.loss.copy()
    for it in range(state.iteration, iterations):
        for group in opt.param_groups:        # cosine decay from lr to lr/10
            group["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * it / max(iterations, 1))))
        opt.zero_grad()
        loss = fun(u)
        lv = loss.detach().numpy()
        bad = ~np.isfinite(lv)
        failed |= bad
        total = torch.where(torch.as_tensor(~failed), loss, torch.zeros_like(loss)).sum()
        total.backward()
        with torch.no_grad():
            u.grad[torch.as_tensor(failed)] = 0.0
            u.grad[~torch.isfinite(u.grad)] = 0.0
        opt.step()
        loss_np = np.where(failed, np.nan, lv)
        state = OptimState(u.detach().numpy().copy(), loss_np, failed, state.converged, "adam",
                           it + 1, state.history + [float(np.nanmin(loss_np))]
                           if np.isfinite(loss_np).any() else state.history, state.reason)
        if callback:
            callback(state)
    # the loss at the final u (Adam's last step moved u after the last evaluation)
    lv, _ = value_and_grad(fun, state.u)
    state.failed = state.failed | ~np.isfinite(lv)
    state.loss = np.where(state.failed, np.nan, lv)
    state.stage, state.iteration = "lbfgs", 0
    return state


def lbfgs(fun: LossFn, state: OptimState, iterations: int, *, memory: int = 10,
          ftol: float = 1e-12, gtol: float = 1e-9, max_backtracks: int = 30,
          callback: Callable[[OptimState], None] | None = None) -> OptimState:
    """L-BFGS with one history and one Armijo backtracking line search per start."""
    u = state.u.copy()
    B, P = u.shape
    f, g = value_and_grad(fun, u)
    failed = state.failed | ~np.isfinite(f)
    active = ~failed & ~state.converged
    reason = list(state.reason) or ["" for _ in range(B)]
    S = np.zeros((memory, B, P))
    Y = np.zeros((memory, B, P))
    rho = np.zeros((memory, B))
    n_hist = np.zeros(B, dtype=int)
    for it in range(state.iteration, iterations):
        if not active.any():
            break
        # two-loop recursion, vectorised over starts; slot 0 is the newest pair and slots
        # without a pair have rho = 0, so they drop out
        q = np.where(active[:, None], g, 0.0)
        alpha = np.zeros((memory, B))
        for j in range(memory):
            alpha[j] = rho[j] * np.sum(S[j] * q, axis=1)
            q = q - alpha[j][:, None] * Y[j]
        sy = np.sum(S[0] * Y[0], axis=1)
        yy = np.sum(Y[0] ** 2, axis=1)
        gamma = np.where((n_hist > 0) & (yy > 0), sy / np.where(yy > 0, yy, 1.0), 1e-2)
        r = gamma[:, None] * q
        for j in range(memory - 1, -1, -1):
            beta = rho[j] * np.sum(Y[j] * r, axis=1)
            r = r + (alpha[j] - beta)[:, None] * S[j]
        d = -r
        slope = np.sum(d * g, axis=1)
        not_descent = active & ~(slope < 0)
        d[not_descent] = -g[not_descent] * 1e-2          # fall back to steepest descent
        slope = np.sum(d * g, axis=1)
        d[~active] = 0.0
        # Armijo backtracking per start
        t = np.ones(B)
        accepted = ~active
        f_new, g_new = f.copy(), g.copy()
        for _ in range(max_backtracks):
            trial = u + t[:, None] * d
            ft, gt = value_and_grad(fun, trial)
            ok = ~accepted & np.isfinite(ft) & (ft <= f + 1e-4 * t * slope)
            f_new[ok], g_new[ok] = ft[ok], gt[ok]
            accepted |= ok
            if accepted.all():
                break
            t = np.where(accepted, t, 0.5 * t)
        stuck = active & ~accepted
        for b in np.flatnonzero(stuck):
            reason[b] = "line search found no decrease"
        active &= ~stuck
        s = t[:, None] * d
        s[~active] = 0.0
        y = g_new - g
        sy = np.sum(s * y, axis=1)
        good = active & (sy > 1e-12 * np.linalg.norm(s, axis=1) * np.linalg.norm(y, axis=1))
        if good.any():
            S[:, good] = np.roll(S[:, good], 1, axis=0)
            Y[:, good] = np.roll(Y[:, good], 1, axis=0)
            rho[:, good] = np.roll(rho[:, good], 1, axis=0)
            S[0, good], Y[0, good], rho[0, good] = s[good], y[good], 1.0 / sy[good]
            n_hist[good] += 1
        u = u + s
        rel = np.abs(f - f_new) / np.maximum(np.abs(f), 1e-300)
        f = np.where(active, f_new, f)
        g = np.where(active[:, None], g_new, g)
        done_f = active & (rel < ftol)
        done_g = active & (np.abs(g).max(axis=1) < gtol)
        for b in np.flatnonzero(done_f):
            reason[b] = f"relative loss change {rel[b]:.1e} < ftol"
        for b in np.flatnonzero(done_g & ~done_f):
            reason[b] = "gradient below gtol"
        active &= ~(done_f | done_g)
        state = OptimState(u.copy(), np.where(failed, np.nan, f), failed,
                           state.converged | done_f | done_g, "lbfgs", it + 1,
                           state.history + [float(np.nanmin(np.where(failed, np.nan, f)))],
                           reason)
        if callback:
            callback(state)
    for b in np.flatnonzero(active):
        reason[b] = f"iteration limit ({iterations})"
    for b in np.flatnonzero(failed):
        reason[b] = "failed: the loss became NaN or infinite"
    state.u, state.loss, state.failed, state.reason = u, np.where(failed, np.nan, f), failed, reason
    state.stage = "done"
    return state


def hessian(fun: LossFn, u: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Hessian (B, P, P) of each start's loss in u: central differences of exact (autograd)
    gradients, symmetrised. The gradient is exact, so the error is O(step^2) ~ 1e-8 relative."""
    B, P = u.shape
    H = np.zeros((B, P, P))
    for k in range(P):
        e = np.zeros(P)
        e[k] = step
        _, gp = value_and_grad(fun, u + e)
        _, gm = value_and_grad(fun, u - e)
        H[:, :, k] = (gp - gm) / (2 * step)
    return 0.5 * (H + np.swapaxes(H, 1, 2))
