"""Run configuration: the TOML file that describes one sebcal run.

A config file has the tables ``[grid]``, ``[time]``, ``[solver]``, ``[physics]``,
``[initial]``, ``[parameters]`` and ``[forcing]`` (docs/config.md documents every key). Every
key except those of ``[parameters]`` has a default, and the defaults reproduce the published
model (Huang, Heaney & van Reeuwijk, arXiv 2505.02979): a 1 m column of 101 nodes, hourly
steps, the direct solver, the paper's longwave treatment, a Dirichlet bottom at T_b and a
uniform initial state, driven by the paper's synthetic forcing.

The keys are described once, in :data:`SCHEMA` (table -> key -> :class:`Key`, whose first four
fields are type, default, unit and description). Generic checks (unknown keys, types, allowed
values, lower limits, defaults) are driven by it; cross-key rules live in one function per
table (:data:`_FINISH`). A later feature adds a table by adding it to :data:`SCHEMA` (and, if
it has cross-key rules, to :data:`_FINISH`) and removing it from :data:`OPTIONAL_TABLES`, whose
tables are accepted and passed through unvalidated.

Every error is a :class:`~sebcal.errors.ConfigError` whose message names the file (when there
is one), the table and the key, and says how to fix it.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from .errors import ConfigError, did_you_mean
from .params import Params, field_meta, public_name

__all__ = [
    "Depends",
    "Key",
    "OPTIONAL_TABLES",
    "REQUIRED",
    "RunConfig",
    "SCHEMA",
    "load_config",
    "parse_config",
]


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


class _Required:
    """Default of a key that must be given (there is no silent default)."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a key that must be given.
REQUIRED = _Required()


class Depends(NamedTuple):
    """A default that depends on the value of another key of the same table.

    ``Depends("method", {"direct": 1e-10, "jacobi": 1e-4})`` is 1e-10 when ``method`` is
    ``"direct"`` and 1e-4 when it is ``"jacobi"``.
    """

    key: str
    values: Mapping[str, Any]

    def resolve(self, table: Mapping[str, Any]) -> Any:
        return self.values[table[self.key]]


class Key(NamedTuple):
    """One key of a config table.

    Attributes:
        type: ``"float"`` (a number; integers accepted), ``"int"``, ``"str"``, ``"datetime"``
            (ISO 8601 text or a TOML date-time), ``"float[]"`` (an array of numbers) or
            ``"str{}"`` (a table of strings).
        default: the value used when the key is absent; :data:`REQUIRED` when it must be given,
            ``None`` when it is optional without a default (absent stays absent), or a
            :class:`Depends`.
        unit: the unit of a number, ``""`` for none.
        description: one line for error messages and docs.
        choices: allowed values of a ``"str"`` key, or allowed keys of a ``"str{}"`` table.
        minimum: lowest allowed value of a number (or of every element of an array).
        exclusive: the minimum itself is not allowed (``value > minimum``).
        kinds: the key is only allowed when the table's ``kind`` is one of these.
    """

    type: str
    default: Any
    unit: str
    description: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    exclusive: bool = False
    kinds: tuple[str, ...] | None = None


def _parameter_keys() -> dict[str, Key]:
    keys: dict[str, Key] = {}
    for f in dataclasses.fields(Params):
        meta = f.metadata
        lo, hi = meta["bounds"]
        lb = "[" if meta["closed"][0] else "("
        hb = "]" if meta["closed"][1] else ")"
        name = public_name(f.name)
        default = None if name == "beta" else REQUIRED
        keys[name] = Key("float", default, meta["unit"],
                         f"{meta['long_name']}, physical bounds {lb}{lo:g}, {hi:g}{hb}")
    keys["h"] = Key("float", None, field_meta("h_eff")["unit"],
                    "sensible heat transfer coefficient; h and beta together may replace "
                    "h_eff = h (1 + 1/beta)", minimum=0.0, exclusive=True)
    return keys


