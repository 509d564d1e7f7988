"""The differentiable soil column: the Fortran scheme's discretisation in PyTorch, batched.

:class:`SoilColumn` runs B parameter sets at once (the calibration's starts, or several sites
sharing one grid) in float64. With the default ``direct`` solver every implicit step is solved
to round-off by :class:`~sebcal.autodiff.solver.DirectSolver` and the trajectory is
differentiated by the implicit-function theorem (:class:`ImplicitTrajectory`): the adjoint
v = J^(-T) g is one backward pass, and one autograd pass through the conv-layer residual of
every step, -v . dF/dinputs, gives the exact gradient of every input (parameters, forcing,
soil moisture, initial profile). The ``jacobi`` solver is the published conv-sweep iteration,
differentiated by unrolling it (the published model only).

The physics terms come from :mod:`sebcal.physics` (the same functions the NumPy time loop uses)
and the diffusion residual from the fixed conv layers of :mod:`.layers`. The module knows
nothing of files or configurations: it takes a :class:`~sebcal.spec.ModelSpec` and arrays.
"""

# Symbols follow the paper and docs/theory.md.
# ruff: noqa: N802, N803, N806

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..params import Params
from ..physics import TORCH
from ..physics.soil import coefficients, node_properties
from ..physics.surface import SIGMA, surface_balance
from ..spec import ModelSpec
from ..vocabulary import FLUX_NAMES, PARAMETERS, soil_moisture_needed
from .layers import ColumnError, DiffusionOperator, JacobiSweep
from .solver import Coefficients, DirectSolver, Inputs

SURFACE_NAMES = tuple(p.name for p in PARAMETERS.values() if p.group in ("surface", "site"))
SOIL_NAMES = tuple(p.name for p in PARAMETERS.values() if p.group == "soil")
#: every parameter the model takes (vocabulary order); T_init is an initial state
PARAM_NAMES = SURFACE_NAMES + SOIL_NAMES + ("T_init",)


@dataclass
class ColumnOutput:
    """Output of the column at time levels 0..nt.

    Attributes:
        T: soil temperature [K], (B, nt+1, nz).
        fluxes: surface fluxes [W m-2] by vocabulary.FLUX_NAMES, each (B, nt+1).
        n_iter: Newton iterations or Jacobi sweeps per step, (B, nt).
        spinup_cycles: days of spin-up per member, (B,).
        z: node depths [m], (nz,).
        lam: node conductivity [W m-1 K-1], (B, nz) or (B, nt+1, nz).
    """

    T: torch.Tensor
    fluxes: dict
    n_iter: torch.Tensor
    spinup_cycles: torch.Tensor
    z: torch.Tensor
    lam: torch.Tensor


class ImplicitTrajectory(torch.autograd.Function):
    """The solved trajectory as a differentiable function of the inputs (implicit function).

    forward(ctx, closure, S, *inputs) returns S (already solved); backward solves the adjoint
    with the closure's solver and returns -v . dF/dinputs via the closure's Lagrangian.
    """

    @staticmethod
    def forward(ctx, closure, S, *inputs):
        ctx.closure = closure
        ctx.save_for_backward(S)
        ctx.n_inputs = len(inputs)
        return S.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_S):
        (S,) = ctx.saved_tensors
        closure = ctx.closure
        v = closure.adjoint(S, grad_S)
        grads = closure.vjp(S, v)
        return (None, None, *grads)


