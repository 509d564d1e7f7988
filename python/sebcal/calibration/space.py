"""The optimisation space: bounded/positive parameters mapped to unbounded, prior-scaled ones.

Each free parameter p gets a transform g to the real line (logit for the bounded albedo and
emissivity, log for the positive ones) and is then scaled by its prior range,

    u = (g(p) - g(centre)) / (g(hi) - g(lo)),     centre = (lo + hi)/2 in g-space,

so that the prior range of every parameter has width 1 in u. One optimiser step size then
serves all parameters, whatever their units (K, J m-3 K-1, ...), and the bounds can never be
crossed. T_b is positive (log); its prior range (290-303 K) sets its scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from ..errors import ConfigError, did_you_mean
from ..params import Params, field_meta

#: names a calibration may free (public names)
#: T_init is a uniform initial soil temperature [K] distinct from the deep temperature T_b
#: (without it, a uniform initial state is T_b itself, as in the published model)
FREE_NAMES = ("alpha", "h_eff", "h", "beta", "lambda", "C", "T_b", "eps", "T_init")
#: units of each, for reports
UNITS = {"alpha": "1", "eps": "1", "lambda": "W m-1 K-1", "C": "J m-3 K-1", "T_b": "K", "T_init": "K",
         "h_eff": "W m-2 K-1", "h": "W m-2 K-1", "beta": "1"}
#: default prior ranges (published ranges, model.md sec. 3.3 and 4.2)
DEFAULT_PRIOR = {"alpha": (0.05, 0.5), "eps": (0.9, 1.0), "lambda": (0.47, 0.8),
                 "C": (2.0e6, 2.5e6), "T_b": (290.0, 303.0), "T_init": (290.0, 303.0),
                 "h_eff": (6.45, 30.35),
                 "h": (5.0, 20.0), "beta": (0.5, 5.0)}
_BOUNDED = {"alpha": (0.0, 1.0), "eps": (0.0, 1.0)}


def _g(name: str, p):
    lib = torch if isinstance(p, torch.Tensor) else np
    if name in _BOUNDED:
        lo, hi = _BOUNDED[name]
        q = (p - lo) / (hi - lo)
        return lib.log(q) - lib.log1p(-q)
    return lib.log(p)


def _g_inv(name: str, x):
    lib = torch if isinstance(x, torch.Tensor) else np
    if name in _BOUNDED:
        lo, hi = _BOUNDED[name]
        return lo + (hi - lo) / (1 + lib.exp(-x))
    return lib.exp(x)


def _dp_dg(name: str, p: np.ndarray) -> np.ndarray:
    """dp/dg at p (for error propagation)."""
    if name in _BOUNDED:
        lo, hi = _BOUNDED[name]
        q = (p - lo) / (hi - lo)
        return (hi - lo) * q * (1 - q)
    return p


@dataclass(frozen=True)
class Space:
    """Free parameters, their prior ranges and the fixed rest.

    Attributes:
        free: names of the free parameters (public names, order of the u vector).
        prior: name -> (lo, hi) prior range in physical units.
        fixed: Params giving the values of parameters that are not free.
    """

    free: tuple[str, ...]
    prior: Mapping[str, tuple[float, float]]
    fixed: Params

    @classmethod
    def build(cls, free: Sequence[str], fixed: Params,
              prior: Mapping[str, Sequence[float]] | None = None) -> "Space":
        free = tuple(free)
        if not free:
            raise ConfigError("[calibration] free is empty: name the parameters to fit, e.g. "
                              "free = [\"h_eff\", \"lambda\", \"C\", \"T_b\"]")
        for name in free:
            if name not in FREE_NAMES:
                hint = did_you_mean(name, FREE_NAMES)
                raise ConfigError(f"[calibration] free: unknown parameter '{name}'{hint}; "
                                  f"choose from {', '.join(FREE_NAMES)}")
        if len(set(free)) != len(free):
            raise ConfigError(f"[calibration] free lists a parameter twice: {list(free)}")
        if "h_eff" in free and ("h" in free or "beta" in free):
            raise ConfigError("[calibration] free: give h_eff, or h and beta "
                              "(h_eff = h (1 + 1/beta)), not both")
        if ("h" in free) != ("beta" in free):
            raise ConfigError("[calibration] free: h and beta go together (h_eff = h (1 + 1/beta));"
                              " to fit one turbulent coefficient use h_eff")
        if ("h" in free or "beta" in free) and fixed.beta is None:
            fixed = fixed.replace(beta=1.5)  # only a starting value: both are drawn from priors
        pri: dict[str, tuple[float, float]] = {}
        for name in free:
            lo, hi = (prior or {}).get(name, DEFAULT_PRIOR[name])
            try:
                lo, hi = float(lo), float(hi)
            except (TypeError, ValueError):
                raise ConfigError(f"[calibration.prior] {name} must be [low, high]") from None
            blo, bhi = field_meta({"lambda": "lam", "h": "h_eff", "T_init": "T_b"}.get(name, name))["bounds"]
            if not (blo < lo < hi < bhi):
                raise ConfigError(f"[calibration.prior] {name} = [{lo:g}, {hi:g}] must be "
                                  f"increasing and strictly inside the physical bounds "
                                  f"({blo:g}, {bhi:g}) [{UNITS[name]}]")
            pri[name] = (lo, hi)
        return cls(free, pri, fixed)

    @property
    def size(self) -> int:
        return len(self.free)

    def _affine(self, name: str) -> tuple[float, float]:
        lo, hi = self.prior[name]
        glo, ghi = float(_g(name, np.float64(lo))), float(_g(name, np.float64(hi)))
        return 0.5 * (glo + ghi), ghi - glo

    def to_u(self, phys: Mapping[str, np.ndarray]) -> np.ndarray:
        """Physical values (name -> (B,)) to u (B, P)."""
        cols = []
        for name in self.free:
            c, s = self._affine(name)
            cols.append((_g(name, np.asarray(phys[name], dtype=np.float64)) - c) / s)
        return np.stack(cols, axis=-1)

    def to_phys(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """u (B, P) to physical values name -> (B,), differentiably."""
        out = {}
        for k, name in enumerate(self.free):
            c, s = self._affine(name)
            out[name] = _g_inv(name, c + s * u[..., k])
        return out

    def to_phys_np(self, u: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {k: v.numpy() for k, v in self.to_phys(torch.as_tensor(u)).items()}

    def dphys_du(self, phys: Mapping[str, np.ndarray]) -> np.ndarray:
        """Diagonal Jacobian dp/du at phys, shape (B, P)."""
        cols = []
        for name in self.free:
            _, s = self._affine(name)
            cols.append(_dp_dg(name, np.asarray(phys[name], dtype=np.float64)) * s)
        return np.stack(cols, axis=-1)

    def draw(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """n starts drawn uniformly from the prior ranges (physical units), reproducibly."""
        rng = np.random.default_rng(seed)
        u = rng.random((n, self.size))
        return {name: self.prior[name][0] + (self.prior[name][1] - self.prior[name][0]) * u[:, k]
                for k, name in enumerate(self.free)}

    def full(self, phys: Mapping[str, torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
        """All model parameters (alpha, eps, lambda, C, T_b, h_eff, beta; T_init when free) as
        (B,) tensors."""
        f = self.fixed
        base = {"alpha": f.alpha, "eps": f.eps, "lambda": f.lam, "C": f.C, "T_b": f.T_b,
                "h_eff": f.h_eff, "beta": f.beta}
        out: dict[str, torch.Tensor] = {}
        for name, val in base.items():
            if name in phys:
                out[name] = phys[name]
            elif val is not None:
                out[name] = torch.full((batch,), float(val), dtype=torch.float64)
        if "h" in phys:
            out["h_eff"] = phys["h"] * (1 + 1 / phys["beta"])
        if "T_init" in phys:
            out["T_init"] = phys["T_init"]
        return out
