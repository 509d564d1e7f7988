"""Physical parameters of the soil column and surface energy balance (SEB).

The scheme (Huang, Heaney & van Reeuwijk, arXiv 2505.02979, section 2.2) is

    C dT/dt = lambda d2T/dz2                                   (soil, z positive down)
    G = K_down (1 - alpha) + L_down - eps sigma Ts^4 - h_eff (Ts - Ta)   (surface, z = 0)
    T = T_b                                                     (bottom, Dirichlet)

with h_eff = h (1 + 1/beta) the total turbulent transfer coefficient: h is the sensible
heat transfer coefficient and beta the Bowen ratio, so Qh = h (Ts - Ta) and Qle = Qh / beta.
Only h_eff enters the temperatures; beta only splits the turbulent flux into Qh and Qle.

Every field carries its unit, its physical bounds and a default prior range (used to draw
calibration starts) in ``dataclasses.field(metadata=...)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError, did_you_mean

#: Stefan-Boltzmann constant used by the published model [W m-2 K-4].
SIGMA = 5.67e-8


def _meta(unit: str, bounds: tuple[float, float], prior: tuple[float, float], long_name: str,
          closed: tuple[bool, bool] = (True, True)) -> dict[str, Any]:
    return {"unit": unit, "bounds": bounds, "closed": closed, "prior": prior,
            "long_name": long_name}


@dataclass(frozen=True)
class Params:
    """Parameters of the soil column and SEB, all in SI units.

    Attributes:
        alpha: broadband surface albedo [-], 0 <= alpha <= 1.
        eps: surface emissivity [-], 0 < eps <= 1.
        lam: bulk soil thermal conductivity lambda [W m-1 K-1], > 0.
        C: bulk volumetric heat capacity [J m-3 K-1], > 0.
        T_b: deep (bottom boundary) temperature [K], > 0.
        h_eff: turbulent transfer coefficient h (1 + 1/beta) [W m-2 K-1], > 0.
        beta: Bowen ratio Qh/Qle [-], > 0, or None when the split of h_eff into sensible and
            latent heat is unknown (then Qh and Qle are not reported separately).
    """

    alpha: float = field(default=0.2, metadata=_meta("1", (0.0, 1.0), (0.05, 0.5),
                                                     "surface albedo"))
    eps: float = field(default=0.95, metadata=_meta("1", (0.0, 1.0), (0.9, 1.0),
                                                    "surface emissivity", (False, True)))
    lam: float = field(default=0.8, metadata=_meta("W m-1 K-1", (0.0, math.inf), (0.47, 0.8),
                                                   "soil thermal conductivity",
                                                   (False, False)))
    C: float = field(default=2.2e6, metadata=_meta("J m-3 K-1", (0.0, math.inf), (2.0e6, 2.5e6),
                                                   "soil volumetric heat capacity",
                                                   (False, False)))
    T_b: float = field(default=293.0, metadata=_meta("K", (0.0, math.inf), (290.0, 303.0),
                                                     "deep soil temperature", (False, False)))
    h_eff: float = field(default=25.0, metadata=_meta("W m-2 K-1", (0.0, math.inf),
                                                      (6.45, 30.35),
                                                      "turbulent transfer coefficient "
                                                      "h(1+1/beta)", (False, False)))
    beta: float | None = field(default=None, metadata=_meta("1", (0.0, math.inf), (0.5, 5.0),
                                                            "Bowen ratio", (False, False)))

    #: names accepted in config files and params.json for each field
    ALIASES = {"lambda": "lam", "eps": "eps", "emissivity": "eps", "Tb": "T_b",
               "t_bottom": "T_b", "heat_capacity": "C", "hb": "h_eff", "h_beta": "h_eff",
               "bowen": "beta"}

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "beta":
                continue
            value = _number(public_name(f.name), value)
            object.__setattr__(self, f.name, value)
            check_bounds(f.name, value)

    @property
    def h(self) -> float | None:
        """Sensible heat transfer coefficient h = h_eff beta / (1 + beta) [W m-2 K-1]."""
        return None if self.beta is None else self.h_eff * self.beta / (1.0 + self.beta)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "parameters") -> "Params":
        """Build from a mapping with config names (alpha, eps, lambda, C, T_b, h_eff, h, beta).

        ``h`` and ``beta`` together may replace ``h_eff`` (h_eff = h (1 + 1/beta)).

        Raises:
            ConfigError: an unknown name (with the nearest valid one suggested), a value that
                is not a number, or a value outside its physical bounds.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{where}] must be a table of parameter values, got "
                              f"{type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        accepted = sorted((known - {"lam"}) | set(cls.ALIASES) | {"h"})
        kwargs: dict[str, Any] = {}
        given_as: dict[str, str] = {}
        h = None
        for key, value in values.items():
            if key == "h":
                h = value
                continue
            name = cls.ALIASES.get(key, key)
            if name not in known:
                hint = did_you_mean(key, accepted)
                raise ConfigError(f"unknown key '{key}' in [{where}]{hint}; valid keys: "
                                  f"{', '.join(public_name(n) for n in sorted(known))}, h")
            if name in given_as:
                raise ConfigError(f"[{where}] gives parameter '{public_name(name)}' twice, as "
                                  f"'{given_as[name]}' and as '{key}'; keep one of them")
            given_as[name] = str(key)
            kwargs[name] = value
        if h is not None:
            if "h_eff" in kwargs:
                raise ConfigError(f"[{where}] gives both 'h' and 'h_eff': give h_eff, or h "
                                  "and beta (h_eff = h (1 + 1/beta)), not both")
            if kwargs.get("beta") is None:
                raise ConfigError(f"[{where}] gives 'h' without 'beta': h_eff = h (1 + 1/beta)"
                                  " needs the Bowen ratio beta")
            h = _number("h", h, "W m-2 K-1")
            beta = _number("beta", kwargs["beta"])
            check_bounds("h_eff", h, label="h")
            check_bounds("beta", beta)
            kwargs["h_eff"] = h * (1.0 + beta) / beta   # = h (1 + 1/beta), fewer roundings
        return cls(**kwargs)

    def to_dict(self) -> dict[str, float | None]:
        """Mapping with the public names (alpha, eps, lambda, C, T_b, h_eff, beta)."""
        return {public_name(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> "Params":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _number(label: str, value: Any, unit: str | None = None) -> float:
    """``value`` as a float; ConfigError naming ``label`` when it is not a number (or a bool)."""
    if unit is None:
        unit = field_meta(label)["unit"]
    if not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise ConfigError(f"parameter '{label}' must be a number [{unit}], got {value!r}")


def public_name(field_name: str) -> str:
    """The name used in config files, reports and params.json for a Params field."""
    return {"lam": "lambda"}.get(field_name, field_name)


def field_meta(name: str) -> Mapping[str, Any]:
    """Metadata (unit, bounds, closed, prior, long_name) of a Params field or public name."""
    name = Params.ALIASES.get(name, name)
    for f in dataclasses.fields(Params):
        if f.name == name:
            return f.metadata
    raise KeyError(name)


def check_bounds(name: str, value: float, label: str | None = None) -> None:
    """Raise ConfigError when ``value`` is outside the physical bounds of parameter ``name``."""
    meta = field_meta(name)
    lo, hi = meta["bounds"]
    lo_closed, hi_closed = meta["closed"]
    label = label or public_name(Params.ALIASES.get(name, name))
    ok = math.isfinite(value)
    ok = ok and (value >= lo if lo_closed else value > lo)
    ok = ok and (value <= hi if hi_closed else value < hi)
    if not ok:
        lb = "[" if lo_closed else "("
        hb = "]" if hi_closed else ")"
        raise ConfigError(f"parameter '{label}' = {value!r} [{meta['unit']}] is outside its "
                          f"physical bounds {lb}{lo:g}, {hi:g}{hb}")