_SYN = ("paper_synthetic",)
_NC = ("netcdf",)

#: table name -> key name -> Key(type, default, unit, description, ...).
SCHEMA: dict[str, dict[str, Key]] = {
    "grid": {
        "depth": Key("float", 1.0, "m", "depth of the bottom node (uniform grid)",
                     minimum=0.0, exclusive=True),
        "nodes": Key("int", 101, "", "number of nodes including surface and bottom "
                     "(uniform grid)", minimum=3),
        "node_depths": Key("float[]", None, "m", "depths of all nodes, 0 first, strictly "
                           "increasing (non-uniform grid; replaces depth and nodes)"),
    },
    "time": {
        "dt": Key("float", 3600.0, "s", "time step", minimum=0.0, exclusive=True),
        "steps": Key("int", 100, "", "number of time steps", minimum=1),
        "hours": Key("float", None, "h", "run length in hours (replaces steps; "
                     "steps = hours*3600/dt must be whole)", minimum=0.0, exclusive=True),
        "start": Key("datetime", "2000-01-01T00:00:00Z", "UTC",
                     "time of the initial state (level 0)"),
    },
    "solver": {
        "method": Key("str", "direct", "", "solver of each implicit step",
                      choices=("direct", "jacobi")),
        "tol": Key("float", Depends("method", {"direct": 1e-10, "jacobi": 1e-4}), "K",
                   "convergence tolerance", minimum=0.0, exclusive=True),
        "max_iter": Key("int", Depends("method", {"direct": 50, "jacobi": 100000}), "",
                        "most Newton iterations (direct) or sweeps (jacobi) per step",
                        minimum=1),
    },
    "physics": {
        "longwave": Key("str", "paper", "", "longwave treatment at the surface",
                        choices=("paper", "kirchhoff")),
        "bottom": Key("str", "dirichlet", "", "bottom boundary condition",
                      choices=("dirichlet", "zero_flux")),
    },
    "initial": {
        "kind": Key("str", "uniform", "", "initial soil temperature",
                    choices=("uniform", "profile", "spinup")),
        "profile": Key("float[]", None, "K", "temperature at every node (kind = \"profile\")",
                       minimum=0.0, exclusive=True),
        "spinup_tol": Key("float", 1e-3, "K", "spin-up stops when a day changes the profile "
                          "by less than this (max norm)", minimum=0.0, exclusive=True),
        "spinup_max_cycles": Key("int", 365, "days", "most days of spin-up", minimum=1),
    },
    "parameters": _parameter_keys(),
    "forcing": {
        "kind": Key("str", "paper_synthetic", "", "source of the forcing",
                    choices=("paper_synthetic", "netcdf")),
        "k_peak": Key("float", 800.0, "W m-2", "peak downward shortwave at solar noon",
                      minimum=0.0, kinds=_SYN),
        "lw_down": Key("float", 100.0, "W m-2", "constant downward longwave", minimum=0.0,
                       kinds=_SYN),
        "t_air": Key("float", 296.0, "K", "constant air temperature", minimum=0.0,
                     exclusive=True, kinds=_SYN),
        "sunrise_h": Key("float", 7.0, "h", "sunrise, hours after local midnight",
                         minimum=0.0, kinds=_SYN),
        "sunset_h": Key("float", 21.0, "h", "sunset, hours after local midnight",
                        minimum=0.0, kinds=_SYN),
        "path": Key("str", REQUIRED, "", "NetCDF (ALMA/CF) file; relative paths resolve "
                    "against the config file's folder", kinds=_NC),
        "gap_policy": Key("str", "error", "", "what to do with missing forcing values",
                          choices=("error", "interpolate"), kinds=_NC),
        "max_gap_hours": Key("float", 6.0, "h", "longest gap filled by "
                             "gap_policy = \"interpolate\"", minimum=0.0, kinds=_NC),
        "resample": Key("str", "sample", "", "how file values map onto model time levels",
                        choices=("sample", "mean"), kinds=_NC),
        "variables": Key("str{}", None, "", "the file's variable name for SWdown, LWdown, Tair "
                         "(when not the ALMA name or a known alias)",
                         choices=("SWdown", "LWdown", "Tair"), kinds=_NC),
    },
}

