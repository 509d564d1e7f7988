"""Direct solver of the implicit steps (a NumPy time loop) and its adjoint.

Notation of docs/theory.md eq. 8: unknowns of one step are the top temperature T_0 and the
sub-surface nodes u = (T_1..T_K) (K = N - 1 with a prescribed bottom temperature, K = N with
the zero-flux bottom). The sub-surface rows are linear,

    M u = r_u + theta a_1 T_0 e_1 (+ theta c_K T_N e_K),   M = tridiag(-theta a_i,
          1 + theta (a_i + c_i), -theta c_i),

so, eliminated from the bottom up (in deviations from a reference temperature, as the Fortran
does), T_1 = p_1 + q_1 T_0, and the top row becomes the scalar equation

    phi(T_0) = T_0 - r_0 - theta c_0 [(p_1 + (q_1 - 1) T_0) + g_1 G(T_0)] = 0,

solved by Newton's method with a bracket, to |update| <= tol. M is factorised once when the
soil properties do not change in time (a dense inverse per batch member: one matrix-vector
product per step), else by Thomas elimination every step.

Adjoint. The trajectory S = (S^0..S^M) solves F(S, inputs) = 0; J = dF/dS is block lower
bidiagonal in time (step Jacobians J_m on the diagonal, E_m = dF_m/dS^(m-1) below it), so
v = J^(-T) g is one backward pass: J_m^T v^m = g^m - E_(m+1)^T v^(m+1), each solved with the
same elimination (:meth:`DirectSolver.adjoint`). Everything here is NumPy on detached data;
:mod:`.model` wraps it as an autograd Function.
"""

# ruff: noqa: N802, N803, N806

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..physics import NUMPY
from ..physics.surface import SIGMA, surface_balance
from .layers import ColumnError

#: elements of B K K above which the dense inverse is not used (memory)
DENSE_LIMIT = 2.0e7
#: complex step for dG/dTs [K]
CSTEP = 1e-20
#: largest Newton update [K] (as the Fortran)
MAX_NEWTON_STEP = 50.0


