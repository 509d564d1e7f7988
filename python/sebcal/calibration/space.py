"""The optimisation space: bounded parameters mapped to unbounded, range-scaled coordinates.

Every free coordinate p (a parameter, or one soil layer's value of it) has calibration bounds
(lo, hi) (docs/calibration.md: the vocabulary's defaults or ``[calibration.bounds]``) and a
start range (``[calibration.start_range]``). With g = ln p for parameters that span decades
(scale "log") and g = p otherwise,

    q = (g - g(lo)) / (g(hi) - g(lo)),   x = logit(q),   u = (x - x_c) / (x_hi - x_lo),

x_c, x_lo, x_hi being x at the centre and the ends of the start range. The bounds can never be
crossed (q stays in (0, 1)), and every start range has width 1 in u, so one optimiser step
size serves all parameters whatever their units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, did_you_mean
from ..params import Params
from ..vocabulary import H_SENSIBLE, PARAMETERS, parameter


def _is_tensor(x: Any) -> bool:
    # without importing torch: the Levenberg-Marquardt path never needs it
    return type(x).__module__.startswith("torch")


@dataclass(frozen=True)
class Coordinate:
    """One free coordinate: a parameter, or one soil layer of it."""

    name: str                      # vocabulary name (or "h")
    layer: int | None              # 0-based soil layer, None for a surface parameter
    label: str                     # "lambda" or "lambda_2" (1-based layer)
    unit: str
    bounds: tuple[float, float]
    start: tuple[float, float]
    log: bool

    def g(self, p):
        if not self.log:
            return p
        return p.log() if _is_tensor(p) else np.log(p)

    def g_inv(self, x):
        if not self.log:
            return x
        return x.exp() if _is_tensor(x) else np.exp(x)

    def _q(self, p):
        glo, ghi = self.g(self.bounds[0]), self.g(self.bounds[1])
        return (self.g(p) - glo) / (ghi - glo)

    def _x(self, p):
        q = self._q(np.asarray(p, dtype=np.float64))
        return np.log(q) - np.log1p(-q)

    @property
    def affine(self) -> tuple[float, float]:
        """(x_c, width) of the start range in logit space."""
        lo, hi = self.start
        xl, xh = float(self._x(lo)), float(self._x(hi))
        xc = float(self._x(self.g_inv(0.5 * (self.g(lo) + self.g(hi)))))
        return xc, xh - xl

    def to_u(self, p):
        xc, w = self.affine
        return (self._x(p) - xc) / w

    def to_p(self, u):
        xc, w = self.affine
        glo, ghi = float(self.g(self.bounds[0])), float(self.g(self.bounds[1]))
        lo, hi = self.bounds
        if _is_tensor(u):
            q = (xc + w * u).sigmoid()
            return self.g_inv(glo + (ghi - glo) * q).clamp(lo, hi)
        with np.errstate(over="ignore"):          # exp(large) = inf gives q = 0 exactly
            q = 1.0 / (1.0 + np.exp(-(xc + w * np.asarray(u))))
        # the round-off of exp(log(bound)) must not put a value outside its bounds
        return np.clip(self.g_inv(glo + (ghi - glo) * q), lo, hi)

    def dp_du(self, p):
        """dp/du at p."""
        xc, w = self.affine
        glo, ghi = float(self.g(self.bounds[0])), float(self.g(self.bounds[1]))
        q = self._q(np.asarray(p, dtype=np.float64))
        dg = (ghi - glo) * q * (1 - q) * w
        return dg * (np.asarray(p) if self.log else 1.0)

    def at_bound(self, p: float, rel: float = 1e-3) -> str | None:
        """'lower' or 'upper' when p lies within rel of the bound in g (q < rel or > 1 - rel)."""
        q = float(self._q(np.float64(p)))
        if q < rel:
            return "lower"
        if q > 1 - rel:
            return "upper"
        return None


@dataclass(frozen=True)
class Space:
    """The free coordinates and the fixed rest.

    Attributes:
        coords: the free coordinates (order of the u vector).
        fixed: Params giving every other value (defaults filled for the options).
        nlayers: soil layers of the model.
    """

    coords: tuple[Coordinate, ...]
    fixed: Params
    nlayers: int = 1

    @classmethod
    def build(cls, free: Sequence[str], fixed: Params, nlayers: int = 1,
              start_range: Mapping[str, Sequence[float]] | None = None,
              bounds: Mapping[str, Sequence[float]] | None = None) -> Space:
        """Coordinates for the free names (soil parameters give one per layer).

        Raises:
            ConfigError: an empty or malformed free list, an unknown name, h without beta,
                ranges outside the physical bounds.
        """
        free = tuple(free)
        if not free:
            raise ConfigError("[calibration] free is empty: name the parameters to fit, e.g. "
                              "free = [\"h_eff\", \"lambda\", \"C\", \"T_b\"]")
        valid = [p.name for p in PARAMETERS.values() if p.fittable] + ["h"]
        for name in free:
            if name not in valid:
                raise ConfigError(f"[calibration] free: unknown parameter '{name}'"
                                  f"{did_you_mean(name, valid)}; choose from {', '.join(valid)}")
        if len(set(free)) != len(free):
            raise ConfigError(f"[calibration] free lists a parameter twice: {list(free)}")
        if "h_eff" in free and ("h" in free or "beta" in free):
            raise ConfigError("[calibration] free: give h_eff, or h and beta "
                              "(h_eff = h (1 + 1/beta)), not both")
        if ("h" in free) != ("beta" in free) and "h" in free:
            raise ConfigError("[calibration] free: h goes with beta (h_eff = h (1 + 1/beta)); to "
                              "fit one turbulent coefficient use h_eff")
        if "h" in free and fixed.get("beta") is None:
            fixed = fixed.replace(beta=1.5)       # a start value only: both are drawn
        coords = []
        for name in free:
            p = H_SENSIBLE if name == "h" else parameter(name)
            b = tuple(float(x) for x in (bounds or {}).get(name, p.calib))
            s = tuple(float(x) for x in (start_range or {}).get(name, p.prior))
            if not (p.in_bounds(b[0]) or b[0] == p.bounds[0]) or not p.in_bounds(b[1]) \
                    or not b[0] < b[1]:
                raise ConfigError(f"[calibration.bounds] {name} = [{b[0]:g}, {b[1]:g}] must be "
                                  f"increasing and inside the physical bounds "
                                  f"{p.bounds_text()} [{p.unit}]")
            if p.scale == "log" and b[0] <= 0:
                raise ConfigError(f"[calibration.bounds] {name}: the lower bound must be > 0 "
                                  f"({name} is fitted on a log scale)")
            if not (b[0] < s[0] < s[1] < b[1]):
                raise ConfigError(f"[calibration.start_range] {name} = [{s[0]:g}, {s[1]:g}] "
                                  f"must be increasing and strictly inside the calibration "
                                  f"bounds ({b[0]:g}, {b[1]:g}) [{p.unit}]")
            layers = [None] if p.group != "soil" else list(range(nlayers))
            for k in layers:
                label = name if k is None or nlayers == 1 else f"{name}_{k + 1}"
                coords.append(Coordinate(name, None if nlayers == 1 else k, label, p.unit, b, s,
                                         p.scale == "log"))
        return cls(tuple(coords), fixed, nlayers)

    # ---------------------------------------------------------------- shapes
    @property
    def size(self) -> int:
        return len(self.coords)

    @property
    def free(self) -> tuple[str, ...]:
        """Coordinate labels (order of u)."""
        return tuple(c.label for c in self.coords)

    def to_u(self, phys: Mapping[str, np.ndarray]) -> np.ndarray:
        """label -> physical values (B,) to u (B, P)."""
        return np.stack([c.to_u(np.asarray(phys[c.label], dtype=np.float64))
                         for c in self.coords], axis=-1)

    def to_phys(self, u: Any) -> dict[str, Any]:
        """u (B, P) to label -> physical values (B,), differentiably."""
        return {c.label: c.to_p(u[..., k]) for k, c in enumerate(self.coords)}

    def to_phys_np(self, u: np.ndarray) -> dict[str, np.ndarray]:
        return {c.label: np.asarray(c.to_p(np.asarray(u[..., k], dtype=np.float64)))
                for k, c in enumerate(self.coords)}

    def dphys_du(self, phys: Mapping[str, np.ndarray]) -> np.ndarray:
        """Diagonal Jacobian dp/du at phys, (B, P)."""
        return np.stack([c.dp_du(np.asarray(phys[c.label], dtype=np.float64))
                         for c in self.coords], axis=-1)

    def draw(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """n starts drawn uniformly (in g) from the start ranges, reproducibly."""
        rng = np.random.default_rng(seed)
        r = rng.random((n, self.size))
        out = {}
        for k, c in enumerate(self.coords):
            glo, ghi = c.g(c.start[0]), c.g(c.start[1])
            out[c.label] = np.asarray(c.g_inv(glo + (ghi - glo) * r[:, k]))
        return out

    # ---------------------------------------------------------------- model parameters
    def model_params(self, phys: Mapping[str, Any], batch: int) -> dict[str, Any]:
        """Every model parameter as tensors: surface (B,), soil (B, nlayers); free values from
        ``phys`` (label -> (B,)), the rest from ``fixed``; h and beta give h_eff."""
        import torch

        nl = self.nlayers
        out: dict[str, Any] = {}
        for name, v in self.fixed.items():
            if PARAMETERS[name].group == "soil":
                vals = torch.tensor(self.fixed.layers(name, nl), dtype=torch.float64)
                out[name] = vals.unsqueeze(0).expand(batch, nl)
            else:
                out[name] = torch.full((batch,), float(v), dtype=torch.float64)
        by_name: dict[str, list] = {}
        for c in self.coords:
            by_name.setdefault(c.name, []).append(c)
        for name, cs in by_name.items():
            if name == "h":
                continue
            if PARAMETERS[name].group == "soil":
                cols = [out[name][:, k] for k in range(nl)] if name in out else \
                    [torch.zeros(batch, dtype=torch.float64) for _ in range(nl)]
                for c in cs:
                    if c.layer is None:
                        cols = [phys[c.label]] * nl
                    else:
                        cols[c.layer] = phys[c.label]
                out[name] = torch.stack(cols, dim=1)
            else:
                out[name] = phys[cs[0].label]
        if "h" in by_name:
            out["h_eff"] = phys["h"] * (1 + 1 / phys["beta"])
        return out

    def params_at(self, phys: Mapping[str, float]) -> Params:
        """Full Params at one point (label -> value)."""
        d = dict(self.fixed)
        nl = self.nlayers
        for c in self.coords:
            if c.name == "h":
                continue
            if c.layer is None:
                d[c.name] = float(phys[c.label])
            else:
                vals = list(Params(d).layers(c.name, nl)) if c.name in d else [0.0] * nl
                vals[c.layer] = float(phys[c.label])
                d[c.name] = tuple(vals)
        if "h" in phys:
            d["h_eff"] = float(phys["h"]) * (1 + 1 / float(phys["beta"]))
        return Params(d)


def finite(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x)


__all__ = ["Coordinate", "Space"]