class SoilColumn(nn.Module):
    """The soil column and surface energy balance of a :class:`~sebcal.spec.ModelSpec`.

    Call it with forcing, parameters and (when the options use it) soil moisture::

        model = SoilColumn(spec)
        out = model(forcing, params)          # out.T (B, nt+1, nz)

    Args:
        spec: grid, time step, options and solver settings.
        method: sub-surface solve of the direct solver: "auto" (a dense inverse per member when
            the soil does not change in time, else Thomas elimination), "dense" or "thomas".
    """

    def __init__(self, spec: ModelSpec, method: str = "auto") -> None:
        super().__init__()
        self.spec = spec
        self.options = dict(spec.options)
        self.dt = float(spec.dt)
        self.theta_w = float(spec.theta)
        self.solver = self.options["solver"]
        self.tol, self.max_iter = float(spec.tol), int(spec.max_iter)
        self.method = method
        h, w = spec.geometry()
        self.nz = spec.nz
        self.K = self.nz - 2 if self.options["bottom"] != "zero_flux" else self.nz - 1
        self.register_buffer("z", torch.tensor(spec.node_depths))
        self.register_buffer("h", torch.tensor(h))
        self.register_buffer("w", torch.tensor(w))
        self.register_buffer("layer", torch.tensor(spec.layer_of_nodes(), dtype=torch.long))
        self.h_np, self.w_np = h, w
        self.diffusion = DiffusionOperator()
        if self.solver == "jacobi":
            o = self.options
            if (o["top"] != "seb" or o["turbulence"] != "h_eff" or o["canopy"] != "none"
                    or o["soil_thermal"] != "constant" or o["bottom"] == "series"
                    or self.theta_w != 1.0):
                raise ColumnError("solver jacobi (the published iteration) supports only the "
                                  "published model's options (top seb, turbulence h_eff, canopy "
                                  "none, soil_thermal constant, bottom dirichlet or zero_flux, "
                                  "backward Euler); use solver direct")
            self.sweep = JacobiSweep(uniform=spec.uniform and spec.nlayers == 1)

    # ------------------------------------------------------------------ inputs
    def _tensor(self, x: Any) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            return x.to(dtype=torch.float64, device=self.z.device)
        return torch.tensor(np.asarray(x, dtype=np.float64), device=self.z.device)

    def _prepare(self, forcing: Mapping[str, Any], params: Mapping[str, Any], theta: Any,
                 init_profile: Any) -> dict:
        """Tensors: forcing (B|1, L), surface (B,), soil per layer (B, nl), theta (B|1, L, nz)."""
        if isinstance(params, Params):
            params = dict(params)
        full = self.spec.check_params(Params({k: (float(v) if not isinstance(v, torch.Tensor)
                                                  or v.dim() == 0 else float(v.reshape(-1)[0]))
                                              for k, v in _scalarise(params).items()}))
        f = {k: self._tensor(v) for k, v in forcing.items() if k != "time"}
        f = {k: (v.unsqueeze(0) if v.dim() == 1 else v) for k, v in f.items()}
        L = max(v.shape[-1] for v in f.values())
        B = 1
        ps: dict[str, torch.Tensor] = {}
        soil: dict[str, torch.Tensor] = {}
        nl = self.spec.nlayers
        for name in list(SURFACE_NAMES) + ["T_init"]:
            if name in params:
                t = self._tensor(params[name]).reshape(-1)
            elif name in full:
                t = self._tensor(float(full[name])).reshape(-1)
            else:
                continue
            ps[name] = t
            B = max(B, t.numel())
        for name in SOIL_NAMES:
            if name not in full:
                continue
            src = params[name] if name in params else full.layers(name, nl)
            t = self._tensor(src)
            if t.dim() == 0:
                t = t.reshape(1, 1).expand(1, nl)
            elif t.dim() == 1:
                t = t.unsqueeze(1).expand(-1, nl) if nl == 1 or t.numel() != nl \
                    else t.unsqueeze(0)
            elif t.shape[-1] == 1 and nl > 1:
                t = t.expand(-1, nl)
            if t.shape[-1] != nl:
                raise ValueError(f"parameter {name}: {t.shape[-1]} layer values for {nl} layers")
            soil[name] = t
            B = max(B, t.shape[0])
        for v in f.values():
            B = max(B, v.shape[0])
        ps = {k: v.expand(B) if v.numel() == 1 else v for k, v in ps.items()}
        soil = {k: v.expand(B, nl) if v.shape[0] == 1 else v for k, v in soil.items()}
        th = None
        if soil_moisture_needed(self.options):
            if theta is None:
                raise ValueError("the options use soil moisture: give theta (nz, nt+1) [m3 m-3] "
                                 "at the nodes")
            th = self._tensor(theta)
            th = th.unsqueeze(0) if th.dim() == 2 else th          # (B|1, nz, L)
            th = th.transpose(1, 2)                                  # (B|1, L, nz)
        prof = None
        if init_profile is not None:
            prof = self._tensor(init_profile)
            prof = prof.unsqueeze(0).expand(B, -1) if prof.dim() == 1 else prof
        elif self.spec.init_profile is not None and self.options["init"] == "profile":
            prof = self._tensor(self.spec.init_profile).unsqueeze(0).expand(B, -1)
        return {"forcing": f, "ps": ps, "soil": soil, "theta": th, "profile": prof, "B": B,
                "L": L}

    def _node_soil(self, soil: Mapping[str, torch.Tensor]) -> dict:
        return {k: v.index_select(1, self.layer) for k, v in soil.items()}

    def _coefficients(self, soil_nodes: Mapping[str, torch.Tensor], theta: Any):
        if self.options["soil_thermal"] == "johansen":
            sn = {k: v.unsqueeze(1) for k, v in soil_nodes.items()}      # (B, 1, nz)
            lam, C = node_properties(sn, theta, "johansen", TORCH)     # (B, L, nz)
        else:
            lam, C = node_properties(soil_nodes, None, "constant", TORCH)
        a, c, c0, g1 = coefficients(lam, C, self.h, self.w, self.dt, TORCH)
        return lam, a, c, c0, g1

    # ------------------------------------------------------------------ forward
    def forward(self, forcing: Mapping[str, Any], params: Mapping[str, Any], theta: Any = None,
                init_profile: Any = None) -> ColumnOutput:
        """Run the column over forcing at levels 0..nt (step n uses level n+1).

        Args:
            forcing: variable name (vocabulary.FORCING) -> values (nt+1,) or (B, nt+1), SI;
                at least the variables the options need (a Forcing's ``data`` will do).
            params: parameter name -> number, (B,) tensor, or for soil parameters per-layer
                values (nl,) / (B, nl); gradients flow to any tensor that requires them.
                Missing parameters take the vocabulary defaults. ``T_init`` (B,) sets a uniform
                initial state apart from T_b.
            theta: soil moisture at the nodes [m3 m-3], (nz, nt+1) or (B, nz, nt+1), when the
                options use it.
            init_profile: initial profile [K], (nz,) or (B, nz), for init = "profile".

        Returns:
            :class:`ColumnOutput`.
        """
        X = self._prepare(forcing, params, theta, init_profile)
        soil_nodes = self._node_soil(X["soil"])
        lam, a, c, c0, g1 = self._coefficients(soil_nodes, X["theta"])
        S0 = self._initial(X)
        if self.options["freezing"] != "none" and X["theta"] is not None:
            from .freezing import forward_freezing

            T, n_iter, cycles, fluxes = forward_freezing(self, X, soil_nodes, S0)
            return ColumnOutput(T=T, fluxes=fluxes, n_iter=n_iter, spinup_cycles=cycles,
                                z=self.z, lam=lam)
        if self.solver == "jacobi":
            T, n_iter, cycles = self._forward_jacobi(S0, X, a, c, c0, g1)
        else:
            T, n_iter, cycles = self._forward_direct(S0, X, soil_nodes, a, c, c0, g1)
        fluxes = self._fluxes(T, X, soil_nodes, c0, g1)
        return ColumnOutput(T=T, fluxes=fluxes, n_iter=n_iter, spinup_cycles=cycles, z=self.z,
                            lam=lam)

    def _initial(self, X: dict) -> torch.Tensor:
        B = X["B"]
        if X["profile"] is not None and self.options["init"] == "profile":
            S0 = X["profile"]
        elif "T_init" in X["ps"]:
            S0 = X["ps"]["T_init"].unsqueeze(1).expand(B, self.nz)
        elif X["profile"] is not None:
            S0 = X["profile"]
        else:
            S0 = X["ps"]["T_b"].unsqueeze(1).expand(B, self.nz)
        if self.options["top"] == "temperature":
            S0 = torch.cat([X["forcing"]["Ttop"][:, :1].expand(B, 1), S0[:, 1:]], dim=1)
        return S0

    def _np_inputs(self, X: dict, soil_nodes: Mapping[str, torch.Tensor]) -> Inputs:
        f = {k: v.detach().cpu().numpy() for k, v in X["forcing"].items()}
        ps = {k: v.detach().cpu().numpy() for k, v in X["ps"].items()}
        th_top = phi_top = None
        if X["theta"] is not None:
            th_top = X["theta"][..., 0].detach().cpu().numpy()
        if "porosity" in soil_nodes:
            phi_top = soil_nodes["porosity"][:, 0].detach().cpu().numpy()
        return Inputs(f, ps, ps.get("T_b"), th_top, phi_top)

    def _solver(self, X, soil_nodes, a, c, c0, g1) -> DirectSolver:
        coef = Coefficients(*(t.detach().cpu().numpy() for t in (a, c, c0, g1)))
        return DirectSolver(self.options, coef, self.K, self.theta_w,
                            self._np_inputs(X, soil_nodes), self.tol, self.max_iter,
                            float(self.spec.wind_min), self.method)

    def _nday(self, nt: int) -> int:
        nday = int(round(86400.0 / self.dt))
        if nday < 1 or abs(nday * self.dt - 86400.0) > 1e-6 * self.dt:
            raise ColumnError(f"spin-up needs a time step that divides one day, got dt = "
                              f"{self.dt}")
        if nt < nday:
            raise ColumnError(f"spin-up repeats the first day, but the run has only {nt} steps "
                              f"(one day is {nday})")
        return nday

    def _forward_direct(self, S0, X, soil_nodes, a, c, c0, g1):
        solver = self._solver(X, soil_nodes, a, c, c0, g1)
        B, L = X["B"], X["L"]
        nt = L - 1
        s0 = S0.detach().cpu().numpy().copy()
        T = s0
        top_t = self.options["top"] == "temperature"
        g, _ = (solver.ground_flux(T[:, 0], 0, derivative=False) if not top_t
                else (np.full(B, np.nan), None))
        pre_S, pre_hold, new_lv, old_lv = [], [], [], []
        cycles = np.zeros(B, dtype=np.int64)
        if self.options["init"] == "spinup":
            nday = self._nday(nt)
            done = np.zeros(B, dtype=bool)
            change = np.full(B, np.inf)
            for cyc in range(1, int(self.spec.spinup_max_cycles) + 1):
                start = T
                levels = np.arange(1, nday + 1)
                Ts, Gs, _ = solver.march(T, g, levels)
                if done.any():
                    Ts = np.where(done[:, None, None], T[:, None, :], Ts)
                    Gs = np.where(done[:, None], g[:, None], Gs)
                pre_S.append(Ts)
                pre_hold.append(np.repeat(done[:, None], nday, axis=1))
                new_lv.append(levels)
                old_lv.append(np.concatenate([[0 if cyc == 1 else nday], levels[:-1]]))
                T, g = Ts[:, -1], Gs[:, -1]
                prev, change = change, np.abs(T - start).max(axis=1)
                cycles = np.where(done, cycles, cyc)
                done = done | _periodic(change, prev, cyc, self.spec.spinup_tol)
                if done.all():
                    break
            else:
                raise ColumnError(
                    f"spin-up: the profile was not periodic after {self.spec.spinup_max_cycles} "
                    f"repeats of the first day (tol {self.spec.spinup_tol:.3e} K); raise "
                    "spinup_max_cycles or spinup_tol")
            # the run itself starts at level 0: its first step's G^n is G at level 0
            if self.options["top"] != "temperature":
                g, _ = solver.ground_flux(T[:, 0], 0, derivative=False)
        P = sum(s.shape[1] for s in pre_S)
        main_levels = np.arange(1, nt + 1)
        Ts, _, its = solver.march(T, g, main_levels)
        S_np = np.concatenate([s0[:, None]] + pre_S + [Ts], axis=1)
        new_level = np.concatenate([[0]] + new_lv + [main_levels]).astype(np.int64)
        old_level = np.concatenate([[0]] + old_lv + [main_levels - 1]).astype(np.int64)
        hold = None
        if P:
            hold = np.concatenate([np.zeros((B, 1), bool)] + pre_hold
                                  + [np.zeros((B, nt), bool)], axis=1)
        S = torch.from_numpy(S_np).to(S0.device)
        leaves = self._leaves(X)
        if torch.is_grad_enabled() and any(t.requires_grad for t in leaves):
            closure = _Closure(self, solver, X, new_level, old_level, hold, P, leaves)
            S = ImplicitTrajectory.apply(closure, S, *leaves)
        T_main = S[:, P:]
        n_iter = torch.from_numpy(its)
        return T_main, n_iter, torch.from_numpy(cycles)

    @staticmethod
    def _leaves(X: dict) -> list[torch.Tensor]:
        out = [v for v in X["ps"].values()] + [v for v in X["soil"].values()]
        out += [v for v in X["forcing"].values()]
        if X["theta"] is not None:
            out.append(X["theta"])
        if X["profile"] is not None:
            out.append(X["profile"])
        return out

    # ------------------------------------------------------------------ residual / Lagrangian
    def lagrangian(self, S: torch.Tensor, v: torch.Tensor, X: dict, new_level: np.ndarray,
                   old_level: np.ndarray, hold: np.ndarray | None) -> torch.Tensor:
        """psi = sum_m v^m . F^m(S, inputs), the input-dependent part (S, v fixed).

        F stacks F^0 = S^0 - S_init and, for every regular step m, the rows of eq. 8 with the
        coefficients and forcing of level new_level[m] and G^n at old_level[m]; hold steps
        (spin-up) do not depend on the inputs. The diffusion part is contracted with v
        without autograd (conv differences of S), so the graph holds only per-node and
        per-level quantities.
        """
        th = self.theta_w
        o = self.options
        soil_nodes = self._node_soil(X["soil"])
        lam, a, c, c0, g1 = self._coefficients(soil_nodes, X["theta"])
        B, M1, nz = S.shape
        nl = torch.as_tensor(new_level[1:], device=S.device)
        ol = torch.as_tensor(old_level[1:], device=S.device)
        with torch.no_grad():
            wv = v[:, 1:].clone()
            if hold is not None:
                wv = wv.masked_fill(torch.as_tensor(hold[:, 1:], device=S.device)[..., None], 0.0)
            dn = self.diffusion.differences(S[:, 1:])
            do = self.diffusion.differences(S[:, :-1])
            dd = th * dn + (1 - th) * do if th < 1 else dn
            Xc = wv[..., :-1] * dd                      # coefficient of c_i, i = 0..N-1
            Xa = wv[..., 1:] * dd                       # coefficient of a_i, i = 1..N
            if o["top"] == "temperature":
                Xc[..., 0] = 0.0
            if o["bottom"] != "zero_flux":
                Xa[..., -1] = 0.0
        if a.dim() == 3:
            psi = -((c[:, nl, :-1] * Xc).sum() - (a[:, nl, 1:] * Xa).sum())
        else:
            psi = -((c[:, :-1] * Xc.sum(1)).sum() - (a[:, 1:] * Xa.sum(1)).sum())
        w0 = wv[..., 0]
        f = X["forcing"]
        if o["top"] == "seb":
            cg = (c0 * g1)
            cg_new = cg[:, nl] if cg.dim() == 2 else cg.unsqueeze(1)
            G_new = self._ground_flux(S[:, 1:, 0], X, soil_nodes, nl)
            term = th * G_new
            if th < 1:
                term = term + (1 - th) * self._ground_flux(S[:, :-1, 0], X, soil_nodes, ol)
            psi = psi - (w0 * cg_new * term).sum()
        elif o["top"] == "flux":
            cg = (c0 * g1)
            cg_new = cg[:, nl] if cg.dim() == 2 else cg.unsqueeze(1)
            gt = f["Gtop"]
            term = th * gt[:, nl] + ((1 - th) * gt[:, ol] if th < 1 else 0.0)
            psi = psi - (w0 * cg_new * term).sum()
        else:
            vt = v[:, 1:, 0]
            if hold is not None:
                vt = vt.masked_fill(torch.as_tensor(hold[:, 1:], device=S.device), 0.0)
            psi = psi - (vt * f["Ttop"][:, nl]).sum()
        if o["bottom"] != "zero_flux":
            vb = v[:, 1:, -1]
            if hold is not None:
                vb = vb.masked_fill(torch.as_tensor(hold[:, 1:], device=S.device), 0.0)
            if o["bottom"] == "series":
                psi = psi - (vb * f["Tbottom"][:, nl]).sum()
            else:
                psi = psi - (vb * X["ps"]["T_b"].unsqueeze(1)).sum()
        psi = psi - (v[:, 0] * self._initial(X)).sum()
        return psi

    def _ground_flux(self, T0: torch.Tensor, X: dict, soil_nodes: Mapping[str, torch.Tensor],
                     levels: torch.Tensor) -> torch.Tensor:
        """G (B, m) at T0 (B, m) with the forcing of ``levels`` (m,)."""
        f = {k: v[:, levels] for k, v in X["forcing"].items()}
        ps = {k: v.unsqueeze(1) for k, v in X["ps"].items()}
        th_top = None if X["theta"] is None else X["theta"][:, levels, 0]
        phi = soil_nodes["porosity"][:, :1] if "porosity" in soil_nodes else None
        G, _ = surface_balance(T0, f, ps, self.options, float(self.spec.wind_min), th_top, phi,
                               TORCH)
        return G

    def _fluxes(self, T: torch.Tensor, X: dict, soil_nodes, c0, g1) -> dict:
        B, L, nz = T.shape
        nan = torch.full((B, L), float("nan"), dtype=T.dtype, device=T.device)
        o = self.options
        if o["top"] == "seb":
            levels = torch.arange(L, device=T.device)
            f = {k: v[:, levels] for k, v in X["forcing"].items()}
            ps = {k: v.unsqueeze(1) for k, v in X["ps"].items()}
            th_top = None if X["theta"] is None else X["theta"][:, :, 0]
            phi = soil_nodes["porosity"][:, :1] if "porosity" in soil_nodes else None
            G, terms = surface_balance(T[..., 0], f, ps, o, float(self.spec.wind_min), th_top,
                                       phi, TORCH)
            out = {k: (terms[k] if terms.get(k) is not None else nan) for k in FLUX_NAMES
                   if k != "Qg"}
            out["Qg"] = G
            return {k: out[k].expand(B, L) if out[k].shape != (B, L) else out[k]
                    for k in FLUX_NAMES}
        out = {k: nan for k in FLUX_NAMES}
        if o["top"] == "flux":
            out["Qg"] = X["forcing"]["Gtop"].expand(B, L)
        else:
            cg0 = c0 if c0.dim() == 1 else c0[:, 1:]
            cgg = (c0 * g1) if c0.dim() == 1 else (c0 * g1)[:, 1:]
            cg0 = cg0.unsqueeze(1) if cg0.dim() == 1 else cg0
            cgg = cgg.unsqueeze(1) if cgg.dim() == 1 else cgg
            q = ((T[:, 1:, 0] - T[:, :-1, 0]) - cg0 * (T[:, 1:, 1] - T[:, 1:, 0])) / cgg
            out["Qg"] = torch.cat([nan[:, :1], q], dim=1)
        return out

    def step_residual(self, T: torch.Tensor, forcing: Mapping[str, Any], params: Mapping[str, Any],
                      theta: Any = None) -> torch.Tensor:
        """Residual of every implicit step of a solution T (B, nt+1, nz) [K] (eq. 8 rows,
        forcing at the new level), (B, nt, nz): ~1e-12 K for the direct solver, up to the
        Jacobi truncation (~1e-3 K) for the published iteration."""
        X = self._prepare(forcing, params, theta, None)
        soil_nodes = self._node_soil(X["soil"])
        lam, a, c, c0, g1 = self._coefficients(soil_nodes, X["theta"])
        T = self._tensor(T)
        B, L, nz = T.shape
        th = self.theta_w
        lv = torch.arange(1, L, device=T.device)
        an = a[:, 1:] if a.dim() == 3 else a.unsqueeze(1)
        cn = c[:, 1:] if c.dim() == 3 else c.unsqueeze(1)
        Dn = self.diffusion(T[:, 1:], an, cn)
        Do = self.diffusion(T[:, :-1], an, cn)
        R = T[:, 1:] - T[:, :-1] - th * Dn - (1 - th) * Do
        cg = (c0 * g1)
        cg = cg[:, 1:] if cg.dim() == 2 else cg.unsqueeze(1)
        o = self.options
        if o["top"] == "seb":
            Gn = self._ground_flux(T[:, 1:, 0], X, soil_nodes, lv)
            Go = self._ground_flux(T[:, :-1, 0], X, soil_nodes, lv - 1)
            r0 = R[..., 0] - cg * (th * Gn + (1 - th) * Go)
        elif o["top"] == "flux":
            gt = X["forcing"]["Gtop"]
            r0 = R[..., 0] - cg * (th * gt[:, 1:] + (1 - th) * gt[:, :-1])
        else:
            r0 = T[:, 1:, 0] - X["forcing"]["Ttop"][:, 1:]
        parts = [r0.unsqueeze(-1), R[..., 1:-1]]
        if o["bottom"] == "dirichlet":
            parts.append((T[:, 1:, -1] - X["ps"]["T_b"].unsqueeze(1)).unsqueeze(-1))
        elif o["bottom"] == "series":
            parts.append((T[:, 1:, -1] - X["forcing"]["Tbottom"][:, 1:]).unsqueeze(-1))
        else:
            parts.append(R[..., -1:])
        return torch.cat(parts, dim=-1)

    # ------------------------------------------------------------------ Jacobi solver
    def _forward_jacobi(self, S0, X, a, c, c0, g1):
        B, L = X["B"], X["L"]
        nt = L - 1
        dev = S0.device
        f, ps = X["forcing"], X["ps"]
        o = self.options
        coef = {"c0": c0, "g1": g1, "aN": a[:, -1], "hb": ps["h_eff"], "es": SIGMA * ps["eps"]}
        if self.sweep.uniform:
            coef["r"] = a[:, 1:2]                      # the paper's r (a_i = c_i = r)
            coef["inv"] = 1 / (1 + 2 * coef["r"])
        else:
            coef["a"], coef["c"] = a, c
        lwabs = ps["eps"].unsqueeze(1) * f["LWdown"] if o["longwave"] == "kirchhoff" \
            else f["LWdown"]
        src = f["SWdown"] * (1 - ps["alpha"].unsqueeze(1)) + lwabs \
            + ps["h_eff"].unsqueeze(1) * f["Tair"]
        src = src.expand(B, L)
        T = S0
        cycles = torch.zeros(B, dtype=torch.int64, device=dev)
        if o["init"] == "spinup":
            nday = self._nday(nt)
            done = torch.zeros(B, dtype=torch.bool, device=dev)
            change = np.full(B, np.inf)
            for cyc in range(1, int(self.spec.spinup_max_cycles) + 1):
                start = T
                for k in range(1, nday + 1):
                    Tn, _ = self._jacobi_step(T, src[:, k], coef, ps["T_b"], k)
                    T = torch.where(done.unsqueeze(1), T, Tn)
                prev, change = change, (T - start).detach().abs().amax(dim=1).cpu().numpy()
                cycles = torch.where(done, cycles, torch.full_like(cycles, cyc))
                done = done | torch.as_tensor(_periodic(change, prev, cyc,
                                                        self.spec.spinup_tol), device=dev)
                if bool(done.all()):
                    break
            else:
                raise ColumnError(
                    f"spin-up: the profile was not periodic after {self.spec.spinup_max_cycles} "
                    f"repeats of the first day (tol {self.spec.spinup_tol:.3e} K); raise "
                    "spinup_max_cycles or spinup_tol")
        out = [T]
        n_iter = torch.zeros(B, nt, dtype=torch.int64, device=dev)
        for n in range(1, nt + 1):
            T, it = self._jacobi_step(T, src[:, n], coef, ps["T_b"], n)
            n_iter[:, n - 1] = it
            out.append(T)
        return torch.stack(out, dim=1), n_iter, cycles

    def _jacobi_step(self, tn, src, coef, T_b, step):
        """One implicit step by Jacobi sweeps from the first guess T^n; per-member stop."""
        cf = dict(coef)
        cf["g1src"] = coef["g1"] * src
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
            tnew = self.sweep(tk, tn, cf, self.options["bottom"], T_b)
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