class Coefficients:
    """Step coefficients (eq. 8): a, c (B, nz) or per level (B, L, nz); c0, g1 (B,) or (B, L)."""

    def __init__(self, a: np.ndarray, c: np.ndarray, c0: np.ndarray, g1: np.ndarray) -> None:
        self.a, self.c, self.c0, self.g1 = a, c, c0, g1
        self.varying = a.ndim == 3

    def at(self, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.varying:
            return self.a[:, level], self.c[:, level], self.c0[:, level], self.g1[:, level]
        return self.a, self.c, self.c0, self.g1


class _Elimination:
    """T_1 = p_1 + q_1 T_0 after the bottom-up elimination; complete() gives u."""

    def __init__(self, p1, q1, complete) -> None:
        self.p1, self.q1, self._complete = p1, q1, complete

    def complete(self, x0: np.ndarray) -> np.ndarray:
        return self._complete(x0)


class Subsurface:
    """Solves with the sub-surface matrix M of every step, and with its transpose."""

    def __init__(self, coef: Coefficients, theta: float, K: int, method: str = "auto") -> None:
        self.coef, self.theta, self.K = coef, theta, K
        B = coef.a.shape[0]
        self.dense = (not coef.varying and method != "thomas" and B * K * K <= DENSE_LIMIT)
        if self.dense:
            a, c = coef.a[:, 1:K + 1], coef.c[:, 1:K + 1]
            M = np.zeros((B, K, K))
            idx = np.arange(K)
            M[:, idx, idx] = 1 + theta * (a + c)
            M[:, idx[1:], idx[:-1]] = -theta * a[:, 1:]
            M[:, idx[:-1], idx[1:]] = -theta * c[:, :-1]
            self.Minv = np.linalg.inv(M)
            self.col0 = np.ascontiguousarray(self.Minv[:, :, 0])
            self.row0 = np.ascontiguousarray(self.Minv[:, 0, :])
            self.m11 = self.Minv[:, 0, 0].copy()

    # ---------------------------------------------------------------- forward
    def eliminate(self, level: int, rhs: np.ndarray) -> _Elimination:
        """Bottom-up elimination of the rows 1..K for right-hand sides (deviations) rhs (B, K)."""
        th = self.theta
        a, c, _, _ = self.coef.at(level)
        if self.dense:
            y = np.matmul(self.Minv, rhs[..., None])[..., 0]
            k1 = th * a[:, 1]
            return _Elimination(y[:, 0], k1 * self.m11,
                                lambda x0: y + (k1 * x0)[:, None] * self.col0)
        K = self.K
        B = rhs.shape[0]
        p = np.empty((B, K))
        q = np.empty((B, K))
        pn = np.zeros(B)
        qn = np.zeros(B)
        for i in range(K, 0, -1):
            den = 1 + th * (a[:, i] + c[:, i]) - th * c[:, i] * qn
            pn = (rhs[:, i - 1] + th * c[:, i] * pn) / den
            qn = th * a[:, i] / den
            p[:, i - 1] = pn
            q[:, i - 1] = qn

        def complete(x0):
            u = np.empty((B, K))
            x = x0
            for i in range(K):
                x = p[:, i] + q[:, i] * x
                u[:, i] = x
            return u
        return _Elimination(p[:, 0], q[:, 0], complete)

    # ---------------------------------------------------------------- transpose
    def solve_t(self, level: int, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M^(-T) b, (M^(-1))_11) for b (B, K)."""
        th = self.theta
        if self.dense:
            return np.matmul(b[:, None, :], self.Minv)[:, 0, :], self.m11
        a, c, _, _ = self.coef.at(level)
        K = self.K
        B = b.shape[0]
        p = np.empty((B, K))
        q = np.empty((B, K))
        pn = np.zeros(B)
        qn = np.zeros(B)
        m_den = None
        for i in range(K, 0, -1):
            aup = a[:, i + 1] if i < K else np.zeros(B)
            den = 1 + th * (a[:, i] + c[:, i]) - th * aup * qn
            pn = (b[:, i - 1] + th * aup * pn) / den
            qn = th * c[:, i - 1] / den
            p[:, i - 1] = pn
            q[:, i - 1] = qn
            m_den = den
        w = np.empty((B, K))
        x = p[:, 0]
        w[:, 0] = x
        for i in range(1, K):
            x = p[:, i] + q[:, i] * x
            w[:, i] = x
        # (M^-1)_11 is 1/(last pivot) of the bottom-up elimination of M (not of M^T)
        den1 = self._m11_thomas(level) if m_den is not None else None
        return w, den1

    def _m11_thomas(self, level: int) -> np.ndarray:
        th = self.theta
        a, c, _, _ = self.coef.at(level)
        qn = np.zeros(a.shape[0])
        den = None
        for i in range(self.K, 0, -1):
            den = 1 + th * (a[:, i] + c[:, i]) - th * c[:, i] * qn
            qn = th * a[:, i] / den
        return 1.0 / den

    def row0_t(self, level: int) -> np.ndarray:
        """M^(-T) e_1 (B, K)."""
        if self.dense:
            return self.row0
        e1 = np.zeros((self.coef.a.shape[0], self.K))
        e1[:, 0] = 1.0
        return self.solve_t(level, e1)[0]


@dataclass
class Inputs:
    """Detached NumPy inputs of the solver, one row per batch member.

    forcing: name -> (B or 1, L) over the forcing levels; ps: surface parameters name -> (B,);
    tb: T_b (B,); theta_top (B or 1, L) and phi_top (B,) for a moisture-dependent r_s.
    """

    forcing: Mapping[str, np.ndarray]
    ps: Mapping[str, np.ndarray]
    tb: np.ndarray | None
    theta_top: np.ndarray | None = None
    phi_top: np.ndarray | None = None

    def at(self, level: int) -> dict:
        return {k: v[:, level] for k, v in self.forcing.items()}


class DirectSolver:
    """The direct solver over a batch: forward steps, fluxes and the adjoint.

    Args:
        options: model options; coef: step coefficients; K: sub-surface unknowns; theta: time
        weight; inputs: detached forcing and parameters; tol [K], max_iter: Newton settings;
        wind_min [m s-1].
    """

    def __init__(self, options: Mapping[str, str], coef: Coefficients, K: int, theta: float,
                 inputs: Inputs, tol: float, max_iter: int, wind_min: float,
                 method: str = "auto") -> None:
        self.options = options
        self.coef = coef
        self.K = K
        self.theta = theta
        self.inp = inputs
        self.tol = tol
        self.max_iter = max_iter
        self.wind_min = wind_min
        self.sub = Subsurface(coef, theta, K, method)
        self.top = options["top"]
        self.bottom = options["bottom"]
        self.analytic = options["turbulence"] == "h_eff"

    # ---------------------------------------------------------------- surface
    def ground_flux(self, T0: np.ndarray, level: Any, derivative: bool = True
                    ) -> tuple[np.ndarray, np.ndarray | None]:
        """G(T0) [W m-2] and dG/dT0 at forcing level(s) ``level`` (int, or an index array
        of T0's last axis)."""
        if self.top == "flux":
            g = self._series("Gtop", level)
            return g + 0 * T0, np.zeros_like(T0) if derivative else None
        f = {k: v[:, level] for k, v in self.inp.forcing.items()}
        ps = self._ps_like(T0)
        th_top = None if self.inp.theta_top is None else self.inp.theta_top[:, level]
        phi = None if self.inp.phi_top is None else self._col(self.inp.phi_top, T0)
        if self.analytic:
            o = self.options
            if o["canopy"] == "transmission":
                tsw, tlw = ps["tau_sw"], ps["tau_lw"]
            elif o["canopy"] == "lai":
                tsw = tlw = np.exp(-ps["k_ext"] * f["LAI"])
            else:
                tsw = tlw = 1.0
            eps = ps["eps"]
            lw = f["LWdown"]
            lwabs = eps * lw if o["longwave"] == "kirchhoff" else lw
            es = eps * SIGMA
            t3 = T0 * T0 * T0
            g = tsw * (f["SWdown"] * (1 - ps["alpha"])) + tlw * (lwabs - es * (t3 * T0)) \
                - ps["h_eff"] * (T0 - f["Tair"])
            dg = -4 * tlw * es * t3 - ps["h_eff"] if derivative else None
            return g, dg
        if not derivative:
            g, _ = surface_balance(T0, f, ps, self.options, self.wind_min, th_top, phi, NUMPY)
            return np.real(g), None
        gc, _ = surface_balance(T0 + 1j * CSTEP, f, ps, self.options, self.wind_min, th_top,
                                phi, NUMPY)
        return np.real(gc), np.imag(gc) / CSTEP

    def _col(self, v: np.ndarray, like: np.ndarray) -> np.ndarray:
        return v.reshape(v.shape + (1,) * (like.ndim - 1)) if like.ndim > 1 else v

    def _ps_like(self, T0: np.ndarray) -> dict:
        return {k: self._col(v, T0) for k, v in self.inp.ps.items()}

    def _series(self, name: str, level: Any) -> np.ndarray:
        return self.inp.forcing[name][:, level]

    def _tbot(self, level: int) -> np.ndarray:
        if self.bottom == "series":
            return self._series("Tbottom", level)
        return self.inp.tb

    # ---------------------------------------------------------------- forward
    def step(self, T: np.ndarray, g_old: np.ndarray, level: int, first_step: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One implicit step from T (B, nz) with G^n = g_old (B,) to forcing level ``level``.

        Returns the new profile, its G (B,) and the Newton iterations (B,).
        """
        th = self.theta
        B, nz = T.shape
        N = nz - 1
        K = self.K
        a, c, c0, g1 = self.coef.at(level)
        r = T.copy()
        if th < 1:
            d = np.diff(T, axis=1)
            D = np.zeros_like(T)
            D[:, :-1] += c[:, :-1] * d
            D[:, 1:] -= a[:, 1:] * d
            expl = (1 - th) * D
            if self.bottom != "zero_flux":
                expl[:, N] = 0.0
            if self.top == "temperature":
                expl[:, 0] = 0.0
            else:
                expl[:, 0] += (1 - th) * c0 * g1 * g_old
            r += expl
        if self.bottom == "zero_flux":
            tref = T[:, N].copy()
            tbot = None
        else:
            tbot = self._tbot(level) + np.zeros(B)
            tref = tbot
        rhs = r[:, 1:K + 1] - tref[:, None]
        el = self.sub.eliminate(level, rhs)
        p1, q1 = el.p1, el.q1
        niter = np.ones(B, dtype=np.int64)
        if self.top == "temperature":
            x = self._series("Ttop", level) - tref
        elif self.top == "flux":
            x = ((r[:, 0] - tref) + th * c0 * (p1 + g1 * self._series("Gtop", level))) \
                / (1 + th * c0 * (1 - q1))
        else:
            x, niter = self._newton(T[:, 0] - tref, r[:, 0] - tref, tref, p1, q1, c0, g1,
                                    level, first_step)
        u = el.complete(x)
        Tn = np.empty_like(T)
        Tn[:, 0] = tref + x
        Tn[:, 1:K + 1] = tref[:, None] + u
        if tbot is not None:
            Tn[:, N] = tbot
        if not np.all(np.isfinite(Tn)):
            raise ColumnError(f"step {first_step}: direct solver: temperatures became "
                              "non-finite; check the parameters and forcing")
        if self.top == "temperature":
            g_new = ((Tn[:, 0] - T[:, 0]) - c0 * (Tn[:, 1] - Tn[:, 0])) / (c0 * g1)
        else:
            g_new, _ = self.ground_flux(Tn[:, 0], level, derivative=False)
        return Tn, g_new, niter

    def _newton(self, x0, r0, tref, p1, q1, c0, g1, level, step):
        th = self.theta
        x = x0.copy()
        B = x.size
        lo = np.full(B, -np.inf)
        hi = np.full(B, np.inf)
        active = np.ones(B, dtype=bool)
        niter = np.zeros(B, dtype=np.int64)
        A = 1 + th * c0 * (1 - q1)
        for _ in range(self.max_iter):
            g, dg = self.ground_flux(tref + x, level)
            phi = x - r0 - th * c0 * ((p1 + (q1 - 1) * x) + g1 * g)
            dphi = A - th * c0 * g1 * dg
            hi = np.where(phi > 0, np.minimum(hi, x), hi)
            lo = np.where(phi > 0, lo, np.maximum(lo, x))
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.where(dphi > 0, phi / dphi, np.copysign(MAX_NEWTON_STEP, phi))
            d = np.clip(d, -MAX_NEWTON_STEP, MAX_NEWTON_STEP)
            xn = x - d
            out = ~((xn > lo) & (xn < hi)) & np.isfinite(lo) & np.isfinite(hi)
            xn = np.where(out, 0.5 * (lo + hi), xn)
            d = np.where(out, x - xn, d)
            x = np.where(active, xn, x)
            niter += active
            if not (np.all(np.isfinite(x)) and np.all(tref + x > 0)):
                raise ColumnError(f"step {step}: direct solver: surface temperature left the "
                                  "physical range; check the parameters and forcing")
            active &= ~(np.abs(d) <= self.tol)
            if not active.any():
                return x, niter
        raise ColumnError(f"step {step}: direct solver: Newton did not converge in "
                          f"{self.max_iter} iterations (last update "
                          f"{float(np.abs(d[active]).max()):.3e} K, tol {self.tol:.3e} K); "
                          "raise max_iter or tol")

    def march(self, T: np.ndarray, g: np.ndarray, levels: np.ndarray, first_step: int = 1
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Steps to each level in ``levels``; returns profiles (B, n, nz), G (B, n), Newton
        iterations (B, n)."""
        n = len(levels)
        B, nz = T.shape
        Ts = np.empty((B, n, nz))
        Gs = np.empty((B, n))
        its = np.empty((B, n), dtype=np.int64)
        for j, lev in enumerate(levels):
            T, g, it = self.step(T, g, int(lev), first_step + j)
            Ts[:, j], Gs[:, j], its[:, j] = T, g, it
        return Ts, Gs, its

    # ---------------------------------------------------------------- adjoint
    def adjoint(self, S: np.ndarray, Gc: np.ndarray, new_level: np.ndarray,
                old_level: np.ndarray, hold: np.ndarray | None) -> np.ndarray:
        """v = J^(-T) g for the trajectory S (B, M+1, nz) and cotangent Gc (same shape).

        new_level[m], old_level[m]: forcing levels of step m (m = 1..M; index 0 unused);
        hold (B, M+1): steps where a member held its state (F = S^m - S^(m-1)).
        """
        th = self.theta
        B, M1, nz = S.shape
        nz - 1
        v = np.empty_like(S)
        dg_new = dg_old = None
        if self.top == "seb":
            _, dg_new = self.ground_flux(S[:, 1:, 0], new_level[1:])
            if th < 1:
                _, dg_old = self.ground_flux(S[:, :-1, 0], old_level[1:])
        carry = np.zeros((B, nz))                   # - E_(m+1)^T v^(m+1)
        for m in range(M1 - 1, 0, -1):
            rhs = Gc[:, m] + carry
            lev = int(new_level[m])
            a, c, c0, g1 = self.coef.at(lev)
            vm = self._solve_step_t(rhs, lev, a, c, c0, g1,
                                    None if dg_new is None else dg_new[:, m - 1])
            if hold is not None and hold[:, m].any():
                vm = np.where(hold[:, m][:, None], rhs, vm)
            v[:, m] = vm
            # E_m = dF_m/dS^(m-1) uses step m's own (frozen) coefficients
            carry = -self._et(vm, a, c, c0, g1,
                              None if dg_old is None else dg_old[:, m - 1])
            if hold is not None and hold[:, m].any():
                carry = np.where(hold[:, m][:, None], vm, carry)
        v[:, 0] = Gc[:, 0] + carry
        return v

    def _solve_step_t(self, rhs, lev, a, c, c0, g1, dg):
        th = self.theta
        B, nz = rhs.shape
        N = nz - 1
        K = self.K
        v = np.zeros_like(rhs)
        rhs_u = rhs[:, 1:K + 1]
        j10 = -th * a[:, 1]
        if self.top == "temperature":
            w, _ = self.sub.solve_t(lev, rhs_u)
            v0 = rhs[:, 0] - j10 * w[:, 0]
        else:
            j01 = -th * c0
            j00 = 1 + th * c0 - (th * c0 * g1 * dg if self.top == "seb" else 0.0)
            s, m11 = self.sub.solve_t(lev, rhs_u)
            v0 = (rhs[:, 0] - j10 * s[:, 0]) / (j00 - j10 * j01 * m11)
            w = s - (j01 * v0)[:, None] * self.sub.row0_t(lev)
        v[:, 0] = v0
        v[:, 1:K + 1] = w
        if self.bottom != "zero_flux":
            v[:, N] = rhs[:, N] + th * c[:, K] * w[:, K - 1]
        return v

    def _et(self, v, a, c, c0, g1, dg_old):
        """E^T v, E = dF_m/dS^(m-1) of a regular step."""
        th = self.theta
        va = v.copy()
        if self.top == "temperature":
            va[:, 0] = 0.0
        if self.bottom != "zero_flux":
            va[:, -1] = 0.0
        out = -va
        if th < 1:
            dtv = -(a + c) * va
            dtv[:, :-1] += a[:, 1:] * va[:, 1:]
            dtv[:, 1:] += c[:, :-1] * va[:, :-1]
            out -= (1 - th) * dtv
            if self.top == "seb":
                out[:, 0] -= (1 - th) * c0 * g1 * dg_old * va[:, 0]
        return out


__all__ = ["Coefficients", "DirectSolver", "Inputs", "Subsurface"]