#: Tables accepted and passed through in ``RunConfig.tables`` without validation (yet).
OPTIONAL_TABLES: tuple[str, ...] = ("observations", "calibration", "evaluation", "export")

#: Order of the tables in ``RunConfig.tables`` and ``to_dict``.
_ORDER = ("grid", "time", "solver", "physics", "initial", "parameters", "forcing")

#: Other names accepted in [parameters] (Params.ALIASES), checked with the canonical key.
_PARAM_ALIASES: dict[str, str] = {
    alias: public_name(name) for alias, name in Params.ALIASES.items()
    if alias != public_name(name)}

_TYPE_WORDS = {
    "float": "a number",
    "int": "an integer",
    "str": "a string",
    "datetime": "an ISO 8601 date-time (UTC), e.g. \"2000-01-01T00:00:00Z\"",
    "float[]": "an array of numbers",
    "str{}": "a table of strings",
}


# --------------------------------------------------------------------------------------------
# RunConfig
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RunConfig:
    """A validated run configuration (all values in SI units, defaults filled).

    Attributes:
        path: the config file, None when built from a mapping.
        node_depths: node depths z_i [m], float64, z_0 = 0, strictly increasing (read-only).
        uniform: True when built from [grid] depth/nodes (then the spacing is exactly dx).
        dx: uniform spacing depth/(nodes-1) [m], None for given node depths.
        dt: time step [s].
        nt: number of time steps.
        start: time of level 0, UTC, datetime64[s].
        solver: "direct" or "jacobi".
        tol: solver tolerance [K].
        max_iter: most Newton iterations (direct) or sweeps (jacobi) per step.
        longwave: "paper" or "kirchhoff".
        bottom: "dirichlet" or "zero_flux".
        init: "uniform", "profile" or "spinup".
        init_profile: initial temperature at every node [K] for init = "profile", else None.
        spinup_tol: spin-up tolerance [K].
        spinup_max_cycles: most days of spin-up.
        params: the physical parameters.
        forcing: the [forcing] table (defaults filled, ``path`` absolute).
        tables: every table as parsed, defaults filled (optional tables passed through).
    """

    path: Path | None
    node_depths: np.ndarray
    uniform: bool
    dx: float | None
    dt: float
    nt: int
    start: np.datetime64
    solver: str
    tol: float
    max_iter: int
    longwave: str
    bottom: str
    init: str
    init_profile: np.ndarray | None
    spinup_tol: float
    spinup_max_cycles: int
    params: Params
    forcing: dict
    tables: dict

    __hash__ = None  # type: ignore[assignment]  # holds arrays and dicts

    @property
    def nodes(self) -> int:
        """Number of nodes (surface and bottom included)."""
        return int(self.node_depths.size)

    def to_dict(self) -> dict:
        """The full config, defaults filled, as plain JSON/TOML-serialisable values.

        ``parse_config(cfg.to_dict(), path=cfg.path)`` gives a RunConfig equal to ``cfg``.
        """
        return _plain(self.tables)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunConfig):
            return NotImplemented
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or not np.array_equal(a, b):
                    return False
            elif f.name == "tables":
                if _plain(a) != _plain(b):
                    return False
            elif a != b:
                return False
        return True


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a TOML config file.

    Relative paths inside it (``[forcing] path``) resolve against the file's folder.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML (the message gives
            the line), or any value is unknown, of the wrong type or out of range.
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise ConfigError(f"config file '{p}' does not exist (absolute path tried: "
                          f"'{p.absolute()}'); check the name and the working directory.")
    if not p.is_file():
        raise ConfigError(f"config file '{p}' is not a file; give the path of a .toml file.")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a UTF-8 text file ({exc}); save the config as UTF-8 "
                          "TOML.") from None
    except OSError as exc:
        raise ConfigError(f"config file '{p}' cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: malformed TOML: {exc}. Fix the syntax there (strings need "
                          "quotes, tables are written [name], arrays [a, b]).") from None
    return parse_config(data, base_dir=p.parent, path=p)