class _Closure:
    """What the backward pass of ImplicitTrajectory needs: the solver and the Lagrangian."""

    def __init__(self, model: SoilColumn, solver: DirectSolver, X: dict, new_level, old_level,
                 hold, P: int, leaves: Sequence[torch.Tensor]) -> None:
        self.model, self.solver, self.X = model, solver, X
        self.new_level, self.old_level, self.hold, self.P = new_level, old_level, hold, P
        self.leaves = list(leaves)

    def adjoint(self, S: torch.Tensor, grad_S: torch.Tensor) -> torch.Tensor:
        v = self.solver.adjoint(S.detach().cpu().numpy(), grad_S.detach().cpu().numpy(),
                                self.new_level, self.old_level, self.hold)
        return torch.from_numpy(v).to(S.device)

    def vjp(self, S: torch.Tensor, v: torch.Tensor) -> list:
        need = [t.requires_grad for t in self.leaves]
        with torch.enable_grad():
            copies = [t.detach().requires_grad_(r) for t, r in zip(self.leaves, need)]
            X = self._rebuild(copies)
            psi = self.model.lagrangian(S.detach(), v, X, self.new_level, self.old_level,
                                        self.hold)
            wanted = [t for t in copies if t.requires_grad]
            grads = torch.autograd.grad(psi, wanted, allow_unused=True) if wanted else []
        out, k = [], 0
        for _t, r in zip(copies, need):
            if r:
                g = grads[k]
                k += 1
                out.append(None if g is None else -g)
            else:
                out.append(None)
        return out

    def _rebuild(self, copies: list) -> dict:
        X = dict(self.X)
        it = iter(copies)
        X["ps"] = {k: next(it) for k in self.X["ps"]}
        X["soil"] = {k: next(it) for k in self.X["soil"]}
        X["forcing"] = {k: next(it) for k in self.X["forcing"]}
        if self.X["theta"] is not None:
            X["theta"] = next(it)
        if self.X["profile"] is not None:
            X["profile"] = next(it)
        return X


