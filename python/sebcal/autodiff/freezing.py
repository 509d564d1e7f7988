"""Steps with freeze-thaw in the PyTorch mirror (docs/theory.md sec. 4d, eq. 17), the same
discrete equations as ``step_freezing`` in fortran/sebcal_column.f90.

Every prognostic row of eq. 8 gains the latent heat beta_i (wl_i(T_i) - wl_i(T_i^n)),
beta_i = rho_w L_f / C_i, so a step is a nonlinear tridiagonal system F(T; T^n, p) = 0. It is
solved without autograd by the Fortran's Newton iteration (whole-column Jacobian, backtracking
line search on the largest residual, the same stopping rules) to T*, and differentiated by the
implicit-function theorem: the step returns

    T = T* + (U - U.detach()),   U = -J^(-1) F(T*; T^n, p),   J = dF/dT at T* (detached),

whose value is T* and whose derivative is -J^(-1) (dF/dT^n dT^n + dF/dp dp), exactly the
tangent of eq. 14. Autograd carries it through the time loop.
"""

# ruff: noqa: N803, N806

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..physics import TORCH
from ..physics.soil import L_FUSION, RHO_WATER, coefficients, frozen_properties, liquid_water
from .layers import ColumnError

#: largest Newton update [K] (as the Fortran)
MAX_NEWTON_STEP = 50.0


