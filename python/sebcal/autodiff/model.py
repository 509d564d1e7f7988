"""Differentiable PyTorch mirror of the Fortran soil-column / SEB scheme.

Equations and options are those of docs/theory.md, mirrored option for option from
fortran/sebcal_column.f90 and sebcal_simulate.f90:

* solvers ``direct`` (default: exact solution of each backward-Euler step, modal Thomas
  elimination + Newton on the surface quartic, implicit-function gradients; see
  :mod:`sebcal.autodiff.implicit`) and ``jacobi`` (the published conv-sweep iteration with
  autograd through every sweep; reproduces the published targets);
* longwave ``paper`` / ``kirchhoff``; bottom ``dirichlet`` / ``zero_flux``;
* initial state ``uniform`` (T_b), ``profile`` or ``spinup`` (repeat the first day);
* the uniform grid (spacing exactly dx, coefficients r = lambda/C dt/dx^2) or given depths.

Parameters are inputs, not ``nn.Parameter`` s: each of alpha, eps, lam, C, T_b, h_eff (beta
optional) is a number or a tensor of shape (B,); forcing is (nt+1,) shared or (B, nt+1) per batch
member. Everything runs in float64 on the device the caller chooses.
"""

# ruff: noqa: N802, N803, N806

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..params import SIGMA, Params
from .implicit import ImplicitTrajectory, ModalBasis, StepPlan, march
from .layers import (BOTTOM, FLUX_NAMES, INIT, LONGWAVE, SOLVER_DEFAULTS, SOLVERS, ColumnError,
                     DiffusionOperator, Grid, JacobiSweep, ground_flux, jacobi_coefficients,
                     surface_fluxes, surface_source)

#: names of the parameters the model takes, in order (beta is optional)
PARAM_NAMES = ("alpha", "eps", "lam", "C", "T_b", "h_eff", "beta")

#: elements (members x levels x nodes) per chunk of the conv operator applied in the backward pass
RESIDUAL_ELEMENTS = 1 << 22


@dataclass
class ColumnOutput:
    """Model output at time levels n = 0..nt for B batch members.

    Attributes:
        T: soil temperature [K], (B, nt+1, nz); T[..., 0] is the surface temperature Ts.
        fluxes: surface fluxes [W m-2] keyed by :data:`FLUX_NAMES`, each (B, nt+1).
        n_iter: Newton iterations (direct) or Jacobi sweeps (jacobi) per step, (B, nt).
        spinup_cycles: days repeated by the spin-up per member (0 without), (B,).
        z: node depths [m], (nz,).
    """

    T: torch.Tensor
    fluxes: dict[str, torch.Tensor] = field(repr=False)
    n_iter: torch.Tensor = field(repr=False)
    spinup_cycles: torch.Tensor = field(repr=False)
    z: torch.Tensor = field(repr=False)

    @property
    def Ts(self) -> torch.Tensor:
        """Surface temperature [K], (B, nt+1)."""
        return self.T[..., 0]


def param_tensors(params: Params | Sequence[Params], *, dtype: torch.dtype = torch.float64,
                  device: torch.device | str | None = None,
                  requires_grad: bool = False) -> dict[str, torch.Tensor | None]:
    """Parameters as (B,) tensors keyed by :data:`PARAM_NAMES`, for ``SoilColumn(...)(**p)``.

    Args:
        params: one :class:`~sebcal.params.Params` (B = 1) or a sequence of them.
        requires_grad: make the free parameters (all but beta) leaf tensors with gradients.

    Returns:
        dict alpha, eps, lam, C, T_b, h_eff, beta (beta None when no member has a Bowen ratio;
        members without one get -1, "unknown", as in the Fortran parameter vector).
    """
    plist = [params] if isinstance(params, Params) else list(params)
    if not plist:
        raise ValueError("param_tensors needs at least one Params")
    out: dict[str, torch.Tensor | None] = {}
    for name in PARAM_NAMES[:-1]:
        out[name] = torch.tensor([getattr(p, name) for p in plist], dtype=dtype, device=device,
                                 requires_grad=requires_grad)
    betas = [p.beta for p in plist]
    out["beta"] = (None if all(b is None for b in betas)
                   else torch.tensor([-1.0 if b is None else b for b in betas], dtype=dtype,
                                     device=device))
    return out


