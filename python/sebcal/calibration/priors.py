"""Prior distributions of fitted parameters (docs/calibration.md, "Priors").

A prior turns the least-squares fit into a maximum a posteriori (MAP) estimate: each prior
adds one residual row (g(p) - g0)/s to the data rows, g = ln for a log-normal prior (the
parameter's median exp(g0), one standard deviation a factor exp(s)) and g = identity for a
normal prior (mean g0, standard deviation s). The data rows are weighted by what the data are
worth: N_eff/N (autocorrelated residuals carry fewer independent values than there are
levels) over the residual variance s^2 (docs/calibration.md).

Where a prior comes from:

* given in the config: ``lambda = {median = 0.8, factor = 1.5}`` or ``T_b = {mean = 293, sd = 3}``;
* ``"literature"``: the vocabulary's plausible range (docs/parameters.md) as the central 95 %;
* ``"moisture"`` (heat capacities only): C = (1 - porosity) C_solids + theta c_water at the
  mean observed soil moisture theta (de Vries 1963), with C_solids = 2.0e6 +- 0.15e6 J m-3
  K-1 (mineral soils; CLM5's csol of sand and clay are 2.128e6 and 2.385e6) and the porosity
  from texture, else 0.40 +- 0.08; the spread propagates both;
* ``"texture"``: the site's soil texture ([site] sand_fraction, clay_fraction, bulk_density)
  through the pedotransfer functions CLM5 uses (SoilStateInitTimeConstMod: porosity
  0.489 - 0.00126 %sand, or 1 - rho_b/2700 with a bulk density; solids conductivity
  (8.80 %sand + 2.92 %clay)/(%sand + %clay) W m-1 K-1; dry conductivity
  (0.135 rho_b + 64.7)/(2700 - 0.947 rho_b) (Johansen 1975); solids heat capacity
  (2.128 %sand + 2.385 %clay)/(%sand + %clay) 1e6 J m-3 K-1), and for the constant-property
  soil lambda and C of Johansen's model at the mean observed soil moisture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..vocabulary import H_SENSIBLE, PARAMETERS

#: 95 % of a normal distribution lies within this many standard deviations
Z95 = 1.959963984540054
#: spreads of texture priors: a factor for log-normal ones, a standard deviation otherwise
TEXTURE_SPREAD = {"lambda": math.log(1.5), "C": math.log(1.25), "lambda_dry": math.log(1.5),
                  "lambda_solids": math.log(1.5), "C_dry": math.log(1.25), "porosity": 0.05}
PARTICLE_DENSITY = 2700.0      # kg m-3 (CLM pd)


@dataclass(frozen=True)
class Prior:
    """A prior of one parameter.

    Attributes:
        kind: "lognormal" (center = ln median, spread = sd of ln p) or "normal" (center =
            mean, spread = sd), in the parameter's unit.
        source: where it comes from (shown in the report).
    """

    name: str
    kind: str
    center: float
    spread: float
    source: str

    def residual(self, p: Any) -> Any:
        g = np.log(p) if self.kind == "lognormal" else p
        return (g - self.center) / self.spread

    def dres_dp(self, p: Any) -> Any:
        return (1.0 / (np.asarray(p) * self.spread) if self.kind == "lognormal"
                else np.full_like(np.asarray(p, dtype=float), 1.0 / self.spread))

    def describe(self, unit: str) -> str:
        if self.kind == "lognormal":
            return (f"log-normal, median {math.exp(self.center):.4g} {unit}, one sd a factor "
                    f"{math.exp(self.spread):.3g} ({self.source})")
        return f"normal, mean {self.center:.4g} {unit}, sd {self.spread:.3g} {unit} ({self.source})"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "center": self.center, "spread": self.spread,
                "source": self.source}


def _param(name: str):
    return H_SENSIBLE if name == "h" else PARAMETERS[name]


def literature(name: str) -> Prior:
    """The vocabulary's plausible range as the central 95 % of a prior."""
    p = _param(name)
    lo, hi = p.plausible
    if p.scale == "log" and lo > 0:
        return Prior(name, "lognormal", 0.5 * (math.log(lo) + math.log(hi)),
                     (math.log(hi) - math.log(lo)) / (2 * Z95),
                     f"plausible range {lo:g}-{hi:g} {p.unit} as the central 95 %")
    return Prior(name, "normal", 0.5 * (lo + hi), (hi - lo) / (2 * Z95),
                 f"plausible range {lo:g}-{hi:g} {p.unit} as the central 95 %")