class FreezingSteps:
    """The steps of one batch: residual, Jacobian, Newton solve and the differentiable step."""

    def __init__(self, model: Any, X: dict, soil_nodes: Mapping[str, torch.Tensor]) -> None:
        self.m = model
        self.X = X
        self.o = model.options
        self.freezing = self.o["freezing"]
        self.th = model.theta_w
        self.soil = soil_nodes                                  # name -> (B, nz)
        self.theta = X["theta"]                                 # (B|1, L, nz)
        self.nz = model.nz
        self.first = 1 if self.o["top"] == "temperature" else 0
        self.last = self.nz - 1 if self.o["bottom"] == "zero_flux" else self.nz - 2
        self.const = None
        if self.o["soil_thermal"] != "johansen":
            lam, C = frozen_properties(self.soil, None, None, "constant", TORCH)
            a, c, c0, g1 = coefficients(lam, C, model.h, model.w, model.dt, TORCH)
            self.const = (a, c, c0, g1, RHO_WATER * L_FUSION / C)

    # ---------------------------------------------------------------- pieces
    def water(self, level: int) -> torch.Tensor:
        th = self.theta[:, level]
        return th.expand(self.X["B"], -1) if th.shape[0] == 1 else th

    def coefs(self, Tn: torch.Tensor, level: int) -> tuple:
        """a, c, c0, g1 and beta (B, nz) of a step from the old level Tn (the properties at
        the old level's ice, eq. 16)."""
        if self.const is not None:
            return self.const
        th = self.water(level)
        wl, _ = liquid_water(self.soil, th, Tn, self.freezing, TORCH)
        lam, C = frozen_properties(self.soil, th, wl, "johansen", TORCH)
        a, c, c0, g1 = coefficients(lam, C, self.m.h, self.m.w, self.m.dt, TORCH)
        return a, c, c0, g1, RHO_WATER * L_FUSION / C

    def ground_flux(self, T0: torch.Tensor, level: int) -> torch.Tensor:
        """G (B,) at the top temperature T0 (B,) with the forcing of ``level``."""
        if self.o["top"] == "flux":
            return self.X["forcing"]["Gtop"][:, level].expand(T0.shape[0])
        lv = torch.tensor([level], device=T0.device)
        return self.m._ground_flux(T0.unsqueeze(1), self.X, self.soil, lv)[:, 0]

    def known(self, Tn: torch.Tensor, g_old: torch.Tensor | None, level: int, co: tuple
              ) -> torch.Tensor:
        """The known part r of every row: old level, its latent heat and explicit part."""
        a, c, c0, g1, beta = co
        wl, _ = liquid_water(self.soil, self.water(level), Tn, self.freezing, TORCH)
        r = Tn + beta * wl
        th = self.th
        if th < 1:
            d = torch.zeros_like(Tn)
            d[:, 1:-1] = a[:, 1:-1] * (Tn[:, :-2] - Tn[:, 1:-1]) \
                + c[:, 1:-1] * (Tn[:, 2:] - Tn[:, 1:-1])
            if self.o["bottom"] == "zero_flux":
                d[:, -1] = a[:, -1] * (Tn[:, -2] - Tn[:, -1])
            if self.o["top"] != "temperature":
                d[:, 0] = c0 * ((Tn[:, 1] - Tn[:, 0]) + g1 * g_old)
            r = r + (1 - th) * d
        return r

    def residual(self, y: torch.Tensor, r: torch.Tensor, level: int, co: tuple,
                 jacobian: bool = False):
        """Rows of the step at y (B, nz): the prognostic rows of eq. 17 and, for a prescribed
        node, y - its value; with ``jacobian`` also the (detached) tridiagonal J (B, nz, nz)."""
        a, c, c0, g1, beta = co
        th = self.th
        o = self.o
        f = self.X["forcing"]
        wl, dwl = liquid_water(self.soil, self.water(level), y, self.freezing, TORCH)
        F = y + beta * wl - r
        inner = a[:, 1:-1] * (y[:, :-2] - y[:, 1:-1]) + c[:, 1:-1] * (y[:, 2:] - y[:, 1:-1])
        rows = [None, F[:, 1:-1] - th * inner, None]
        if o["top"] == "temperature":
            rows[0] = y[:, 0] - f["Ttop"][:, level]
            G = dG = None
        else:
            if jacobian and o["top"] == "seb":
                with torch.enable_grad():
                    y0 = y[:, 0].detach().clone().requires_grad_(True)
                    Gd = self.ground_flux(y0, level)
                    dG = torch.autograd.grad(Gd.sum(), y0)[0]
            else:
                dG = torch.zeros_like(y[:, 0])
            G = self.ground_flux(y[:, 0], level)
            rows[0] = F[:, 0] - th * c0 * ((y[:, 1] - y[:, 0]) + g1 * G)
        if o["bottom"] == "zero_flux":
            rows[2] = F[:, -1] - th * a[:, -1] * (y[:, -2] - y[:, -1])
        elif o["bottom"] == "series":
            rows[2] = y[:, -1] - f["Tbottom"][:, level]
        else:
            rows[2] = y[:, -1] - self.X["ps"]["T_b"]
        R = torch.cat([rows[0].unsqueeze(1), rows[1], rows[2].unsqueeze(1)], dim=1)
        if not jacobian:
            return R
        with torch.no_grad():
            B, nz = y.shape
            J = torch.zeros(B, nz, nz, dtype=y.dtype, device=y.device)
            idx = torch.arange(1, nz - 1, device=y.device)
            J[:, idx, idx] = 1 + beta[:, 1:-1] * dwl[:, 1:-1] + th * (a[:, 1:-1] + c[:, 1:-1])
            J[:, idx, idx - 1] = -th * a[:, 1:-1]
            J[:, idx, idx + 1] = -th * c[:, 1:-1]
            if o["top"] == "temperature":
                J[:, 0, 0] = 1
            else:
                J[:, 0, 0] = 1 + beta[:, 0] * dwl[:, 0] + th * c0 * (1 - g1 * dG)
                J[:, 0, 1] = -th * c0
            if o["bottom"] == "zero_flux":
                J[:, -1, -1] = 1 + beta[:, -1] * dwl[:, -1] + th * a[:, -1]
                J[:, -1, -2] = -th * a[:, -1]
            else:
                J[:, -1, -1] = 1
        return R, J.detach()

    # ---------------------------------------------------------------- one step
    def newton(self, Tn: torch.Tensor, r: torch.Tensor, level: int, co: tuple
               ) -> tuple[torch.Tensor, int]:
        """T* of the step (detached), by the Fortran's iteration; the iterations used."""
        tol, max_iter = self.m.tol, self.m.max_iter
        lo, hi = self.first, self.last + 1
        with torch.no_grad():
            x = Tn.detach().clone()
            f = self.X["forcing"]
            if self.o["top"] == "temperature":
                x[:, 0] = f["Ttop"][:, level]
            if self.o["bottom"] == "dirichlet":
                x[:, -1] = self.X["ps"]["T_b"]
            elif self.o["bottom"] == "series":
                x[:, -1] = f["Tbottom"][:, level]
            res, J = self.residual(x, r, level, co, jacobian=True)
            rnorm = res[:, lo:hi].abs().amax(dim=1)
            niter = 0
            while True:
                niter += 1
                d = torch.linalg.solve(J, -res.unsqueeze(-1))[..., 0]
                d[:, :lo] = 0
                d[:, hi:] = 0
                dmax = d.abs().amax(dim=1)
                scale = torch.where(dmax > MAX_NEWTON_STEP, MAX_NEWTON_STEP / dmax,
                                    torch.ones_like(dmax))
                d = d * scale.unsqueeze(1)
                step = torch.ones_like(dmax)
                found = torch.zeros_like(dmax, dtype=torch.bool)
                xt = x
                for _ in range(30):
                    cand = x + step.unsqueeze(1) * d
                    rn = self.residual(cand, r, level, co)[:, lo:hi].abs().amax(dim=1)
                    ok = (~found) & ((rn < rnorm) | (rn == 0))
                    xt = torch.where(ok.unsqueeze(1), cand, xt)
                    found = found | ok
                    if bool(found.all()):
                        break
                    step = torch.where(found, step, 0.5 * step)
                failed = ~found
                xt = torch.where(failed.unsqueeze(1), x + d, xt)
                x = xt
                if not bool(torch.isfinite(x).all()) or bool((x <= 0).any()):
                    raise ColumnError("freezing step: temperatures left the physical range; "
                                      "check the parameters and forcing")
                res, J = self.residual(x, r, level, co, jacobian=True)
                rnorm = res[:, lo:hi].abs().amax(dim=1)
                done = (dmax <= tol) | (rnorm <= tol) | (failed & (dmax <= 1000 * tol))
                if bool(done.all()):
                    return x, niter
                if niter >= max_iter:
                    raise ColumnError(f"freezing step: Newton did not converge in {niter} "
                                      f"iterations (last update {float(dmax.max()):.3e} K, tol "
                                      f"{tol:.3e} K); raise max_iter or tol")

    def step(self, Tn: torch.Tensor, g_old: torch.Tensor | None, level: int
             ) -> tuple[torch.Tensor, int, tuple]:
        """T^(n+1) (B, nz) of the step to ``level`` from Tn, differentiable."""
        co = self.coefs(Tn, level)
        r = self.known(Tn, g_old, level, co)
        Tstar, niter = self.newton(Tn, r.detach(), level, tuple(t.detach() for t in co))
        R, J = self.residual(Tstar, r, level, co, jacobian=True)
        U = -torch.linalg.solve(J, R.unsqueeze(-1))[..., 0]
        return Tstar + (U - U.detach()), niter, co