class SoilColumn(nn.Module):
    """Soil column + surface energy balance over a time series, batched and differentiable.

    Args:
        node_depths: node depths [m], (nz,), 0 first, increasing. With ``dx`` only the number of
            nodes is used and the grid is z_i = i dx (the Fortran ``dx`` argument).
        dt: time step [s].
        dx: uniform spacing [m] (spacings exactly dx, as the paper), or None.
        solver: "direct" (default) or "jacobi".
        tol: Newton tolerance on the update (direct, default 1e-10 K) or Jacobi increment
            tolerance (default 1e-4 K).
        max_iter: most Newton iterations / Jacobi sweeps per step (default 50 / 100000).
        longwave: "paper" or "kirchhoff". bottom: "dirichlet" or "zero_flux".
        init: "uniform" (T_b), "profile" (``init_profile``) or "spinup".
        init_profile: default initial profile [K], (nz,), for init = "profile" (``forward`` may
            give one per call, also (B, nz)).
        spinup_tol: spin-up tolerance [K] on the change of the profile over one day.
        spinup_max_cycles: most days of spin-up.
        device: where the buffers live (the caller moves the inputs there too).

    ``forward`` returns a :class:`ColumnOutput`. The diffusion physics is the fixed conv in
    ``self.diffusion`` (:class:`~sebcal.autodiff.layers.DiffusionOperator`) and, for the Jacobi
    solver, ``self.sweep`` (:class:`~sebcal.autodiff.layers.JacobiSweep`); the module has no
    trainable parameters.
    """

    def __init__(self, node_depths: Any, dt: float, *, dx: float | None = None,
                 solver: str = "direct", tol: float | None = None, max_iter: int | None = None,
                 longwave: str = "paper", bottom: str = "dirichlet", init: str = "uniform",
                 init_profile: Any = None, spinup_tol: float = 1e-3,
                 spinup_max_cycles: int = 365,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        for kind, value, table in (("solver", solver, SOLVERS), ("longwave", longwave, LONGWAVE),
                                   ("bottom", bottom, BOTTOM), ("init", init, INIT)):
            if value not in table:
                raise ValueError(f"unknown {kind} '{value}': choose one of {', '.join(table)}")
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be > 0 s, got {dt}")
        self.grid = Grid.build(node_depths, dx)
        self.dt = float(dt)
        self.solver = solver
        d_tol, d_iter = SOLVER_DEFAULTS[solver]
        self.tol = float(tol if tol is not None else d_tol)
        self.max_iter = int(max_iter if max_iter is not None else d_iter)
        if not (self.tol > 0 and self.max_iter >= 1):
            raise ValueError("the solver needs tol > 0 K and max_iter >= 1")
        self.longwave = longwave
        self.bottom = bottom
        self.init = init
        self.spinup_tol = float(spinup_tol)
        self.spinup_max_cycles = int(spinup_max_cycles)
        self.diffusion = DiffusionOperator(self.grid)
        self.sweep = JacobiSweep(self.grid.uniform)
        self.basis = ModalBasis(self.diffusion, self.grid, bottom)
        self.register_buffer("z", torch.tensor(self.grid.z))
        self.register_buffer("h", torch.tensor(self.grid.h))
        self.register_buffer("w", torch.tensor(self.grid.w))
        if init_profile is not None:
            prof = torch.tensor(np.array(init_profile, dtype=np.float64))
            if prof.shape != (self.grid.nz,):
                raise ValueError(f"init_profile must have {self.grid.nz} values, got "
                                 f"{tuple(prof.shape)}")
            self.register_buffer("init_profile", prof)
        else:
            self.init_profile = None
        self.to(dtype=torch.float64)
        if device is not None:
            self.to(device)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_config(cls, config: Any, *, solver: str | None = None, tol: float | None = None,
                    max_iter: int | None = None,
                    device: torch.device | str | None = None) -> "SoilColumn":
        """The model a :class:`~sebcal.config.RunConfig` describes (options may be overridden).

        Overriding ``solver`` without ``tol``/``max_iter`` uses that solver's defaults.
        """
        same = solver is None or solver == config.solver
        return cls(config.node_depths, config.dt, dx=config.dx if config.uniform else None,
                   solver=solver or config.solver,
                   tol=tol if tol is not None else (config.tol if same else None),
                   max_iter=max_iter if max_iter is not None else (config.max_iter if same
                                                                   else None),
                   longwave=config.longwave, bottom=config.bottom, init=config.init,
                   init_profile=config.init_profile, spinup_tol=config.spinup_tol,
                   spinup_max_cycles=config.spinup_max_cycles, device=device)

    @property
    def nz(self) -> int:
        return self.grid.nz

    def extra_repr(self) -> str:
        grid = f"dx={self.grid.dx}" if self.grid.uniform else "given depths"
        return (f"nz={self.nz}, {grid}, dt={self.dt}, solver={self.solver}, tol={self.tol}, "
                f"longwave={self.longwave}, bottom={self.bottom}, init={self.init}")

    # ------------------------------------------------------------------ input normalisation
    def _tensor(self, x: Any) -> torch.Tensor:
        ref = self.z
        if isinstance(x, torch.Tensor):
            return x.to(dtype=ref.dtype, device=ref.device)
        return torch.tensor(np.asarray(x, dtype=np.float64), dtype=ref.dtype, device=ref.device)

    def _inputs(self, forcing: Sequence[Any], params: Mapping[str, Any]):
        fr = [self._tensor(f) for f in forcing]
        ps = {k: (self._tensor(v) if v is not None else None) for k, v in params.items()}
        sizes = set()
        for name, f in zip(("sw_down", "lw_down", "t_air"), fr):
            if f.dim() not in (1, 2):
                raise ValueError(f"{name} must be (nt+1,) or (B, nt+1), got {tuple(f.shape)}")
            if f.dim() == 2:
                sizes.add(f.shape[0])
        for name, v in ps.items():
            if v is None:
                continue
            if v.dim() > 1:
                raise ValueError(f"parameter {name} must be a number or a (B,) tensor, got "
                                 f"shape {tuple(v.shape)}")
            if v.dim() == 1:
                sizes.add(v.shape[0])
        sizes.discard(1)
        if len(sizes) > 1:
            raise ValueError(f"inconsistent batch sizes {sorted(sizes)} in parameters/forcing")
        B = sizes.pop() if sizes else 1
        n1 = {f.shape[-1] for f in fr}
        if len(n1) != 1 or n1.pop() < 1:
            raise ValueError("sw_down, lw_down and t_air need the same number (>= 1) of levels")
        fr = [f.reshape(1, -1).expand(B, -1) if f.dim() == 1 or f.shape[0] == 1 else f
              for f in fr]
        for name, f in zip(("sw_down", "lw_down", "t_air"), fr):
            if not bool(torch.isfinite(f.detach()).all()):
                raise ValueError(f"{name} has non-finite values: fill gaps before a run")
        if not bool((fr[2].detach() > 0).all()):
            raise ValueError("t_air must be > 0 K (degrees Celsius given?)")
        th = {k: (v.reshape(-1).expand(B) if v is not None else None) for k, v in ps.items()}
        for name in PARAM_NAMES[:-1]:
            if not bool(torch.isfinite(th[name].detach()).all()):
                raise ValueError(f"parameter {name} is not finite")
        for name in ("lam", "C", "h_eff", "T_b"):
            if not bool((th[name].detach() > 0).all()):
                raise ValueError(f"parameter {name} must be > 0")
        return fr, th, B

    def _initial(self, th: dict, B: int, init_profile: Any) -> torch.Tensor:
        nz = self.nz
        if self.init == "profile":
            prof = init_profile if init_profile is not None else self.init_profile
            if prof is None:
                raise ValueError("init = 'profile' needs init_profile (constructor or forward)")
            prof = self._tensor(prof)
            if prof.shape[-1] != nz or prof.dim() > 2:
                raise ValueError(f"init_profile must be (nz,) or (B, nz) with nz = {nz}, got "
                                 f"{tuple(prof.shape)}")
            if not bool(((prof.detach() > 0) & (prof.detach() <= 1e4)).all()):
                raise ValueError("initial profile: temperatures must be finite and > 0 K")
            return prof.reshape(-1, nz).expand(B, nz)
        return th["T_b"].unsqueeze(1).expand(B, nz)

    def _spinup_error(self) -> "ColumnError":
        return ColumnError(f"spin-up: the profile was not periodic after {self.spinup_max_cycles} "
                           f"repeats of the first day (tol {self.spinup_tol:.3e} K); raise "
                           "spinup_max_cycles or spinup_tol")

    def _nday(self, nt: int) -> int:
        nday = int(round(86400.0 / self.dt))
        if nday < 1 or abs(nday * self.dt - 86400.0) > 1e-6 * self.dt:
            raise ValueError(f"spin-up needs a time step that divides one day, got dt = {self.dt}")
        if nt < nday:
            raise ValueError(f"spin-up repeats the first day, but the run has only {nt} steps "
                             f"(one day is {nday})")
        return nday

    # ------------------------------------------------------------------ forward
    def forward(self, sw_down: Any, lw_down: Any, t_air: Any, alpha: Any, eps: Any, lam: Any,
                C: Any, T_b: Any, h_eff: Any, beta: Any = None,
                init_profile: Any = None) -> ColumnOutput:
        """Run the column over forcing at levels 0..nt (step n uses level n+1).

        Args:
            sw_down: K_down [W m-2], (nt+1,) or (B, nt+1). lw_down: L_down [W m-2]. t_air: Ta [K].
            alpha [-], eps [-], lam [W m-1 K-1], C [J m-3 K-1], T_b [K], h_eff [W m-2 K-1]:
                numbers or (B,) tensors (gradients flow to any that require them).
            beta: Bowen ratio [-] (B,) or None (then Qh and Qle are NaN).
            init_profile: initial profile [K], (nz,) or (B, nz), for init = "profile".

        Returns:
            :class:`ColumnOutput` with T (B, nt+1, nz) and fluxes (B, nt+1).
        """
        params = {"alpha": alpha, "eps": eps, "lam": lam, "C": C, "T_b": T_b, "h_eff": h_eff,
                  "beta": beta}
        (sw, lw, ta), th, B = self._inputs((sw_down, lw_down, t_air), params)
        S0 = self._initial(th, B, init_profile)
        if self.solver == "jacobi":
            T, n_iter, cycles = self._forward_jacobi(S0, sw, lw, ta, th)
        else:
            T, n_iter, cycles = self._forward_direct(S0, sw, lw, ta, th)
        col = {k: (v.unsqueeze(1) if v is not None else None) for k, v in th.items()}
        fluxes = surface_fluxes(T[..., 0], sw, lw, ta, col["alpha"], col["eps"], col["h_eff"],
                                col["beta"], self.longwave)
        return ColumnOutput(T=T, fluxes=fluxes, n_iter=n_iter, spinup_cycles=cycles, z=self.z)

    # ------------------------------------------------------------------ direct solver
    def _forward_direct(self, S0, sw, lw, ta, th):
        basis = self.basis
        K = basis.K
        B, n1 = sw.shape
        nt = n1 - 1
        dev, dt_ = S0.device, S0.dtype
        with torch.no_grad():
            thd = {k: (v.detach() if v is not None else None) for k, v in th.items()}
            plan = StepPlan.build(basis, self.dt, thd["lam"], thd["C"], thd["T_b"], thd["h_eff"],
                                  thd["eps"])
            src = surface_source(sw.detach(), lw.detach(), ta.detach(), thd["alpha"].unsqueeze(1),
                                 thd["eps"].unsqueeze(1), thd["h_eff"].unsqueeze(1),
                                 self.longwave)
            cgsrc = (plan.c0 * plan.g1).unsqueeze(1) * src         # (B, nt+1)
            s0 = S0.detach()
            Tref = thd["T_b"].unsqueeze(1)
            y = basis.to_modal(s0[:, 1:K + 1] - Tref)
            T0 = s0[:, 0].clone()
            cycles = torch.zeros(B, dtype=torch.int64, device=dev)
            pre_Y, pre_T0, pre_hold = [], [], []
            if self.init == "spinup":
                nday = self._nday(nt)
                done = torch.zeros(B, dtype=torch.bool, device=dev)
                prof = self._profile(T0, y, thd["T_b"])
                for c in range(1, self.spinup_max_cycles + 1):
                    Yd, T0d, _ = march(plan, y, T0, cgsrc[:, 1:nday + 1], self.tol, self.max_iter)
                    if bool(done.any()):
                        Yd = torch.where(done[:, None, None], y.unsqueeze(1), Yd)
                        T0d = torch.where(done[:, None], T0.unsqueeze(1), T0d)
                    pre_Y.append(Yd)
                    pre_T0.append(T0d)
                    pre_hold.append(done.unsqueeze(1).expand(B, nday))
                    y, T0 = Yd[:, -1], T0d[:, -1]
                    new = self._profile(T0, y, thd["T_b"])
                    change = (new - prof).abs().amax(dim=1)
                    prof = new
                    cycles = torch.where(done, cycles, torch.full_like(cycles, c))
                    done = done | (change <= self.spinup_tol)
                    if bool(done.all()):
                        break
                else:
                    raise self._spinup_error()
            P = sum(t.shape[1] for t in pre_T0)
            Ym, T0m, n_iter = march(plan, y, T0, cgsrc[:, 1:], self.tol, self.max_iter)
            # trajectory S^0..S^(P+nt): exact initial state, then the solved levels
            S = torch.empty(B, P + n1, self.nz, dtype=dt_, device=dev)
            start = 1
            for Yd, T0d in zip(pre_Y + [Ym], pre_T0 + [T0m]):
                stop = start + Yd.shape[1]
                S[:, start:stop, 0] = T0d
                Su = S[:, start:stop, 1:K + 1]
                basis.from_modal(Yd, out=Su)
                Su += Tref.unsqueeze(1)
                start = stop
            if basis.dirichlet:
                S[:, 1:, -1] = Tref
            S[:, 0] = s0
            del Ym, pre_Y, Su, Yd
        inputs = (th["alpha"], th["eps"], th["lam"], th["C"], th["T_b"], th["h_eff"], sw, lw, ta,
                  S0)
        if torch.is_grad_enabled() and any(x.requires_grad for x in inputs):
            hold = level = None
            if P:
                hold = torch.cat([torch.zeros(B, 1, dtype=torch.bool, device=dev)] + pre_hold
                                 + [torch.zeros(B, nt, dtype=torch.bool, device=dev)], dim=1)
                level = torch.cat([torch.zeros(1, dtype=torch.int64),
                                   torch.arange(1, nday + 1).repeat(P // nday),
                                   torch.arange(1, nt + 1)]).to(dev)
            with torch.no_grad():
                plan.set_solution(S[..., 0], hold, P)
            plan.S = S

            def lagrangian(S_, w, xs):
                return self._lagrangian(S_, w, xs, level, hold)

            S = ImplicitTrajectory.apply(plan, lagrangian, *inputs)
        return S[:, P:], n_iter, cycles

    def _profile(self, T0, y, T_b):
        """Full profile (B, nz) from the surface temperature and the modal state."""
        parts = [T0.unsqueeze(1), self.basis.from_modal(y) + T_b.unsqueeze(1)]
        if self.basis.dirichlet:
            parts.append(T_b.unsqueeze(1))
        return torch.cat(parts, dim=1)

    def _step_residual(self, S_new, S_old, sw, lw, ta, alpha, eps, lam, C, T_b, h_eff):
        """Residual of the implicit steps S_old -> S_new, (B, m, nz) each, forcing (B, m)."""
        kdt = (lam / C * self.dt).reshape(-1, 1, 1)
        R = S_new - S_old - kdt * self.diffusion(S_new)
        col = [v.reshape(-1, 1) for v in (alpha, eps, lam, C, T_b, h_eff)]
        alpha_, eps_, lam_, C_, T_b_, h_eff_ = col
        c0g1 = (lam_ / C_ * self.dt) * self.basis.gc0 * (self.basis.h1 / lam_)
        G = ground_flux(S_new[..., 0], sw, lw, ta, alpha_, eps_, h_eff_, self.longwave)
        parts = [(R[..., 0] - c0g1 * G).unsqueeze(-1)]
        if self.bottom == "dirichlet":
            parts += [R[..., 1:-1], (S_new[..., -1] - T_b_).unsqueeze(-1)]
        else:
            parts.append(R[..., 1:])
        return torch.cat(parts, dim=-1)

    def _lagrangian(self, S, w, xs, level, hold):
        """w . F(S, inputs): the input-dependent part, differentiable in the inputs.

        F stacks F_0 = S^0 - S_init and, for every regular step m, the backward-Euler rows
        S^m - S^(m-1) - kdt L(S^m) - c_0 g_1 G(S^m_0) e_0 with the Dirichlet row S^m_N - T_b
        (docs/theory.md); hold steps (spin-up) do not depend on the inputs. S and w (both
        (B, M+1, nz)) are fixed. The conv operator L(S) is applied in chunks of levels without
        autograd and contracted with w, so the graph only holds (B,) and (B, M) quantities.

        xs = (alpha, eps, lam, C, T_b, h_eff, sw, lw, ta, S0).
        """
        alpha, eps, lam, C, T_b, h_eff, sw, lw, ta, S0 = xs
        B, M1, nz = S.shape
        rows = nz - 1 if self.bottom == "dirichlet" else nz      # rows with diffusion
        with torch.no_grad():
            wm = w[:, 1:]
            if hold is not None:
                wm = wm.masked_fill(hold[:, 1:, None], 0.0)
            Lsum = torch.zeros(B, dtype=S.dtype, device=S.device)
            chunk = max(1, RESIDUAL_ELEMENTS // max(1, B * nz))
            for s in range(1, M1, chunk):
                e = min(s + chunk, M1)
                # the conv is much faster on contiguous input: include level s-1 (all of S
                # for a single chunk) and drop its output
                Lg = self.diffusion(S[:, s - 1:e].contiguous())[:, 1:]
                Lsum += (wm[:, s - 1:e - 1, :rows] * Lg[..., :rows]).sum(dim=(1, 2))
            w0 = wm[..., 0]
            wN = wm[..., -1] if self.bottom == "dirichlet" else None
        kdt = lam / C * self.dt
        c0g1 = kdt * self.basis.gc0 * (self.basis.h1 / lam)
        if level is not None:
            sw, lw, ta = sw[:, level], lw[:, level], ta[:, level]
        G = ground_flux(S[:, 1:, 0], sw[:, 1:], lw[:, 1:], ta[:, 1:], alpha.unsqueeze(1),
                        eps.unsqueeze(1), h_eff.unsqueeze(1), self.longwave)
        psi = -(kdt * Lsum).sum() - (c0g1.unsqueeze(1) * w0 * G).sum() - (w[:, 0] * S0).sum()
        if wN is not None:
            psi = psi - (wN * T_b.unsqueeze(1)).sum()
        return psi

    def step_residual(self, T: torch.Tensor, sw_down: Any, lw_down: Any, t_air: Any, alpha: Any,
                      eps: Any, lam: Any, C: Any, T_b: Any, h_eff: Any) -> torch.Tensor:
        """Residual of every implicit step of a solution T (B, nt+1, nz) [K], (B, nt, nz).

        Row i of step n is the backward-Euler equation of node i (docs/theory.md) with the
        forcing at level n+1; it is ~1e-12 K for the direct solver and up to the Jacobi
        truncation (~1e-3 K) for the published iteration.
        """
        params = {"alpha": alpha, "eps": eps, "lam": lam, "C": C, "T_b": T_b, "h_eff": h_eff,
                  "beta": None}
        (sw, lw, ta), th, B = self._inputs((sw_down, lw_down, t_air), params)
        T = self._tensor(T)
        pars = [th[k] for k in ("alpha", "eps", "lam", "C", "T_b", "h_eff")]
        return self._step_residual(T[:, 1:], T[:, :-1], sw[:, 1:], lw[:, 1:], ta[:, 1:], *pars)

    # ------------------------------------------------------------------ Jacobi solver
    def _forward_jacobi(self, S0, sw, lw, ta, th):
        B, n1 = sw.shape
        nt = n1 - 1
        dev = S0.device
        kdt = th["lam"] / th["C"] * self.dt
        coef = jacobi_coefficients(self.grid, self.h, self.w, kdt, th["lam"])
        coef["hb"] = th["h_eff"]
        coef["es"] = SIGMA * th["eps"]
        src = surface_source(sw, lw, ta, th["alpha"].unsqueeze(1), th["eps"].unsqueeze(1),
                             th["h_eff"].unsqueeze(1), self.longwave)
        T = S0
        cycles = torch.zeros(B, dtype=torch.int64, device=dev)
        if self.init == "spinup":
            nday = self._nday(nt)
            done = torch.zeros(B, dtype=torch.bool, device=dev)
            for c in range(1, self.spinup_max_cycles + 1):
                start = T
                for k in range(1, nday + 1):
                    Tn, _ = self._jacobi_step(T, src[:, k], coef, th["T_b"], k)
                    T = torch.where(done.unsqueeze(1), T, Tn)
                change = (T - start).detach().abs().amax(dim=1)
                cycles = torch.where(done, cycles, torch.full_like(cycles, c))
                done = done | (change <= self.spinup_tol)
                if bool(done.all()):
                    break
            else:
                raise self._spinup_error()
        out = [T]
        n_iter = torch.zeros(B, nt, dtype=torch.int64, device=dev)
        for n in range(1, nt + 1):
            T, it = self._jacobi_step(T, src[:, n], coef, th["T_b"], n)
            n_iter[:, n - 1] = it
            out.append(T)
        return torch.stack(out, dim=1), n_iter, cycles

    def _jacobi_step(self, tn, src, coef, T_b, step):
        """One implicit step by Jacobi sweeps from the first guess T^n; per-member stop."""
        c = dict(coef)
        c["g1src"] = coef["g1"] * src
        tk = tn
        B = tn.shape[0]
        active = torch.ones(B, dtype=torch.bool, device=tn.device)
        all_active = True
        niter = torch.zeros(B, dtype=torch.int64, device=tn.device)
        sweeps = 0
        while True:
            sweeps += 1
            if sweeps > self.max_iter:
                raise ColumnError(f"step {step}: jacobi solver: no convergence in {self.max_iter} "
                                  f"sweeps (tol {self.tol:.3e} K); raise max_iter or tol")
            tnew = self.sweep(tk, tn, c, self.bottom, T_b)
            err = (tnew - tk).detach().abs().amax(dim=1)
            emax = float(err.max())                       # NaN propagates
            if not emax < float("inf"):
                raise ColumnError(f"step {step}: jacobi solver: temperatures became non-finite; "
                                  "check the parameters and forcing")
            if all_active:
                tk = tnew
                niter += 1
                if emax <= self.tol:
                    return tk, niter
                if B > 1:
                    active = err > self.tol
                    all_active = bool(active.all())
            else:
                tk = torch.where(active.unsqueeze(1), tnew, tk)
                niter += active
                active = active & (err > self.tol)
                if not bool(active.any()):
                    return tk, niter


def simulate_config(config: Any, forcing: Any = None, params: Params | None = None, *,
                    solver: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Forward run of a RunConfig with the torch model (one member), as numpy arrays.

    Returns:
        z [m] (nz,), T [K] (nt+1, nz), fluxes [W m-2] dict of (nt+1,) keyed by FLUX_NAMES.
    """
    if forcing is None:
        from ..forcing import load_forcing

        forcing = load_forcing(config.forcing, config.start, config.nt, config.dt)
    model = SoilColumn.from_config(config, solver=solver)
    p = param_tensors(params or config.params)
    with torch.no_grad():
        out = model(forcing.sw_down, forcing.lw_down, forcing.t_air, **p)
    return (model.z.cpu().numpy(), out.T[0].cpu().numpy(),
            {k: v[0].cpu().numpy() for k, v in out.fluxes.items()})


__all__ = ["ColumnOutput", "SoilColumn", "param_tensors", "simulate_config", "FLUX_NAMES",
           "PARAM_NAMES", "ColumnError"]