def _scalarise(params: Mapping[str, Any]) -> dict:
    """One value per name (the first member / the first layer) for the defaults check."""
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, torch.Tensor):
            v = v.detach().reshape(-1)[0].item()
        elif isinstance(v, (list, tuple, np.ndarray)):
            v = float(np.asarray(v, dtype=np.float64).reshape(-1)[0])
        out[k] = v
    return out


def param_tensors(params: Params | Sequence[Params], requires_grad: bool = False,
                  names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Stack Params into tensors: surface parameters (B,), soil parameters (B, nl).

    Args:
        params: one Params or a sequence (one per batch member).
        requires_grad: make the tensors leaves that require gradients.
        names: only these parameters (default: every parameter present).
    """
    plist = [params] if isinstance(params, Params) else list(params)
    keys = names or [k for k in PARAMETERS if k in plist[0]]
    out = {}
    for k in keys:
        vals = [p[k] for p in plist]
        if PARAMETERS[k].group == "soil":
            arr = np.array([v if isinstance(v, tuple) else (v,) for v in vals], dtype=np.float64)
        else:
            arr = np.array(vals, dtype=np.float64)
        out[k] = torch.tensor(arr, requires_grad=requires_grad)
    return out


def simulate(spec: ModelSpec, forcing: Any, params: Params, init_profile: Any = None
             ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Forward run with the torch model (one member), as NumPy arrays.

    Args:
        forcing: a :class:`~sebcal.forcing.Forcing`.

    Returns:
        z [m] (nz,), T [K] (nt+1, nz), fluxes [W m-2] dict of (nt+1,) keyed by FLUX_NAMES.
    """
    model = SoilColumn(spec)
    theta = forcing.theta_at(spec.node_depths, spec.options)
    with torch.no_grad():
        out = model(forcing.data, param_tensors(spec.check_params(params)), theta=theta,
                    init_profile=init_profile)
    return (model.z.cpu().numpy(), out.T[0].cpu().numpy(),
            {k: v[0].cpu().numpy() for k, v in out.fluxes.items()})


__all__ = ["ColumnOutput", "ImplicitTrajectory", "SoilColumn", "param_tensors", "simulate",
           "PARAM_NAMES", "FLUX_NAMES", "ColumnError"]


def _periodic(change: np.ndarray, prev: np.ndarray, cycle: int, tol: float) -> np.ndarray:
    """Spin-up's stop, as the Fortran's column_spinup: the distance to the periodic profile
    left after a day whose change is d_k (previous day d_(k-1)) is d_k r/(1 - r) with
    r = d_k/d_(k-1), i.e. d_k**2/(d_(k-1) - d_k) [K]; stop when it is <= tol."""
    left = np.full(change.shape, np.inf)
    if cycle > 1:
        ok = change < prev
        left[ok] = change[ok] * (change[ok] / (prev[ok] - change[ok]))
    return (change == 0) | (left <= tol)

