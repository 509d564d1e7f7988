"""Physical parameters of the scheme: a validated, immutable mapping in SI units.

Names, units, bounds and defaults come from :mod:`sebcal.vocabulary`. Surface parameters are
numbers; soil parameters (``lambda``, ``C``, ``porosity``, ...) are one number for a uniform
soil or one per soil layer (a tuple). ``h`` with ``beta`` may stand for ``h_eff``
(h_eff = h (1 + 1/beta), docs/theory.md eq. 5).

    p = Params.from_dict({"alpha": 0.2, "lambda": 0.8, "C": 2.2e6, "T_b": 293, "h_eff": 25})
    p["lambda"], p.alpha, p.lam        # 0.8, 0.2, 0.8
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import ConfigError, did_you_mean
from .vocabulary import CONSTANTS, PARAMETERS, Parameter, needed, parameter, resolve_alias

#: Stefan-Boltzmann constant used by the published model [W m-2 K-4].
SIGMA = CONSTANTS["sigma"][0]

Value = float | tuple[float, ...]


class Params(Mapping[str, Any]):
    """Parameter values by canonical name (docs/config.md lists them).

    Args:
        values: name -> number (or per-layer sequence for soil parameters). Aliases are
            accepted; every value is checked against its physical bounds.

    Raises:
        ConfigError: unknown names, values that are not numbers, values outside bounds.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        merged = dict(values or {})
        merged.update(kwargs)
        object.__setattr__(self, "_values", _validate(merged, "parameters"))

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "parameters") -> Params:
        """Build from a config-style mapping; ``h`` and ``beta`` together may replace
        ``h_eff``.

        Raises:
            ConfigError: an unknown name (with the nearest valid one suggested), a value that
                is not a number, or a value outside its physical bounds; the message names
                ``[where]``.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{where}] must be a table of parameter values, got "
                              f"{type(values).__name__}")
        out = {k: v for k, v in values.items() if v is not None}
        if "h" in out:
            h = out.pop("h")
            if "h_eff" in {resolve_alias(k) for k in out}:
                raise ConfigError(f"[{where}] gives both 'h' and 'h_eff': give h_eff, or h "
                                  "and beta (h_eff = h (1 + 1/beta)), not both")
            beta_key = next((k for k in out if resolve_alias(k) == "beta"), None)
            if beta_key is None or out[beta_key] is None:
                raise ConfigError(f"[{where}] gives 'h' without 'beta': h_eff = h (1 + 1/beta)"
                                  " needs the Bowen ratio beta")
            h = _number("h", h, where)
            beta = _number("beta", out[beta_key], where)
            _check("h", h, where)
            _check("beta", beta, where)
            out["h_eff"] = h * (1.0 + beta) / beta   # = h (1 + 1/beta), fewer roundings
        obj = cls.__new__(cls)
        object.__setattr__(obj, "_values", _validate(out, where))
        return obj

    def replace(self, **changes: Any) -> Params:
        """A copy with some values changed (validated again); None removes a value."""
        d = dict(self._values)
        for k, v in changes.items():
            k = resolve_alias("lambda" if k == "lam" else k)
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        return Params(d)

    def with_defaults(self, options: Mapping[str, str]) -> Params:
        """These values plus the vocabulary's default of every parameter the options use.

        Raises:
            ConfigError: a parameter the options use has no value and no default.
        """
        d = dict(self._values)
        missing = []
        for name in needed(options):
            if name in d:
                continue
            default = PARAMETERS[name].default
            if default is None:
                missing.append(name)
            else:
                d[name] = default
        if missing:
            raise ConfigError(f"[parameters] missing {', '.join(missing)}: the options "
                              f"({_options_text(options, missing)}) use "
                              f"{'them' if len(missing) > 1 else 'it'} and there is no default")
        return Params(d)

    # ---------------------------------------------------------------- access
    def __getitem__(self, name: str) -> Any:
        key = resolve_alias("lambda" if name == "lam" else name)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return resolve_alias("lambda" if name == "lam" else name) in self._values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            if resolve_alias("lambda" if name == "lam" else name) in PARAMETERS:
                return None
            raise AttributeError(f"Params has no parameter {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Params is immutable; use replace()")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        return self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={_fmt(v)}" for k, v in self._values.items())
        return f"Params({body})"

    @property
    def h(self) -> float | None:
        """Sensible heat transfer coefficient h = h_eff beta / (1 + beta) [W m-2 K-1]."""
        he, beta = self._values.get("h_eff"), self._values.get("beta")
        if he is None or beta is None:
            return None
        return he * beta / (1.0 + beta)

    def layers(self, name: str, nlayers: int) -> tuple[float, ...]:
        """A soil parameter as one value per layer (a uniform value repeated)."""
        v = self[name]
        if isinstance(v, tuple):
            if len(v) != nlayers:
                raise ConfigError(f"[parameters] {name} has {len(v)} values but the soil has "
                                  f"{nlayers} layers ([soil] layer_bottoms); give one value per "
                                  "layer, or one for all")
            return v
        return (float(v),) * nlayers

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (lists for per-layer values), JSON/TOML-serialisable."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._values.items()}


# ------------------------------------------------------------------------------ helpers


def public_name(name: str) -> str:
    """The canonical name of a parameter given by any of its names."""
    return resolve_alias("lambda" if name == "lam" else name)


def field_meta(name: str) -> Parameter:
    """The vocabulary entry of a parameter (any name)."""
    return parameter(public_name(name))


def check_bounds(name: str, value: float, label: str | None = None,
                 where: str = "parameters") -> None:
    """Raise ConfigError when ``value`` is outside the physical bounds of parameter ``name``."""
    _check(name, value, where, label)


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(f"{x:g}" for x in v) + ")"
    return f"{v:g}"


def _options_text(options: Mapping[str, str], names: list[str]) -> str:
    keys: list[str] = []
    for n in names:
        for cond in PARAMETERS[n].used:
            for k in cond:
                if k not in keys:
                    keys.append(k)
    return ", ".join(f"{k} = \"{options.get(k)}\"" for k in keys) or "the published model"


def _number(label: str, value: Any, where: str) -> float:
    """``value`` as a float; ConfigError naming ``label`` when it is not a number (or a bool)."""
    unit = parameter(label).unit if label in ("h",) or resolve_alias(label) in PARAMETERS \
        else ""
    if not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise ConfigError(f"[{where}] parameter '{label}' must be a number [{unit}], got "
                      f"{value!r}")


def _check(name: str, value: float, where: str, label: str | None = None) -> None:
    p = parameter(name)
    label = label or name
    if p.in_bounds(value):
        return
    hint = ""
    if p.unit == "K" and math.isfinite(value) and -60.0 < value < 60.0:
        hint = (f"; {value:g} looks like degrees Celsius: give kelvin "
                f"({value + 273.15:g} K)")
    raise ConfigError(f"[{where}] parameter '{label}' = {value!r} [{p.unit}] is outside its "
                      f"physical bounds {p.bounds_text()}{hint}")


def _validate(values: Mapping[str, Any], where: str) -> dict[str, Value]:
    out: dict[str, Value] = {}
    given_as: dict[str, str] = {}
    for key, value in values.items():
        name = resolve_alias("lambda" if key == "lam" else str(key))
        if name not in PARAMETERS:
            valid = [*PARAMETERS, "h", *(a for p in PARAMETERS.values() for a in p.aliases)]
            raise ConfigError(f"[{where}] unknown parameter '{key}'{did_you_mean(key, valid)}; "
                              f"valid names: {', '.join(PARAMETERS)}, h")
        if name in given_as:
            raise ConfigError(f"[{where}] gives parameter '{name}' twice, as "
                              f"'{given_as[name]}' and as '{key}'; keep one of them")
        given_as[name] = str(key)
        if value is None:
            continue
        p = PARAMETERS[name]
        if isinstance(value, (list, tuple)) and not isinstance(value, str):
            if p.group != "soil":
                raise ConfigError(f"[{where}] parameter '{name}' takes one number [{p.unit}], "
                                  f"got a list; only soil parameters take one value per layer")
            if not value:
                raise ConfigError(f"[{where}] parameter '{name}' is an empty list; give one "
                                  "value per soil layer")
            vals = []
            for i, v in enumerate(value):
                x = _number(name, v, where)
                _check(name, x, where, f"{name}[{i}]")
                vals.append(x)
            out[name] = tuple(vals)
        else:
            x = _number(name, value, where)
            _check(name, x, where)
            out[name] = x
    return out


__all__ = ["Params", "SIGMA", "check_bounds", "field_meta", "public_name"]
