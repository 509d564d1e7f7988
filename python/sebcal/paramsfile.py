"""params.json, the result of ``sebcal calibrate``: one schema, one writer, one reader.

The schema is a pydantic model (:class:`ParamsFile`), published as JSON Schema
(``sebcal schema params``, docs/params.schema.json). The calibration config inside it stores
its file paths relative to the params.json folder, so a result folder can be moved or shared.
Every reader of params.json (``sebcal export``, ``sebcal transfer``, the Python API) goes through
:func:`load_params`, which checks the file against the schema and the vocabulary and parses
the config.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .params import Params
from .vocabulary import OPTIONS, PARAMETERS, default_options, needed, parameter

#: the params.json schema this sebcal writes and reads
SCHEMA_VERSION = 2

Number = Union[float, int]
Values = Union[float, list[float]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ParameterEntry(_Model):
    """One parameter: value (one per soil layer for layered soil parameters) and its error."""

    value: Values = Field(description="value in the unit (a list: one per soil layer)")
    std: float | list[float | None] | None = Field(
        description="standard error (1 sigma) in the unit; null when fixed or undetermined")
    unit: str = Field(description="SI unit (UDUNITS)")
    fitted: bool = Field(description="fitted (true) or fixed at the config's value")
    bounds: list[Number] | None = Field(None, description="calibration bounds [low, high]")
    at_bound: str | list[str | None] | None = Field(
        None, description="'lower'/'upper' when the fit ended on a calibration bound")
    plausible: list[Number] | None = Field(None, description="range typical of soils and "
                                              "land surfaces")
    derived: str | None = Field(None, description="how a derived value was computed")
    constrained_by: str | list[str | None] | None = Field(
        None, description="'data', 'prior' or 'bound' (on a calibration bound: neither): what "
        "constrains a fitted value")


class Verdict(_Model):
    """Whether the result can go into a host model."""

    status: Literal["usable", "usable with caveats", "not usable for a host"]
    reasons: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    exit_status: int = Field(0, description="exit status of sebcal calibrate (3: not usable)")


class ParamsFile(_Model):
    """The content of params.json."""

    schema_version: Literal[2]
    sebcal_version: str
    parameters: dict[str, ParameterEntry]
    verdict: Verdict | None = None
    correlation: dict[str, Any]
    identifiability: dict[str, Any]
    metrics: dict[str, Any] = Field(description="window -> variable label -> {rmse, bias, r, n, "
                                    "unit}")
    fit: dict[str, Any]
    starts: list[dict[str, Any]]
    published: dict[str, Any] | None = None
    stages: list[dict[str, Any]] | None = None
    priors: dict[str, Any] | None = Field(None, description="label -> prior of a MAP fit")
    baseline: dict[str, Any] | None = Field(None, description="the published model fitted to "
                                            "the same observations: its skill")
    closure: dict[str, Any] | None = Field(None, description="energy-balance closure of the "
                                           "observations")
    benchmarks: dict[str, Any] | None = Field(None, description="window -> series -> RMSE, "
                                              "bias, r, n of the empirical benchmark (a linear "
                                              "regression on the forcing, trained on the "
                                              "calibration window) and its predictors")
    posterior: dict[str, Any] | None = Field(None, description="posterior samples' summary "
                                             "([calibration] posterior): per parameter the "
                                             "quantiles, mean, sd, effective sample size")
    config: dict[str, Any] = Field(description="the calibration config; paths relative to this "
                                   "file's folder")


def json_schema() -> dict:
    """JSON Schema of params.json."""
    s = ParamsFile.model_json_schema()
    s["title"] = "sebcal params.json"
    return s


# ------------------------------------------------------------------------------ paths


def _relative_paths(cfg: dict, folder: Path) -> dict:
    """Every file path of a config relative to ``folder``."""
    cfg = json.loads(json.dumps(cfg))

    def rel(p: str) -> str:
        try:
            return os.path.relpath(p, folder)
        except ValueError:          # another drive (Windows)
            return p

    def walk(d: Any) -> None:
        if isinstance(d, dict):
            for k, v in list(d.items()):
                if k in ("path", "file") and isinstance(v, str) and os.path.isabs(v):
                    d[k] = rel(v)
                elif k == "files" and isinstance(v, list):
                    d[k] = [rel(x) if isinstance(x, str) and os.path.isabs(x) else x for x in v]
                else:
                    walk(v)
        elif isinstance(d, list):
            for x in d:
                walk(x)
    walk(cfg)
    return cfg


def write_params(path: str | os.PathLike, content: Mapping[str, Any]) -> Path:
    """Check ``content`` against the schema and write it atomically, the config's paths made
    relative to the file's folder."""
    from .output import write_text

    path = Path(path)
    data = dict(content)
    data["config"] = _relative_paths(dict(data["config"]), path.parent.resolve())
    try:
        ParamsFile.model_validate(data)
    except ValidationError as exc:   # pragma: no cover - a bug in the writer
        raise ConfigError(f"params.json content does not follow its schema: {exc}") from None
    write_text(path, json.dumps(_finite(data), indent=2))
    return path


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Calibrated:
    """A validated params.json.

    Attributes:
        path: the file (None when built from a mapping).
        data: the file's content.
        params: the calibrated parameters (every value the config's model uses).
        std: standard error per parameter (None for fixed ones), in its unit.
        fitted: whether each parameter was fitted.
        verdict: "usable", "usable with caveats", "not usable for a host" (None: not given).
        config: the calibration config, parsed, with the calibrated parameters.
    """

    path: Path | None
    data: dict
    params: Params
    std: dict[str, Any]
    fitted: dict[str, bool]
    verdict: dict | None
    config: Any

    @property
    def config_dict(self) -> dict:
        return self.config.to_dict()

    def value(self, name: str) -> Any:
        return self.params.get(name)

    def describe(self, name: str) -> str:
        """'0.826 +/- 0.04 W m-1 K-1 (fitted)' or '0.172 - (fixed, not fitted)'."""
        v = self.value(name)
        if v is None:
            return "not set (the configuration's options do not use it)"
        unit = parameter(name).unit
        unit = "-" if unit == "1" else unit
        s = self.std.get(name)
        if isinstance(v, tuple):
            vs = ", ".join(f"{x:.6g}" for x in v)
            ss = "" if s is None else " +/- (" + ", ".join(
                "-" if x is None else f"{x:.3g}" for x in s) + ")"
            return f"({vs}){ss} {unit} ({'fitted' if self.fitted.get(name) else 'fixed'})"
        pm = f" +/- {s:.3g}" if isinstance(s, (int, float)) else ""
        how = "fitted" if self.fitted.get(name) else "fixed, not fitted"
        return f"{v:.6g}{pm} {unit} ({how})"


