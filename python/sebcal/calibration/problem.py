"""The least-squares problem of a calibration on the Fortran scheme: residuals and their exact
Jacobian for a batch of starts.

For free coordinates u (the bounded transform of :mod:`.space`) the residual vector of a start
stacks

* data rows  sqrt(w) (m_k,n(p) - o_k,n) / sigma_k  over the fitted observations k and the
  observed levels n of the calibration window, with w the weight of the data (1, or
  N_eff / (N s^2) for a MAP fit, docs/calibration.md);
* prior rows (g(p_j) - g0_j)/s_j for the parameters with a prior (:mod:`.priors`).

m_k is the observation operator of :func:`sebcal.physics.observe.equivalent` (linear
interpolation of the node temperatures, the surface fluxes, the conductive flux below the top)
applied to the Fortran run at the probe nodes, and dm/du comes from the tangent-linear model
(fortran/sebcal_tangent.f90): exact derivatives, one tangent per free coordinate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .. import fortran
from ..errors import ConfigError
from ..observations import Observation
from ..physics.observe import interpolation_weights
from ..physics.soil import interface_conductivity, node_properties
from ..vocabulary import FLUX_NAMES, NPSOIL, NPSURF, PARAMETERS
from .priors import Prior
from .space import Space

#: complex step for the conductivity tangent of a flux observed below the top
_CSTEP = 1e-20


@dataclass
class Evaluation:
    """Residuals of a batch: r (B, N) (NaN rows for failed starts), J (B, N, P) or None, the
    model equivalents (B, K, nt+1) of every observation, failed (B,) and the first error."""

    r: np.ndarray
    J: np.ndarray | None
    equivalents: np.ndarray
    failed: np.ndarray
    message: str


class Problem:
    """Residuals and Jacobians of a calibration for batches of starts.

    Args:
        spec: the model (the direct solver is used).
        forcing: the Forcing at the model levels.
        observations: the observed series (all of them: the fitted ones make the residuals,
            every one gets its model equivalent).
        mask: levels in the calibration window, bool (nt+1,).
        space: the free coordinates.
        priors: label or parameter name -> Prior.
        data_weight: w of the data rows.
    """

    def __init__(self, spec, forcing, observations: Sequence[Observation], mask: np.ndarray,
                 space: Space, priors: Mapping[str, Prior] | None = None,
                 data_weight: float = 1.0) -> None:
        self.spec = spec.replace(solver="direct")
        if "T_init" in space.free:
            # a fitted uniform initial temperature is a given profile for the scheme
            self.spec = self.spec.replace(init="profile")
        self.forcing = forcing
        self.observations = list(observations)
        self.space = space
        self.priors = dict(priors or {})
        self.data_weight = float(data_weight)
        self.fitted = [o for o in self.observations if o.fit]
        if not self.fitted:
            raise ConfigError("no observation has fit = true: nothing to calibrate against; "
                              "set fit = true on at least one [observations.NAME]")
        z = self.spec.node_depths
        self.theta = forcing.theta_at(z, self.spec.options)
        probes: list[int] = [0]
        self._ops = []
        for o in self.observations:
            if o.variable == "SoilTemp":
                i, f = interpolation_weights(z, o.depth)
                self._ops.append(("interp", int(i[0]), float(f[0])))
                probes += [int(i[0]), int(i[0]) + 1]
            elif o.variable == "AvgSurfT":
                self._ops.append(("interp", 0, 0.0))
            elif o.variable == "Qg" and o.depth is not None and o.depth > z[0]:
                mid = 0.5 * (z[:-1] + z[1:])
                d = float(np.clip(o.depth, mid[0], mid[-1]))
                if mid.size == 1:
                    j, f = 0, 0.0
                else:
                    ji, fi = interpolation_weights(mid, d)
                    j, f = int(ji[0]), float(fi[0])
                self._ops.append(("qg", j, f))
                probes += [j, j + 1, min(j + 2, z.size - 1)]
            elif o.variable == "Rnet":
                self._ops.append(("rnet", 0, 0.0))
            else:
                self._ops.append(("flux", FLUX_NAMES.index(o.variable), 0.0))
        self.probes = np.array(sorted(set(probes)), dtype=np.int64)
        self._where = {int(p): k for k, p in enumerate(self.probes)}
        self.set_mask(mask)
        self._all_prior_coords = [(k, self.priors.get(c.label) or self.priors.get(c.name))
                                  for k, c in enumerate(space.coords)
                                  if (self.priors.get(c.label) or self.priors.get(c.name))]
        self.use_priors = True

    # ------------------------------------------------------------------ set-up
    def set_mask(self, mask: np.ndarray) -> None:
        """Levels (bool (nt+1,)) whose observed values make data rows."""
        self.mask = np.asarray(mask, dtype=bool)
        self._sel = [self.mask & o.valid for o in self.fitted]
        self.n_data = int(sum(s.sum() for s in self._sel))
        if self.n_data == 0:
            raise ConfigError("the calibration window holds no observed value of the fitted "
                              "observations; widen the window or check the observation files")

    @property
    def _prior_coords(self) -> list:
        return self._all_prior_coords if self.use_priors else []

    @property
    def n_prior(self) -> int:
        return len(self._prior_coords)

    @property
    def size(self) -> int:
        return self.n_data + self.n_prior

    # ------------------------------------------------------------------ parameters
    def _arrays(self, phys: Mapping[str, np.ndarray], B: int):
        """Fortran parameter arrays of B starts: the fixed values, then the free ones."""
        spec = self.spec
        if not hasattr(self, "_base"):
            fixed = spec.check_params(self.space.fixed)
            self._base = (spec.psurf(fixed), spec.psoil(fixed),
                          spec.init_profile if spec.init_profile is not None
                          else np.full(spec.nz, float(fixed.get("T_b", 0.0))
                                       if "T_b" in fixed else 0.0))
            self._layer = spec.layer_of_nodes()
        ps = np.repeat(self._base[0][None], B, axis=0)
        so = np.repeat(np.asarray(self._base[1])[None], B, axis=0)
        ti = np.repeat(self._base[2][None], B, axis=0)
        for c in self.space.coords:
            v = np.asarray(phys[c.label], dtype=np.float64)
            if c.name == "h":
                continue
            if c.name == "T_init":
                ti[:] = v[:, None]
                continue
            p = PARAMETERS[c.name]
            if p.group in ("surface", "site"):
                ps[:, p.slot - 1] = v
            else:
                nodes = slice(None) if c.layer is None else self._layer == c.layer
                so[:, p.slot - 1, nodes] = v[:, None]
        if "h" in phys:
            beta = ps[:, PARAMETERS["beta"].slot - 1]
            ps[:, PARAMETERS["h_eff"].slot - 1] = phys["h"] * (1 + 1 / beta)
        if "T_b" in phys and spec.options["init"] != "profile" and "T_init" not in phys:
            ti[:] = np.asarray(phys["T_b"])[:, None]
        if spec.options["top"] == "temperature" and "T_init" in phys:
            ti[:, 0] = self.forcing.data["Ttop"][0]
        return ps, so, ti

    def _seeds(self, phys: Mapping[str, np.ndarray], dpdu: np.ndarray, B: int):
        """Directions d/du_k of every coordinate: (dpsurf, dpsoil, dt_init)."""
        spec = self.spec
        nz = spec.nz
        P = self.space.size
        dps = np.zeros((B, P, NPSURF))
        dso = np.zeros((B, P, NPSOIL, nz))
        dti = np.zeros((B, P, nz))
        layer = spec.layer_of_nodes()
        for k, c in enumerate(self.space.coords):
            d = dpdu[:, k]
            if c.name == "h":
                beta = phys["beta"]
                dps[:, k, PARAMETERS["h_eff"].slot - 1] = (1 + 1 / beta) * d
            elif c.name == "beta" and "h" in phys:
                dps[:, k, PARAMETERS["h_eff"].slot - 1] = -phys["h"] / phys["beta"] ** 2 * d
                dps[:, k, PARAMETERS["beta"].slot - 1] = d
            elif c.name == "T_init":
                dti[:, k, :] = d[:, None]
                if spec.options["top"] == "temperature":
                    dti[:, k, 0] = 0.0
            else:
                p = PARAMETERS[c.name]
                if p.group in ("surface", "site"):
                    dps[:, k, p.slot - 1] = d
                else:
                    nodes = np.ones(nz, bool) if c.layer is None else layer == c.layer
                    dso[:, k, p.slot - 1, nodes] = d[:, None]
        return dps, dso, dti

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, u: np.ndarray, jac: bool = True) -> Evaluation:
        """Residuals (and the Jacobian in u) of the starts u (B, P)."""
        u = np.atleast_2d(np.asarray(u, dtype=np.float64))
        B, P = u.shape
        phys = self.space.to_phys_np(u)
        ps, so, ti = self._arrays(phys, B)
        seeds = None
        if jac:
            dpdu = self.space.dphys_du(phys)
            seeds = self._seeds(phys, dpdu, B)
        out = fortran.probe_batch(self.spec, self.forcing, ps, so, ti, self.probes, seeds)
        failed = out.errflg != 0
        L = out.T.shape[1]
        eq = np.empty((B, len(self.observations), L))
        deq = np.empty((B, len(self.observations), L, P)) if jac else None
        for j, op in enumerate(self._ops):
            m, dm = self._equivalent(op, out, so, seeds, jac)
            eq[:, j] = m
            if jac:
                deq[:, j] = dm
        fitted_idx = [j for j, o in enumerate(self.observations) if o.fit]
        sw = np.sqrt(self.data_weight)
        rows, jrows = [], []
        for j, o, sel in zip(fitted_idx, self.fitted, self._sel):
            rows.append(sw * (eq[:, j, sel] - o.values[sel]) / o.sigma)
            if jac:
                jrows.append(sw * deq[:, j, sel, :] / o.sigma)
        if self._prior_coords:
            prow, pj = [], []
            dpdu = self.space.dphys_du(phys) if jac else None
            for k, pr in self._prior_coords:
                lab = self.space.coords[k].label
                prow.append(pr.residual(phys[lab])[:, None])
                if jac:
                    g = np.zeros((B, 1, P))
                    g[:, 0, k] = pr.dres_dp(phys[lab]) * dpdu[:, k]
                    pj.append(g)
            rows += prow
            jrows += pj if jac else []
        r = np.concatenate(rows, axis=1)
        r[failed] = np.nan
        J = np.concatenate(jrows, axis=1) if jac else None
        if J is not None:
            J[failed] = np.nan
        return Evaluation(r, J, eq, failed, out.message)

    def _equivalent(self, op, out, so, seeds, jac):
        kind, i, f = op
        if kind == "rnet":
            a, b = FLUX_NAMES.index("SWnet"), FLUX_NAMES.index("LWnet")
            m = out.fluxes[:, :, a] + out.fluxes[:, :, b]
            return m, (out.dfluxes[:, :, :, a] + out.dfluxes[:, :, :, b] if jac else None)
        if kind == "flux":
            m = out.fluxes[:, :, i]
            return m, (out.dfluxes[:, :, :, i] if jac else None)
        if kind == "interp":
            a, b = self._where[i], self._where.get(i + 1, self._where[i])
            m = (1 - f) * out.T[:, :, a] + f * out.T[:, :, b] if f else out.T[:, :, a]
            dm = None
            if jac:
                dm = (1 - f) * out.dT[:, :, :, a] + f * out.dT[:, :, :, b] if f \
                    else out.dT[:, :, :, a]
            return m, dm
        # conductive flux lambda_(j+1/2) (T_j - T_(j+1))/h_(j+1), interpolated between the
        # interface midpoints j+1/2 and j+3/2 with weight f (as observe.ground_heat_flux)
        z = self.spec.node_depths
        nodes = [i, i + 1, min(i + 2, z.size - 1)]
        T = np.stack([out.T[:, :, self._where[n]] for n in nodes], axis=-1)       # (B, L, 3)
        lam = self._interface_lambda(so, nodes)                                    # (B, L|1, 2)
        h = np.diff(z[nodes])
        h = np.where(h > 0, h, 1.0)
        q = lam * (T[..., :-1] - T[..., 1:]) / h
        m = (1 - f) * q[..., 0] + f * q[..., 1] if f else q[..., 0]
        if not jac:
            return m, None
        dT = np.stack([out.dT[:, :, :, self._where[n]] for n in nodes], axis=-1)  # (B, L, P, 3)
        P = dT.shape[2]
        dlam = np.empty(lam.shape[:2] + (P, 2))
        for k in range(P):
            dlam[:, :, k] = self._interface_lambda(so, nodes, seeds[1][:, k]).imag / _CSTEP \
                if np.any(seeds[1][:, k]) else 0.0
        dq = (dlam * ((T[..., :-1] - T[..., 1:]) / h)[:, :, None, :]
              + lam[:, :, None, :] * (dT[..., :-1] - dT[..., 1:]) / h)
        dm = (1 - f) * dq[..., 0] + f * dq[..., 1] if f else dq[..., 0]
        return m, dm

    def _interface_lambda(self, so, nodes, dso=None):
        """Interface conductivity between nodes (B, L or 1, 2), complex when perturbed."""
        names = [p.name for p in PARAMETERS.values() if p.group == "soil"]
        vals = so[:, [PARAMETERS[n].slot - 1 for n in names]][:, :, nodes]     # (B, ns, 3)
        if dso is not None:
            vals = vals + 1j * _CSTEP * dso[:, [PARAMETERS[n].slot - 1 for n in names]][:, :,
                                                                                        nodes]
        soil = {n: vals[:, k][:, None, :] for k, n in enumerate(names)}         # (B, 1, 3)
        th = None
        if self.theta is not None:
            th = self.theta[nodes].T[None]                                       # (1, L, 3)
        lam, _ = node_properties(soil, th, self.spec.options["soil_thermal"])
        lam = np.asarray(lam)
        return interface_conductivity(lam) if dso is None else _harmonic(lam)


def _harmonic(lam: np.ndarray) -> np.ndarray:
    a, b = lam[..., :-1], lam[..., 1:]
    return 2 * a * b / (a + b)


__all__ = ["Evaluation", "Problem"]