def forward_freezing(model: Any, X: dict, soil_nodes: Mapping[str, torch.Tensor],
                     S0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """T (B, L, nz), iterations (B, nt), spin-up cycles (B,) and the fluxes by name (B, L)."""
    fs = FreezingSteps(model, X, soil_nodes)
    o = model.options
    B, L = X["B"], X["L"]
    nt = L - 1
    T = S0.expand(B, -1) if S0.shape[0] != B else S0
    top_t = o["top"] == "temperature"

    def g_of(Tp: torch.Tensor, level: int) -> torch.Tensor | None:
        return None if top_t else fs.ground_flux(Tp[:, 0], level)

    cycles = torch.zeros(B, dtype=torch.int64)
    g = g_of(T, 0)
    if o["init"] == "spinup":
        from .model import _periodic

        nday = model._nday(nt)
        done = np.zeros(B, dtype=bool)
        change = np.full(B, np.inf)
        for cyc in range(1, int(model.spec.spinup_max_cycles) + 1):
            start, g_start = T, g
            for k in range(1, nday + 1):
                T, _, _ = fs.step(T, g, k)
                g = g_of(T, k)
            if done.any():                  # members already periodic keep their profile
                hold = torch.as_tensor(done)
                T = torch.where(hold[:, None], start, T)
                g = None if g is None else torch.where(hold, g_start, g)
            prev = change
            change = (T - start).abs().amax(dim=1).detach().numpy()
            cycles = torch.where(torch.as_tensor(done), cycles, torch.full_like(cycles, cyc))
            # the Fortran's stop (column_spinup): the estimated distance to the periodic
            # profile, not one day's change
            done = done | _periodic(change, prev, cyc, model.spec.spinup_tol)
            if done.all():
                break
        else:
            raise ColumnError(f"spin-up: the profile was not periodic after "
                              f"{model.spec.spinup_max_cycles} repeats of the first day (tol "
                              f"{model.spec.spinup_tol:.3e} K); raise spinup_max_cycles or "
                              "spinup_tol")
        g = g_of(T, 0)
    out = [T]
    its = torch.zeros(B, nt, dtype=torch.int64)
    qg_top = [torch.full((B,), float("nan"), dtype=T.dtype, device=T.device)]
    for k in range(1, nt + 1):
        Tn = T
        T, niter, co = fs.step(Tn, g, k)
        its[:, k - 1] = niter
        g = g_of(T, k)
        if top_t:
            # the heat that entered the top half cell, its latent heat included
            a, c, c0, g1, beta = co
            th = fs.water(k)
            wl, _ = liquid_water(fs.soil, th[:, :1], T[:, :1], fs.freezing, TORCH)
            wo, _ = liquid_water(fs.soil, th[:, :1], Tn[:, :1], fs.freezing, TORCH)
            qg_top.append(((T[:, 0] - Tn[:, 0]) + beta[:, 0] * (wl[:, 0] - wo[:, 0])
                           - c0 * (T[:, 1] - T[:, 0])) / (c0 * g1))
        out.append(T)
    Tall = torch.stack(out, dim=1)
    c0 = g1 = None
    if fs.const is not None:
        c0, g1 = fs.const[2], fs.const[3]
    fluxes = model._fluxes(Tall, X, soil_nodes, c0 if c0 is not None else torch.ones(B),
                           g1 if g1 is not None else torch.ones(B))
    if top_t:
        fluxes["Qg"] = torch.stack(qg_top, dim=1)
    return Tall, its, cycles, fluxes
