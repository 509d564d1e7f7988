"""Batched Levenberg-Marquardt over independent starts, on exact Jacobians.

Every start b minimises its own cost F_b(u) = 1/2 |r_b(u)|^2 over the unbounded coordinates u
of :mod:`.space` (the bounds are in the transform, so every step is feasible). One iteration:

1. the step d solves (J^T J + mu D) d = -J^T r with D = diag(J^T J) (Marquardt's scaling,
   floored at 1e-12 of its largest entry so that a coordinate the data do not see cannot take
   an unbounded step);
2. the trial point u + d is run with its tangents in one batched Fortran call, so an accepted
   step brings its own Jacobian;
3. the gain ratio rho = (F(u) - F(u + d)) / (F(u) - L(d)), L the Gauss-Newton model, accepts
   the step when rho > 1e-4 and updates mu as Nielsen (1999) does: mu *= max(1/3, 1 - (2 rho -
   1)^3) on success, mu *= nu, nu *= 2 on failure.

A start stops (reason recorded per start) when the relative decrease of F in an accepted step
is below ``ftol`` (or a rejected step's predicted one, F(u) - L(d)), when the step is below
``xtol`` (1 + |u|), when the largest gradient component |J^T r| is below ``gtol`` F, after
``max_iterations``, or when it comes within ``merge_tol`` (in u) of a start with a lower cost:
it has joined that start's basin, and its result is the other start's (the multi-start
analysis still counts it). A start whose run fails (the scheme's error flag, e.g. a surface
temperature out of range at the trial point) rejects the step; a start that fails at its first
point is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .problem import Problem

#: initial damping, relative to the largest diagonal entry of J^T J: small, so the first steps
#: are nearly Gauss-Newton (Nielsen's update raises it at once where that fails). On the
#: published two-depth problem 1e-5 takes 10 iterations where 1e-3 takes 16; on the West
#: Phoenix and Baltimore cases it reaches the same or a lower optimum in fewer iterations.
MU0 = 1e-5


@dataclass
class LMState:
    """Where the optimisation of all starts stands (also what a checkpoint holds)."""

    u: np.ndarray                      # (B, P)
    cost: np.ndarray                   # (B,) 1/2 |r|^2
    mu: np.ndarray                     # (B,) damping
    nu: np.ndarray                     # (B,) damping growth
    active: np.ndarray                 # (B,) bool
    failed: np.ndarray                 # (B,) bool
    merged: np.ndarray                 # (B,) int: the start whose basin it joined, or -1
    iteration: int = 0
    evaluations: int = 0               # batched Fortran calls
    runs: int = 0                      # column runs (forward + tangents) over all starts
    history: list = field(default_factory=list)
    reason: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> LMState:
        kw = dict(d)
        for k, t in (("u", float), ("cost", float), ("mu", float), ("nu", float),
                     ("active", bool), ("failed", bool), ("merged", int)):
            kw[k] = np.array(d[k], dtype=t)
        return cls(**kw)


def start(problem: Problem, u0: np.ndarray) -> tuple[LMState, np.ndarray, np.ndarray]:
    """The initial state, residuals and Jacobians of the starts u0 (B, P)."""
    ev = problem.evaluate(u0, jac=True)
    B = u0.shape[0]
    cost = 0.5 * np.nansum(ev.r ** 2, axis=1)
    cost[ev.failed] = np.nan
    JtJ = np.einsum("bnp,bnq->bpq", np.nan_to_num(ev.J), np.nan_to_num(ev.J))
    mu = MU0 * np.max(np.diagonal(JtJ, axis1=1, axis2=2), axis=1)
    state = LMState(np.array(u0, dtype=np.float64), cost, np.maximum(mu, 1e-12),
                    np.full(B, 2.0), ~ev.failed, ev.failed.copy(), np.full(B, -1, dtype=int),
                    evaluations=1, runs=B, reason=["" if not f else
                                                   f"failed at the start: {ev.message}"
                                                   for f in ev.failed])
    return state, ev.r, ev.J


def levenberg_marquardt(problem: Problem, state: LMState, r: np.ndarray, J: np.ndarray, *,
                        max_iterations: int = 100, ftol: float = 1e-10, xtol: float = 1e-10,
                        gtol: float = 1e-10, merge_tol: float = 1e-3,
                        callback: Callable[[LMState], None] | None = None
                        ) -> tuple[LMState, np.ndarray, np.ndarray]:
    """Iterate all active starts until each stops; returns the state and the residuals and
    Jacobians at every start's final point."""
    B, P = state.u.shape
    r = r.copy()
    J = J.copy()
    reason = list(state.reason) or ["" for _ in range(B)]
    for it in range(state.iteration, max_iterations):
        act = np.flatnonzero(state.active)
        if act.size == 0:
            break
        Ja, ra = J[act], r[act]
        g = np.einsum("bnp,bn->bp", Ja, ra)
        A = np.einsum("bnp,bnq->bpq", Ja, Ja)
        diag = np.diagonal(A, axis1=1, axis2=2).copy()
        floor = 1e-12 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300)
        D = np.maximum(diag, floor)
        M = A + state.mu[act, None, None] * np.einsum("bp,pq->bpq", D, np.eye(P))
        try:
            d = -np.linalg.solve(M, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            dm = np.diagonal(M, axis1=1, axis2=2)
            d = np.where(dm > 0, -g / np.where(dm > 0, dm, 1.0), 0.0)
        pred = -(np.einsum("bp,bp->b", d, g) + 0.5 * np.einsum("bp,bpq,bq->b", d, A, d))
        trial = state.u[act] + d
        ev = problem.evaluate(trial, jac=True)
        state.evaluations += 1
        state.runs += act.size
        cost_t = 0.5 * np.sum(ev.r ** 2, axis=1)
        ok = ~ev.failed & np.isfinite(cost_t)
        cost0 = state.cost[act]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(pred > 0, (cost0 - cost_t) / pred, -1.0)
        accept = ok & (rho > 1e-4) & (cost_t <= cost0)
        for j, b in enumerate(act):
            if accept[j]:
                rel = (cost0[j] - cost_t[j]) / max(cost0[j], 1e-300)
                state.u[b] = trial[j]
                state.cost[b] = cost_t[j]
                r[b], J[b] = ev.r[j], ev.J[j]
                state.mu[b] *= max(1.0 / 3.0, 1.0 - (2.0 * rho[j] - 1.0) ** 3)
                state.nu[b] = 2.0
                step = np.abs(d[j])
                if rel < ftol:
                    reason[b] = f"relative cost change {rel:.1e} < ftol"
                    state.active[b] = False
                elif np.all(step <= xtol * (1.0 + np.abs(state.u[b]))):
                    reason[b] = "step below xtol"
                    state.active[b] = False
            elif ok[j] and 0 <= pred[j] <= ftol * cost0[j]:
                # the Gauss-Newton model itself promises no relative decrease above ftol (as
                # MINPACK's ftol test): converged, the rejection is round-off in the cost
                rel = pred[j] / max(cost0[j], 1e-300)
                reason[b] = f"predicted relative decrease {rel:.1e} < ftol"
                state.active[b] = False
            else:
                state.mu[b] *= state.nu[b]
                state.nu[b] *= 2.0
                if state.mu[b] > 1e20:
                    reason[b] = "no decrease in any direction (damping limit)"
                    state.active[b] = False
            gb = np.einsum("np,n->p", J[b], r[b])
            if state.active[b] and np.max(np.abs(gb)) <= gtol * max(state.cost[b], 1e-300):
                reason[b] = "gradient below gtol"
                state.active[b] = False
        _merge(state, merge_tol, reason)
        state.iteration = it + 1
        state.history.append(float(np.nanmin(np.where(state.failed, np.nan, state.cost))))
        state.reason = reason
        if callback:
            callback(state)
    for b in np.flatnonzero(state.active):
        reason[b] = f"iteration limit ({max_iterations})"
        state.active[b] = False
    for b in np.flatnonzero(state.merged >= 0):
        a = int(state.merged[b])
        while state.merged[a] >= 0:
            a = int(state.merged[a])
        reason[b] = f"joined the basin of start {a} (stopped early; its result is that start's)"
        state.u[b], state.cost[b] = state.u[a], state.cost[a]
        r[b], J[b] = r[a], J[a]
    state.reason = reason
    return state, r, J


def _merge(state: LMState, tol: float, reason: list) -> None:
    """Stop active starts that have come within tol (max norm in u) of a start with a lower
    cost (active or finished)."""
    ok = ~state.failed & np.isfinite(state.cost)
    order = np.argsort(np.where(ok, state.cost, np.inf))
    order = order[ok[order]]
    if order.size < 2:
        return
    u = state.u[order]
    # near[i, j]: start order[j] is within tol of start order[i]
    near = np.max(np.abs(u[:, None, :] - u[None, :, :]), axis=2) < tol
    kept = np.zeros(order.size, dtype=bool)
    for i, b in enumerate(order):
        hits = np.flatnonzero(near[i, :i] & kept[:i])
        if hits.size and state.active[b]:
            state.merged[b] = int(order[hits[0]])
            state.active[b] = False
        elif not hits.size:
            kept[i] = True


__all__ = ["LMState", "levenberg_marquardt", "start"]