def texture_values(site: Mapping[str, Any], theta_mean: float | None) -> dict[str, float]:
    """Soil parameters from texture (CLM5 pedotransfer functions; see the module docstring).

    Args:
        site: sand_fraction, clay_fraction [1] and optionally bulk_density [kg m-3].
        theta_mean: mean soil moisture [m3 m-3] for lambda and C of the constant soil.
    """
    try:
        sand = 100.0 * float(site["sand_fraction"])
        clay = 100.0 * float(site["clay_fraction"])
    except (KeyError, TypeError):
        raise ConfigError("[calibration.prior] \"texture\" needs the soil texture: give "
                          "[site] sand_fraction and clay_fraction (and bulk_density if known), "
                          "or a site file that has them") from None
    if not (sand + clay > 0):
        raise ConfigError("[site] sand_fraction + clay_fraction must be > 0 for a texture prior")
    rho_b = site.get("bulk_density")
    phi = 1.0 - float(rho_b) / PARTICLE_DENSITY if rho_b else 0.489 - 0.00126 * sand
    rho_b = float(rho_b) if rho_b else (1.0 - phi) * PARTICLE_DENSITY
    out = {
        "porosity": phi,
        "lambda_solids": (8.80 * sand + 2.92 * clay) / (sand + clay),
        "lambda_dry": (0.135 * rho_b + 64.7) / (PARTICLE_DENSITY - 0.947 * rho_b),
        "C_dry": (1.0 - phi) * (2.128 * sand + 2.385 * clay) / (sand + clay) * 1e6,
    }
    if theta_mean is not None:
        from ..physics.soil import node_properties

        lam, C = node_properties({k: np.array([v]) for k, v in out.items()},
                                 np.array([float(theta_mean)]), "johansen")
        out["lambda"], out["C"] = float(np.asarray(lam)[0]), float(np.asarray(C)[0])
    return out


def moisture_prior(name: str, site: Mapping[str, Any] | None, theta_mean: float | None
                   ) -> Prior:
    """The heat capacity prior from the observed soil moisture (see the module docstring)."""
    if name not in ("C", "C_dry"):
        raise ConfigError(f"[calibration.prior] {name} = \"moisture\": only heat capacities (C, "
                          "C_dry) have a moisture-based prior")
    if theta_mean is None and name == "C":
        raise ConfigError("[calibration.prior] C = \"moisture\" needs observed soil moisture: "
                          "give [forcing.soil_moisture] (names, depths)")
    cs, sd_cs = 2.0e6, 0.15e6
    try:
        phi = texture_values(site or {}, None)["porosity"]
        sd_phi = 0.05
        how = "porosity from texture"
    except ConfigError:
        phi, sd_phi = 0.40, 0.08
        how = "porosity 0.40 +- 0.08"
    theta = float(theta_mean or 0.0) if name == "C" else 0.0
    c = (1 - phi) * cs + theta * 4.188e6
    sd = math.hypot((1 - phi) * sd_cs, cs * sd_phi)
    src = (f"soil moisture: (1 - porosity) C_solids + {theta:.3f} c_water, {how}"
           if name == "C" else f"(1 - porosity) C_solids, {how}")
    return Prior(name, "lognormal", math.log(c), sd / c, src)


def build(table: Mapping[str, Any] | None, free: list[str], site: Mapping[str, Any] | None,
          theta_mean: float | None = None) -> dict[str, Prior]:
    """Priors of the free parameters named in ``[calibration.prior]``.

    Raises:
        ConfigError: a prior of a parameter that is not free, an unknown source, texture
            priors without texture.
    """
    out: dict[str, Prior] = {}
    tex = None
    for name, spec in (table or {}).items():
        if name not in free:
            raise ConfigError(f"[calibration.prior] {name}: '{name}' is not free ([calibration] "
                              f"free = {free}); a prior only applies to a fitted parameter")
        if spec == "literature":
            out[name] = literature(name)
        elif spec == "moisture":
            out[name] = moisture_prior(name, site, theta_mean)
        elif spec == "texture":
            if tex is None:
                tex = texture_values(site or {}, theta_mean)
            if name not in tex:
                why = (" (lambda and C of the constant soil also need soil moisture: "
                       "[forcing.soil_moisture])" if name in ("lambda", "C") else "")
                raise ConfigError(f"[calibration.prior] {name} = \"texture\": texture gives "
                                  f"{', '.join(sorted(tex))}, not {name}{why}")
            v = tex[name]
            spread = TEXTURE_SPREAD[name]
            src = ("soil texture (CLM5 pedotransfer functions"
                   + (f", Johansen at mean theta {theta_mean:.3f})" if name in ("lambda", "C")
                      else ")"))
            out[name] = (Prior(name, "normal", v, spread, src) if name == "porosity"
                         else Prior(name, "lognormal", math.log(v), spread, src))
        elif isinstance(spec, Mapping):
            if "median" in spec:
                out[name] = Prior(name, "lognormal", math.log(float(spec["median"])),
                                  math.log(float(spec["factor"])), "the config")
            else:
                out[name] = Prior(name, "normal", float(spec["mean"]), float(spec["sd"]),
                                  "the config")
        else:
            raise ConfigError(f"[calibration.prior] {name} = {spec!r}: give "
                              "{median = ..., factor = ...}, {mean = ..., sd = ...}, "
                              "\"literature\" or \"texture\"")
    return out


__all__ = ["Prior", "build", "literature", "texture_values"]