def parse_config(data: Mapping, base_dir: str | os.PathLike | None = None,
                 path: str | os.PathLike | None = None) -> RunConfig:
    """Validate a config given as a mapping (e.g. parsed TOML, or ``RunConfig.to_dict()``).

    Args:
        data: table name -> table (a mapping of key -> value).
        base_dir: folder against which relative paths resolve; default: the folder of
            ``path``, else the current working directory.
        path: the config file the mapping came from (named in error messages).

    Raises:
        ConfigError: see :func:`load_config`.
    """
    file = Path(os.fspath(path)) if path is not None else None
    if base_dir is not None:
        base = Path(os.fspath(base_dir)).expanduser()
    elif file is not None:
        base = file.parent
    else:
        base = Path.cwd()
    ctx = _Ctx(file, Path(os.path.abspath(base)))
    if not isinstance(data, Mapping):
        raise ctx.error(None, None, f"the config must be a mapping of tables, got "
                        f"{type(data).__name__}")

    _check_tables(ctx, data)
    tables: dict[str, dict] = {}
    given = {name: _check_keys(ctx, name, data.get(name) or {}) for name in SCHEMA}
    # the core tables always (with their defaults); tables added to SCHEMA later only when
    # the file has them (an absent feature table means the feature is off)
    for name in [*_ORDER, *(t for t in SCHEMA if t not in _ORDER and t in data)]:
        tables[name] = _FINISH.get(name, _finish_generic)(ctx, name, given[name], tables)
    for name in OPTIONAL_TABLES:
        if name in data and name not in SCHEMA:
            tables[name] = copy.deepcopy(dict(data[name]))

    grid, time, solver = tables["grid"], tables["time"], tables["solver"]
    physics, initial = tables["physics"], tables["initial"]
    if "node_depths" in grid:
        z = np.array(grid["node_depths"], dtype=np.float64)
        uniform, dx = False, None
    else:
        n = grid["nodes"]
        dx = grid["depth"] / (n - 1)
        z = np.arange(n, dtype=np.float64) * grid["depth"] / (n - 1)
        z[-1] = grid["depth"]
        uniform = True
    z.setflags(write=False)
    profile = None
    if "profile" in initial:
        profile = np.array(initial["profile"], dtype=np.float64)
        profile.setflags(write=False)
    forcing = copy.deepcopy(tables["forcing"])
    return RunConfig(
        path=file, node_depths=z, uniform=uniform, dx=dx, dt=time["dt"], nt=time["steps"],
        start=_parse_start(ctx, time["start"]), solver=solver["method"], tol=solver["tol"],
        max_iter=solver["max_iter"], longwave=physics["longwave"], bottom=physics["bottom"],
        init=initial["kind"], init_profile=profile, spinup_tol=initial["spinup_tol"],
        spinup_max_cycles=initial["spinup_max_cycles"], params=ctx.params,
        forcing=forcing, tables=tables)


# --------------------------------------------------------------------------------------------
# Generic validation
# --------------------------------------------------------------------------------------------


class _Ctx:
    """Builds error messages that name the file, the table and the key."""

    def __init__(self, file: Path | None, base: Path | None = None) -> None:
        self.file = file
        self.base = base if base is not None else Path.cwd()
        self.params: Params | None = None

    def error(self, table: str | None, key: str | None, msg: str) -> ConfigError:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if table is not None:
            where.append(f"[{table}]" + (f" {key}" if key is not None else ""))
        prefix = ": ".join(where)
        return ConfigError(f"{prefix}: {msg}" if prefix else msg)