def config_options(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The model options a config mapping selects (defaults for the rest)."""
    opts = default_options()
    for name, o in OPTIONS.items():
        key = {"solver": "method", "init": "kind"}.get(name, name)
        table = cfg.get(o.table) or {}
        if key in table:
            opts[name] = table[key]
    return opts


def _err(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def load_params(source: str | os.PathLike | Mapping[str, Any]) -> Calibrated:
    """Read params.json (a path) or its content (a mapping) and check it.

    Raises:
        ConfigError: the file is missing or not JSON, does not follow the schema (the message
            names the field), has another schema version, a parameter is unknown, has another
            unit or is outside its physical bounds, or the config is invalid.
    """
    if isinstance(source, Mapping):
        path, data, where = None, dict(source), "params.json"
        base = Path.cwd()
    else:
        path = Path(os.fspath(source)).expanduser()
        where = str(path)
        if path.is_dir() and (path / "params.json").is_file():
            path = path / "params.json"
            where = str(path)
        if path.is_dir():
            raise ConfigError(f"'{path}' is a folder without a params.json; give the params.json "
                              "written by 'sebcal calibrate' (in its --out folder)")
        if not path.is_file():
            raise ConfigError(f"params file '{path}' does not exist; give the params.json "
                              "written by 'sebcal calibrate' (in its --out folder)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _err(where, f"not a JSON file ({exc}); give the params.json written by "
                       "'sebcal calibrate'") from None
        base = path.parent
    if not isinstance(data, dict):
        raise _err(where, "must hold a JSON object (the params.json of 'sebcal calibrate')")
    if "schema_version" not in data:
        raise _err(where, "missing field 'schema_version'; this is not a sebcal params.json "
                   f"(expected schema_version = {SCHEMA_VERSION})")
    sv = data["schema_version"]
    if sv != SCHEMA_VERSION or isinstance(sv, bool):
        raise _err(where, f"field 'schema_version' = {sv!r}, but this sebcal reads schema "
                   f"version {SCHEMA_VERSION}; recalibrate with this sebcal or use the "
                   "sebcal version that wrote the file")
    try:
        doc = ParamsFile.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = [str(x) for x in e["loc"] if not str(x).startswith(("list[", "float", "int"))]
        fld = ".".join(loc)
        what = f"missing field '{fld}'" if e["type"] == "missing" else f"field '{fld}': {e['msg']}"
        raise _err(where, f"{what} (params.json schema version {SCHEMA_VERSION}; `sebcal "
                   "schema params` prints it)") from None
    values: dict[str, Any] = {}
    std: dict[str, Any] = {}
    fitted: dict[str, bool] = {}
    for name, entry in doc.parameters.items():
        fld = f"parameters.{name}"
        if name not in PARAMETERS and name != "h":
            raise _err(where, f"unknown parameter '{fld}'; params.json parameters are "
                       f"{', '.join(PARAMETERS)}, h")
        want = parameter(name).unit
        if entry.unit != want:
            raise _err(where, f"field '{fld}.unit' = {entry.unit!r}, expected {want!r}")
        v = entry.value
        for x in (v if isinstance(v, list) else [v]):
            if not math.isfinite(x):
                raise _err(where, f"field '{fld}.value' must be finite")
        s = entry.std
        for x in (s if isinstance(s, list) else [s]):
            if x is not None and (not math.isfinite(x) or x < 0):
                raise _err(where, f"field '{fld}.std' = {x!r} must be a non-negative number "
                           "or null")
        values[name] = tuple(v) if isinstance(v, list) else float(v)
        std[name] = s
        fitted[name] = entry.fitted
    given = {k: v for k, v in values.items() if not (k == "h" and "h_eff" in values)}
    if "h" in given:
        given.pop("h")
    try:
        params = Params(given)
    except ConfigError as exc:
        raise _err(where, str(exc)) from None
    cfg = json.loads(json.dumps(doc.config))
    cfg["parameters"] = {k: v for k, v in params.to_dict().items()
                         if k not in ("z_ref", "d0")}
    from .config import parse_config

    try:
        config = parse_config(cfg, base_dir=base)
    except ConfigError as exc:
        missing = [n for n in needed(config_options(cfg)) if n not in values
                   and PARAMETERS[n].default is None and PARAMETERS[n].group != "site"]
        if missing:
            raise _err(where, f"missing field 'parameters.{missing[0]}' (the config's model "
                       "uses it)") from None
        raise _err(where, f"field 'config': {exc}") from None
    return Calibrated(path, data, config.full_params(), std, fitted,
                      None if doc.verdict is None else doc.verdict.model_dump(), config)


__all__ = ["Calibrated", "ParamsFile", "SCHEMA_VERSION", "json_schema", "load_params",
           "write_params"]
