"""The calibration objective: weighted least squares of observations against the torch model.

For starts b = 1..B with physical parameters p_b (from u_b through the space's transforms),
the residuals are r_b,k,n = (m_k(p_b)_n - o_k,n) / sigma_k over the fitted observations k and
the observed levels n of the calibration window, and

    L_b = (1/N) sum r_b,k,n^2,

N the number of terms. m_k is :func:`sebcal.physics.observe.equivalent`, the one observation
operator of sebcal. The model is the direct solver of :class:`sebcal.autodiff.SoilColumn`,
whatever solver the config names for forward runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..autodiff import SoilColumn, observe
from ..errors import ConfigError
from ..observations import Observation
from .space import Space


class Objective:
    """Residuals and loss for a batch of parameter sets.

    Args:
        spec: the model (any solver: the direct solver is used).
        forcing: the Forcing at the model levels.
        observations: the observed series.
        mask: levels that count in the loss, bool (nt+1,) (the calibration window).
        space: the free coordinates and their transforms.
    """

    def __init__(self, spec: Any, forcing: Any, observations: Sequence[Observation],
                 mask: np.ndarray, space: Space) -> None:
        self.spec = spec.replace(solver="direct")
        self.space = space
        self.model = SoilColumn(self.spec)
        self.forcing = {k: torch.tensor(np.array(v, dtype=np.float64))
                        for k, v in forcing.data.items()}
        th = forcing.theta_at(self.spec.node_depths, self.spec.options)
        self.theta = None if th is None else torch.tensor(th)
        self.observations = list(observations)
        self.fitted = [o for o in self.observations if o.fit]
        if not self.fitted:
            raise ConfigError("no observation has fit = true: nothing to calibrate against; "
                              "set fit = true on at least one [observations.NAME]")
        self.set_mask(mask)

    def set_mask(self, mask: np.ndarray) -> None:
        """Levels that count in the loss (bool (nt+1,))."""
        vals, weights = [], []
        for o in self.fitted:
            ok = mask & o.valid
            vals.append(np.where(ok, o.values, 0.0))
            weights.append(ok / o.sigma ** 2)
        self._obs = torch.as_tensor(np.stack(vals))           # (K, nt+1)
        self._w = torch.as_tensor(np.stack(weights))           # (K, nt+1)
        self._sel = torch.as_tensor(np.stack([mask & o.valid for o in self.fitted]))
        self.n_terms = int(self._sel.sum())
        if self.n_terms == 0:
            raise ConfigError("the calibration window holds no observed value of the fitted "
                              "observations; widen the window or check the observation files")

    def run(self, params: dict[str, torch.Tensor]):
        """The torch model output for full parameter tensors (space.model_params)."""
        return self.model(self.forcing, params, theta=self.theta)

    def predict(self, params: dict[str, torch.Tensor], obs: Sequence[Observation] | None = None
                ) -> list[torch.Tensor]:
        """Model equivalents (B, nt+1) of ``obs`` (default: the fitted ones)."""
        out = self.run(params)
        return [observe.equivalent(o.variable, out.T, out.fluxes, out.z, out.lam, o.depth)
                for o in (obs or self.fitted)]

    def residuals_phys(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted residuals (B, N) (model - obs)/sigma at the counted levels."""
        preds = torch.stack(self.predict(params), dim=1)      # (B, K, nt+1)
        r = (preds - self._obs) * self._w.sqrt()
        return r[:, self._sel]

    def loss_phys(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        r = self.residuals_phys(params)
        return (r ** 2).sum(dim=1) / self.n_terms

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """Loss (B,) at u (B, P); NaN for starts whose parameters overflowed (they are then
        reported as failed, and the start-range centre stands in so no inf reaches the model)."""
        with torch.no_grad():
            bad = ~torch.isfinite(u).all(dim=1)
        if bool(bad.any()):
            u = torch.where(bad[:, None], torch.zeros_like(u), u)
        phys = self.space.to_phys(u)
        loss = self.loss_phys(self.space.model_params(phys, u.shape[0]))
        return torch.where(bad, torch.full_like(loss, float("nan")), loss)