def _suggest(word: str, names) -> str:
    return did_you_mean(word, names)


def _tables_of(key: str) -> list[str]:
    return [t for t, keys in SCHEMA.items() if key in keys]


def _check_tables(ctx: _Ctx, data: Mapping) -> None:
    valid = [*SCHEMA, *(t for t in OPTIONAL_TABLES if t not in SCHEMA)]
    for name, value in data.items():
        if name in valid:
            if not isinstance(value, Mapping):
                raise ctx.error(None, None, f"'{name}' must be a table: write [{name}] on its "
                                f"own line and put its keys below it (got "
                                f"{name} = {_show(value)})")
            continue
        if not isinstance(value, Mapping):
            home = _tables_of(str(name))
            if home:
                raise ctx.error(None, None, f"key '{name}' is outside any table; put it under "
                                f"[{home[0]}]")
            raise ctx.error(None, None, f"unknown top-level key '{name}'; every key belongs "
                            f"in a table, valid tables: {', '.join(valid)}")
        raise ctx.error(None, None, f"unknown table [{name}]{_suggest(name, valid)}; valid "
                        f"tables: {', '.join(valid)}")
    if "parameters" not in data:
        needed = ", ".join(k for k, key in SCHEMA["parameters"].items()
                           if key.default is REQUIRED)
        raise ctx.error(None, None, "the [parameters] table is missing; parameters have no "
                        f"defaults: give [parameters] with {needed} (or h and beta instead "
                        "of h_eff)")


def _check_keys(ctx: _Ctx, table: str, values: Mapping) -> dict[str, Any]:
    """Unknown keys, types, choices and minimum of each key given; returns converted values."""
    schema = SCHEMA[table]
    aliases = _PARAM_ALIASES if table == "parameters" else {}
    kind_key = schema.get("kind")
    kind = values.get("kind", kind_key.default if kind_key else None)
    if kind_key is not None:
        kind = _check_value(ctx, table, "kind", kind_key, kind)
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = aliases.get(key, key)
        if name not in schema:
            home = [t for t in _tables_of(str(key)) if t != table]
            if home:
                raise ctx.error(table, key, f"'{key}' does not belong in [{table}]; move it "
                                f"to [{home[0]}]")
            raise ctx.error(table, key, f"unknown key '{key}'"
                            f"{_suggest(key, [*schema, *aliases])}; valid keys in [{table}]: "
                            f"{', '.join(schema)}")
        spec = schema[name]
        if spec.kinds is not None and kind not in spec.kinds:
            raise ctx.error(table, key, f"'{key}' is only used with kind = "
                            f"{' or '.join(repr(k) for k in spec.kinds)}, but kind = "
                            f"{kind!r}; remove it or change kind")
        out[key] = _check_value(ctx, table, key, spec, value)
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _unit(spec: Key) -> str:
    return f" [{spec.unit}]" if spec.unit else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _check_value(ctx: _Ctx, table: str, key: str, spec: Key, value: Any) -> Any:
    t = spec.type

    def bad_type() -> ConfigError:
        hint = ""
        if isinstance(value, str) and t in ("float", "int"):
            try:
                float(value)
                hint = f" (write {key} = {value.strip()}, without quotes)"
            except ValueError:
                pass
        elif t == "str" and spec.choices:
            hint = f": one of {', '.join(chr(34) + c + chr(34) for c in spec.choices)}"
        elif t == "str" and (_is_number(value) or isinstance(value, bool)):
            hint = f" (write {key} = \"{value}\", in quotes)"
        elif t == "int" and _is_number(value):
            hint = f" (write a whole number without a decimal point, e.g. {key} = " \
                   f"{int(value) if math.isfinite(value) else 1})"
        return ctx.error(table, key, f"{key} = {_show(value)} has the wrong type; expected "
                         f"{_TYPE_WORDS[t]}{_unit(spec)}{hint}")

    if t == "float":
        if not _is_number(value):
            raise bad_type()
        value = float(value)
        _check_min(ctx, table, key, spec, value)
        return value
    if t == "int":
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))):
            raise bad_type()
        value = int(value)
        _check_min(ctx, table, key, spec, value)
        return value
    if t == "str":
        if not isinstance(value, str):
            raise bad_type()
        if spec.choices is not None and value not in spec.choices:
            raise ctx.error(table, key, f"{key} = \"{value}\" is not an allowed value"
                            f"{_suggest(value, spec.choices)}; use one of "
                            f"{', '.join(repr(c) for c in spec.choices)}")
        return value
    if t == "datetime":
        _parse_start(ctx, value, table, key)
        return value
    if t == "float[]":
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            raise bad_type()
        out = []
        for i, v in enumerate(value):
            if not _is_number(v):
                raise ctx.error(table, key, f"{key}[{i}] = {_show(v)} is not a number; "
                                f"{key} must be {_TYPE_WORDS[t]}{_unit(spec)}")
            v = float(v)
            _check_min(ctx, table, f"{key}[{i}]", spec, v)
            out.append(v)
        return out
    if t == "str{}":
        if not isinstance(value, Mapping):
            raise bad_type()
        for k, v in value.items():
            if spec.choices is not None and k not in spec.choices:
                raise ctx.error(table, f"{key}.{k}", f"unknown name '{k}'"
                                f"{_suggest(k, spec.choices)}; {key} may name "
                                f"{', '.join(spec.choices)}")
            if not isinstance(v, str) or not v.strip():
                raise ctx.error(table, f"{key}.{k}", f"{key}.{k} = {_show(v)} must be a "
                                "non-empty string (the variable's name in the file)")
        return {str(k): v for k, v in value.items()}
    raise AssertionError(f"unknown schema type {t!r}")  # pragma: no cover


