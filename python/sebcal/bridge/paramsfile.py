"""Read and validate params.json, the output of ``sebcal calibrate``."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..config import RunConfig, parse_config
from ..errors import ConfigError
from ..params import Params, field_meta

#: the params.json schema this module reads
SCHEMA_VERSION = 1
#: top-level fields every params.json has
REQUIRED_FIELDS = ("schema_version", "sebcal_version", "parameters", "correlation",
                   "identifiability", "metrics", "starts", "config")
#: parameters every params.json gives (h_eff may be derived from h and beta)
REQUIRED_PARAMS = ("alpha", "eps", "lambda", "C", "T_b")
#: T_init: a fitted uniform initial temperature (the config then holds it as its profile)
KNOWN_PARAMS = ("alpha", "eps", "lambda", "C", "T_b", "h_eff", "h", "beta", "T_init")


@dataclass(frozen=True)
class Calibrated:
    """A validated params.json.

    Attributes:
        path: the file (None when built from a mapping).
        data: the file's content.
        params: the calibrated parameters.
        std: standard deviation per parameter (None for fixed parameters) in the
            parameter's unit.
        fitted: whether each parameter was fitted.
        config_dict: the calibration config (``RunConfig.to_dict()`` plus its
            observations and calibration tables) with the calibrated parameters.
        config: ``config_dict`` parsed.
    """

    path: Path | None
    data: dict
    params: Params
    std: dict[str, float | None]
    fitted: dict[str, bool]
    config_dict: dict
    config: RunConfig

    def value(self, name: str) -> float | None:
        return self.params.to_dict().get(name)

    def describe(self, name: str) -> str:
        """'0.826 +/- 0.04 W m-1 K-1 (fitted)' or '0.172 - (fixed, not fitted)'."""
        v = self.value(name)
        unit = field_meta(name)["unit"]
        unit = "-" if unit == "1" else unit
        s = self.std.get(name)
        pm = f" +/- {s:.3g}" if s is not None else ""
        how = "fitted" if self.fitted.get(name) else "fixed, not fitted"
        return f"{v:.6g}{pm} {unit} ({how})"


def _err(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def load_params(source: str | os.PathLike | Mapping[str, Any]) -> Calibrated:
    """Read params.json (a path) or its content (a mapping) and check it.

    Raises:
        ConfigError: the file is missing or not JSON, a field is missing or of the wrong
            type, the schema version is not :data:`SCHEMA_VERSION`, a parameter is unknown,
            has another unit or is outside its physical bounds, or the config is invalid.
            The message names the file and the field.
    """
    if isinstance(source, Mapping):
        path, data, where = None, dict(source), "params.json"
    else:
        path = Path(os.fspath(source)).expanduser()
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"params file '{path}' does not exist; give the params.json "
                              "written by 'sebcal calibrate' (in its --out folder)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _err(where, f"not a JSON file ({exc}); give the params.json written by "
                       "'sebcal calibrate'") from None
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
    for key in REQUIRED_FIELDS:
        if key not in data:
            raise _err(where, f"missing field '{key}' (params.json schema version "
                       f"{SCHEMA_VERSION} has {', '.join(REQUIRED_FIELDS)})")
    for key, kind in (("parameters", dict), ("correlation", dict), ("identifiability", dict),
                      ("metrics", dict), ("starts", list), ("config", dict),
                      ("sebcal_version", str)):
        if not isinstance(data[key], kind):
            raise _err(where, f"field '{key}' must be a JSON "
                       f"{'object' if kind is dict else 'array' if kind is list else 'string'}"
                       f", got {type(data[key]).__name__}")

    values: dict[str, float] = {}
    std: dict[str, float | None] = {}
    fitted: dict[str, bool] = {}
    for name, entry in data["parameters"].items():
        fld = f"parameters.{name}"
        if name not in KNOWN_PARAMS:
            raise _err(where, f"unknown parameter '{fld}'; params.json parameters are "
                       f"{', '.join(KNOWN_PARAMS)}")
        if not isinstance(entry, dict):
            raise _err(where, f"field '{fld}' must be an object with value, std, unit")
        for sub in ("value", "std", "unit"):
            if sub not in entry:
                raise _err(where, f"missing field '{fld}.{sub}'")
        v, s, unit = entry["value"], entry["std"], entry["unit"]
        if not _number(v):
            raise _err(where, f"field '{fld}.value' = {v!r} must be a number")
        if s is not None and (not _number(s) or s < 0):
            raise _err(where, f"field '{fld}.std' = {s!r} must be a non-negative number or "
                       "null (fixed parameter)")
        want = field_meta({"h": "h_eff", "T_init": "T_b"}.get(name, name))["unit"]
        if unit != want:
            raise _err(where, f"field '{fld}.unit' = {unit!r}, expected {want!r}")
        values[name] = float(v)
        std[name] = None if s is None else float(s)
        fitted[name] = bool(entry.get("fitted", s is not None))
    for name in REQUIRED_PARAMS:
        if name not in values:
            raise _err(where, f"missing field 'parameters.{name}'")
    if "h_eff" not in values and not ("h" in values and "beta" in values):
        raise _err(where, "missing field 'parameters.h_eff' (or parameters.h and "
                   "parameters.beta)")
    given = {k: v for k, v in values.items()
             if not (k == "h" and "h_eff" in values) and k != "T_init"}
    try:
        params = Params.from_dict(given, where="params.json parameters")
    except ConfigError as exc:
        raise _err(where, str(exc)) from None
    if "h" in values and "h_eff" not in values:
        std["h_eff"] = None
        fitted["h_eff"] = False

    cfg = json.loads(json.dumps(data["config"]))
    cfg["parameters"] = {k: v for k, v in params.to_dict().items() if v is not None}
    base = path.parent if path is not None else Path.cwd()
    try:
        config = parse_config(cfg, base_dir=base)
    except ConfigError as exc:
        raise _err(where, f"field 'config': {exc}") from None
    return Calibrated(path, data, params, std, fitted, cfg, config)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
