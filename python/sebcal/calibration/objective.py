"""The calibration objective: weighted least squares of observations against the torch model.

For starts b = 1..B with physical parameters p_b (from u_b through the space's transforms),

    L_b = (1/N) sum_k sum_{n in window, observed} ((m_k(p_b)_n - o_k,n) / sigma_k)^2

where k runs over the observations with ``fit = true``, m_k is the model equivalent (soil
temperature at a depth, surface temperature, LWup, ground heat flux, Qh + Qle), sigma_k the
observation's error scale and N the number of terms. The model is the direct solver of
:class:`sebcal.autodiff.SoilColumn`, whatever solver the config names for forward runs.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..autodiff import SoilColumn, observe
from ..observations import Observation
from .space import Space


class Objective:
    """Loss and predictions for a batch of parameter sets.

    Args:
        config: the RunConfig (grid, time, physics options).
        forcing: the Forcing at the model levels.
        observations: the observed series.
        mask: levels that count in the loss, bool (nt+1,) (the calibration window).
        space: the free parameters and their transforms.
    """

    def __init__(self, config: Any, forcing: Any, observations: Sequence[Observation],
                 mask: np.ndarray, space: Space) -> None:
        self.config = config
        self.space = space
        if "T_init" in space.free:
            # a fitted uniform initial temperature, distinct from T_b: a per-start profile
            self.model = SoilColumn(config.node_depths, config.dt,
                                    dx=config.dx if config.uniform else None, solver="direct",
                                    longwave=config.longwave, bottom=config.bottom,
                                    init="profile")
        else:
            self.model = SoilColumn.from_config(config, solver="direct")
        self.forcing = [torch.tensor(np.array(x, dtype=np.float64))
                        for x in (forcing.sw_down, forcing.lw_down, forcing.t_air)]
        self.observations = list(observations)
        self.fitted = [o for o in self.observations if o.fit]
        if not self.fitted:
            raise ValueError("no observation has fit = true: nothing to calibrate against")
        self.set_mask(mask)

    def set_mask(self, mask: np.ndarray) -> None:
        """Levels that count in the loss (bool (nt+1,))."""
        vals, weights = [], []
        for o in self.fitted:
            ok = mask & o.valid
            vals.append(np.where(ok, o.values, 0.0))
            weights.append(ok / o.sigma**2)
        self._obs = torch.as_tensor(np.stack(vals))          # (K, nt+1)
        self._w = torch.as_tensor(np.stack(weights))          # (K, nt+1)
        self.n_terms = int(sum((mask & o.valid).sum() for o in self.fitted))
        if self.n_terms == 0:
            raise ValueError("the calibration window holds no observed value")

    def run(self, params: dict[str, torch.Tensor]):
        """The torch model output for full parameter tensors (alpha, eps, lambda, C, T_b, h_eff,
        beta; T_init, a uniform initial temperature, when fitted), each (B,)."""
        sw, lw, ta = self.forcing
        prof = None
        if "T_init" in params:
            prof = params["T_init"][:, None].expand(-1, self.model.nz)
        return self.model(sw, lw, ta, alpha=params["alpha"], eps=params["eps"],
                          lam=params["lambda"], C=params["C"], T_b=params["T_b"],
                          h_eff=params["h_eff"], beta=params.get("beta"), init_profile=prof)

    def predict(self, params: dict[str, torch.Tensor], obs: Sequence[Observation] | None = None
                ) -> list[torch.Tensor]:
        """Model equivalents (B, nt+1) of ``obs`` (default: the fitted ones)."""
        out = self.run(params)
        return [self.equivalent(out, params, o) for o in (obs or self.fitted)]

    def equivalent(self, out: Any, params: dict[str, torch.Tensor], o: Observation
                   ) -> torch.Tensor:
        if o.variable == "SoilTemp":
            return observe.soil_temperature(out.T, out.z, o.depth)
        if o.variable == "AvgSurfT":
            return observe.surface_temperature(out.T)
        if o.variable == "Qg" and o.depth and o.depth > 0:
            return observe.ground_heat_flux(out.T, out.z, params["lambda"], o.depth)
        return out.fluxes[o.variable]

    def loss_phys(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        preds = torch.stack(self.predict(params), dim=1)        # (B, K, nt+1)
        r2 = (preds - self._obs) ** 2 * self._w
        return r2.sum(dim=(1, 2)) / self.n_terms

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """Loss (B,) at u (B, P); NaN for starts whose parameters overflowed (they are then
        reported as failed, and a placeholder keeps the model's input checks satisfied)."""
        with torch.no_grad():
            bad = ~torch.isfinite(u).all(dim=1)
            for v in self.space.to_phys(u).values():
                bad |= ~torch.isfinite(v) | (v <= 0)
        if bool(bad.any()):
            # the prior centre (u = 0) stands in, so no inf reaches the model or the gradient
            u = torch.where(bad[:, None], torch.zeros_like(u), u)
        phys = self.space.to_phys(u)
        loss = self.loss_phys(self.space.full(phys, u.shape[0]))
        return torch.where(bad, torch.full_like(loss, float("nan")), loss)