def _check_min(ctx: _Ctx, table: str, key: str, spec: Key, value: float) -> None:
    if not math.isfinite(value):
        raise ctx.error(table, key, f"{key} = {value} must be a finite number{_unit(spec)}")
    lo = spec.minimum
    if lo is None:
        return
    if value < lo or (spec.exclusive and value == lo):
        op = ">" if spec.exclusive else ">="
        raise ctx.error(table, key, f"{key} = {value:g}{_unit(spec)} is out of range: the "
                        f"{spec.description} must be {op} {lo:g}")


def _fill(table: Mapping[str, Key], given: Mapping[str, Any], kind: str | None = None,
          skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``given`` plus every default that applies (not REQUIRED/None, kind matching)."""
    out = dict(given)
    for key, spec in table.items():
        if key in out or key in skip or spec.default is None or spec.default is REQUIRED:
            continue
        if spec.kinds is not None and kind not in spec.kinds:
            continue
        if not isinstance(spec.default, Depends):
            out[key] = copy.deepcopy(spec.default)
    for key, spec in table.items():
        if key not in out and key not in skip and isinstance(spec.default, Depends):
            out[key] = spec.default.resolve(out)
    # keep the schema's key order
    return {k: out[k] for k in table if k in out} | {k: v for k, v in out.items()
                                                      if k not in table}


def _finish_generic(ctx: _Ctx, name: str, given: dict, tables: dict) -> dict:
    """Required keys and defaults of a table without cross-key rules."""
    missing = [k for k, s in SCHEMA[name].items() if s.default is REQUIRED and k not in given]
    if missing:
        raise ctx.error(name, missing[0], f"{missing[0]} is required in [{name}]")
    kind = given.get("kind", getattr(SCHEMA[name].get("kind"), "default", None))
    return _fill(SCHEMA[name], given, kind)


# --------------------------------------------------------------------------------------------
# Cross-key rules, one function per table
# --------------------------------------------------------------------------------------------


def _finish_grid(ctx: _Ctx, name: str, given: dict, tables: dict) -> dict:
    if "node_depths" in given:
        both = [k for k in ("depth", "nodes") if k in given]
        if both:
            raise ctx.error("grid", both[0], f"give either depth and nodes (a uniform grid) or "
                            f"node_depths (a given grid), not both; remove "
                            f"{' and '.join(both)} or node_depths")
        z = given["node_depths"]
        if len(z) < 3:
            raise ctx.error("grid", "node_depths", f"node_depths has {len(z)} value(s); the "
                            "grid needs at least 3 nodes (surface, interior, bottom)")
        if z[0] != 0.0:
            raise ctx.error("grid", "node_depths[0]", f"node_depths[0] = {z[0]:g} m; the first "
                            "node is the surface and must be at depth 0.0")
        for i in range(1, len(z)):
            if not z[i] > z[i - 1]:
                raise ctx.error("grid", f"node_depths[{i}]", f"node_depths[{i}] = {z[i]:g} m "
                                f"is not deeper than node_depths[{i - 1}] = {z[i - 1]:g} m; "
                                "depths must be strictly increasing (z positive downward)")
        return {"node_depths": list(z)}
    return _fill(SCHEMA["grid"], given, skip=("node_depths",))


def _finish_time(ctx: _Ctx, name: str, given: dict, tables: dict) -> dict:
    if "steps" in given and "hours" in given:
        raise ctx.error("time", "hours", "give either steps or hours, not both; remove one")
    out = _fill(SCHEMA["time"], given, skip=("steps",) if "hours" in given else ())
    dt = out["dt"]
    if dt != round(dt):
        raise ctx.error("time", "dt", f"dt = {dt:g} s must be a whole number of seconds (time "
                        "stamps are kept to the second)")
    if "hours" in given:
        hours = out.pop("hours")
        steps = hours * 3600.0 / dt
        n = round(steps)
        if abs(steps - n) > 1e-9 * max(1.0, steps) or n < 1:
            raise ctx.error("time", "hours", f"hours = {hours:g} with dt = {dt:g} s gives "
                            f"{steps:g} steps; the run must be a whole number (>= 1) of steps: "
                            f"make hours a multiple of dt/3600 = {dt / 3600.0:g} h, or give "
                            "steps instead")
        out["steps"] = int(n)
    return {"dt": dt, "steps": out["steps"], "start": _iso(_parse_start(ctx, out["start"]))}


def _finish_initial(ctx: _Ctx, name: str, given: dict, tables: dict) -> dict:
    out = _fill(SCHEMA["initial"], given)
    grid = tables["grid"]
    n = len(grid["node_depths"]) if "node_depths" in grid else grid["nodes"]
    if out["kind"] == "profile":
        if "profile" not in out:
            raise ctx.error("initial", "profile", f"kind = \"profile\" needs profile = [...], "
                            f"the temperature [K] at each of the {n} nodes")
        if len(out["profile"]) != n:
            raise ctx.error("initial", "profile", f"profile has {len(out['profile'])} values "
                            f"but the grid has {n} nodes; give one temperature [K] per node")
    elif "profile" in out:
        raise ctx.error("initial", "profile", f"profile is only used with kind = \"profile\" "
                        f"(kind = \"{out['kind']}\"); set kind = \"profile\" or remove profile")
    return out


def _finish_parameters(ctx: _Ctx, name: str, given: dict, tables: dict) -> dict:
    canon = {_PARAM_ALIASES.get(k, k) for k in given}
    missing = [k for k, spec in SCHEMA["parameters"].items()
               if spec.default is REQUIRED and k not in canon]
    if "h" in canon and "beta" in canon and "h_eff" in missing:
        missing.remove("h_eff")
    if missing:
        more = " (or h and beta instead of h_eff)" if "h_eff" in missing else ""
        needed = [k for k, s in SCHEMA["parameters"].items() if s.default is REQUIRED]
        raise ctx.error("parameters", missing[0], f"missing parameter(s) {', '.join(missing)}"
                        f"{more}; parameters have no defaults, give every one of "
                        f"{', '.join(needed)}")
    try:
        params = Params.from_dict(given, where="parameters")
    except ConfigError as exc:
        msg = str(exc)
        if "bounds" in msg:
            msg += "; give a value inside the bounds"
        if "[parameters]" in msg:
            raise ctx.error(None, None, msg) from None
        named = re.match(r"parameter '([^']+)'", msg)
        raise ctx.error("parameters", named[1] if named else None, msg) from None
    ctx.params = params
    return {k: v for k, v in params.to_dict().items() if v is not None}


def _finish_forcing(ctx: _Ctx, name: str, given: dict, tables: dict) -> dict:
    kind = given.get("kind", SCHEMA["forcing"]["kind"].default)
    out = _fill(SCHEMA["forcing"], given, kind)
    if kind == "netcdf":
        if "path" not in out or not out["path"].strip():
            raise ctx.error("forcing", "path", "kind = \"netcdf\" needs path = \"<file.nc>\" "
                            "(relative paths resolve against the config file's folder)")
        p = Path(out["path"]).expanduser()
        out["path"] = os.path.abspath(p if p.is_absolute() else ctx.base / p)
    else:
        if not out["sunrise_h"] < out["sunset_h"] <= 24.0:
            raise ctx.error("forcing", "sunset_h", f"sunrise_h = {out['sunrise_h']:g} and "
                            f"sunset_h = {out['sunset_h']:g}; they need 0 <= sunrise_h < "
                            "sunset_h <= 24 (hours after local midnight)")
    return out


#: Cross-key rules and defaults of a table: (ctx, table name, keys given, tables done so far)
#: -> the table with defaults filled. Tables not named here use _finish_generic.
_FINISH: dict[str, Callable[[_Ctx, str, dict, dict], dict]] = {
    "grid": _finish_grid,
    "time": _finish_time,
    "initial": _finish_initial,
    "parameters": _finish_parameters,
    "forcing": _finish_forcing,
}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _parse_start(ctx: _Ctx, value: Any, table: str = "time", key: str = "start"
                 ) -> np.datetime64:
    """UTC datetime64[s] of ISO text, a TOML date-time/date or a datetime64."""
    example = "write it as start = \"2000-01-01T00:00:00Z\" (ISO 8601, UTC)"
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ctx.error(table, key, f"{key} is NaT; {example}")
        s = value.astype("datetime64[s]")
        if s != value:
            raise ctx.error(table, key, f"{key} = {value} is not a whole second; {example}")
        return s
    if isinstance(value, str):
        try:
            when = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ctx.error(table, key, f"{key} = \"{value}\" is not an ISO 8601 date-time; "
                            f"{example}") from None
    elif isinstance(value, _dt.datetime):
        when = value
    elif isinstance(value, _dt.date):
        when = _dt.datetime(value.year, value.month, value.day)
    else:
        raise ctx.error(table, key, f"{key} = {_show(value)} has the wrong type; {example}")
    if when.tzinfo is not None:
        when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    if when.microsecond:
        raise ctx.error(table, key, f"{key} = {_show(value)} has a fraction of a second; "
                        "give whole seconds")
    return np.datetime64(when, "s")


def _iso(t: np.datetime64) -> str:
    return f"{np.datetime_as_string(t, unit='s')}Z"


def _plain(value: Any) -> Any:
    """A deep copy with only JSON/TOML-friendly types (dict, list, str, int, float, bool)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.datetime64):
        return _iso(value.astype("datetime64[s]"))
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
