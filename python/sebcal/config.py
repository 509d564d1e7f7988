"""Run configuration: the TOML file that describes one sebcal run (docs/config.md).

Every table has one typed schema, a pydantic model with unknown keys forbidden; the models are
the single description of the configuration (types, units, defaults, ranges, allowed values)
and are exported as JSON Schema for editors (:func:`json_schema`, ``sebcal schema config``).
Option tables take their names and choices from :mod:`sebcal.vocabulary`, and ``[parameters]``
its names, units and bounds.

Validation runs in two passes: each table through its model (types, ranges, choices, unknown
keys), then the rules that join keys and tables (one function per table, :data:`_FINISH`).
Every error is a :class:`~sebcal.errors.ConfigError` whose message names the file, the table
and the key, and says how to fix it; pydantic's own messages go through one translator
(:func:`_translate`).

The defaults reproduce the published model: a 1 m column of 101 nodes, hourly steps, the
direct solver, the paper's physics, driven by the paper's synthetic forcing.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .errors import ConfigError, did_you_mean
from .params import Params
from .spec import ModelSpec, stretched_grid, uniform_grid
from .times import TimeError, iso, parse_time
from .vocabulary import (
    FORCING,
    MAX_DEPTH,
    OPTIONS,
    PARAMETERS,
    SOLVER_DEFAULTS,
    WIND_MIN,
    forcing_needed,
    jacobi_conflicts,
    parameter,
    resolve_alias,
    soil_moisture_needed,
)

__all__ = ["RunConfig", "TABLES", "KeyInfo", "keys", "json_schema", "load_config",
           "parse_config"]


# ============================================================================ schema helpers


def _f(default: Any, unit: str, description: str, **kw: Any) -> Any:
    return Field(default, description=description, json_schema_extra={"unit": unit}, **kw)


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


def _literal(choices: tuple[str, ...]) -> Any:
    return Literal[choices]  # type: ignore[valid-type]


Number = float
#: a finite number (elements of arrays; pydantic applies allow_inf_nan to the element)
Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(allow_inf_nan=False, gt=0)]
#: a sensor depth [m]
Depth = Annotated[float, Field(allow_inf_nan=False, gt=0, le=MAX_DEPTH)]
TimeText = Union[str, _dt.datetime, _dt.date]


# ============================================================================ tables


class GridTable(_Table):
    """[grid]: the soil column's nodes."""

    depth: float = _f(1.0, "m", "depth of the bottom node (uniform or stretched grid)", gt=0,
                      le=MAX_DEPTH, allow_inf_nan=False)
    nodes: int = _f(101, "", "number of nodes including top and bottom (uniform or stretched "
                    "grid)", ge=3)
    node_depths: list[Finite] | None = _f(None, "m", "depths of all nodes, the top first, "
                                             "strictly increasing (replaces depth and nodes)")
    top_depth: float = _f(0.0, "m", "depth of the top node: 0 (the surface) with a surface "
                          "energy balance, the sensor depth with a prescribed top", ge=0,
                          le=MAX_DEPTH, allow_inf_nan=False)
    first_spacing: float | None = _f(None, "m", "first node spacing of a stretched grid "
                                        "(spacings grow geometrically down to depth)", gt=0,
                                        allow_inf_nan=False)


class TimeTable(_Table):
    """[time]: time step, run length, start."""

    dt: float = _f(3600.0, "s", "time step", gt=0, allow_inf_nan=False)
    steps: int = _f(100, "", "number of time steps", ge=1)
    hours: float | None = _f(None, "h", "run length in hours (replaces steps; "
                                "steps = hours*3600/dt must be whole)", gt=0,
                                allow_inf_nan=False)
    start: Any = _f("2000-01-01T00:00:00Z", "UTC", "time of the initial state (level 0), "
                    "ISO 8601 UTC")


def _options_of(table: str) -> dict[str, Any]:
    out = {}
    for name, o in OPTIONS.items():
        if o.table == table:
            out[name] = (_literal(o.choices), _f(o.default, "", o.description))
    return out


class _SolverBase(_Table):
    tol: float | None = _f(None, "K", "convergence tolerance (default 1e-10 direct, 1e-4 "
                              "jacobi)", gt=0, allow_inf_nan=False)
    max_iter: int | None = _f(None, "", "most Newton iterations (direct) or sweeps "
                                 "(jacobi) per step (default 50 or 100000)", ge=1)


SolverTable = create_model("SolverTable", __base__=_SolverBase,
                           method=(_literal(OPTIONS["solver"].choices),
                                   _f("direct", "", OPTIONS["solver"].description)),
                           time_scheme=(_literal(OPTIONS["time_scheme"].choices),
                                        _f("backward_euler", "",
                                           OPTIONS["time_scheme"].description)))


class _PhysicsBase(_Table):
    wind_min: float = _f(WIND_MIN, "m s-1", "lower limit of the wind speed in r_a (Noah-MP and "
                         "CLM use 1 m s-1)", gt=0, allow_inf_nan=False)


PhysicsTable = create_model("PhysicsTable", __base__=_PhysicsBase, **_options_of("physics"))


class SoilTable(_Table):
    """[soil]: soil layers (soil parameters may take one value per layer)."""

    layer_bottoms: list[Finite] | None = _f(None, "m", "depth of the bottom of each soil "
                                               "layer, increasing; nodes take the parameters of "
                                               "the first layer whose bottom is at or below "
                                               "them")


class SiteTable(_Table):
    """[site]: where the data come from."""

    name: str | None = _f(None, "", "site name (written into output files)")
    latitude: float | None = _f(None, "degrees_north", "site latitude", ge=-90, le=90)
    longitude: float | None = _f(None, "degrees_east", "site longitude", ge=-180, le=360)
    measurement_height: float | None = _f(None, "m", "height of the wind and air "
                                             "temperature measurements above ground (z_ref)",
                                             gt=0, allow_inf_nan=False)
    displacement_height: float | None = _f(None, "m", "zero-plane displacement height (d0)",
                                              ge=0, allow_inf_nan=False)
    utc_offset_hours: float | None = _f(None, "h", "local standard time minus UTC: the "
                                        "default of every CSV file's utc_offset_hours",
                                        ge=-14, le=14)
    sand_fraction: float | None = _f(None, "1", "sand fraction of the topsoil (texture priors)",
                                     ge=0, le=1)
    clay_fraction: float | None = _f(None, "1", "clay fraction of the topsoil (texture priors)",
                                     ge=0, le=1)
    bulk_density: float | None = _f(None, "kg m-3", "dry bulk density of the topsoil (texture "
                                    "priors)", gt=0, lt=2700)
    soil_depths: dict[str, Depth] | None = _f(
        None, "m", "depth of each soil sensor position, keyed by the AmeriFlux/FLUXNET position "
        "qualifier of its column name (\"1_2\" for TS_1_2_1, or the full \"1_2_1\"): "
        "observations of soil temperature without a depth take theirs from here")
    land_cover: str | None = _f(None, "", "land cover the tower sees: an IGBP class (e.g. "
                                "\"GRA\", \"CRO\", \"URB\", \"OSH\") or a free word "
                                "(\"urban\", \"desert\"); it selects the causes the verdict "
                                "names for implausible values")
    file: str | None = _f(None, "", "site data file (Urban-PLUMBER sitedata CSV): fills the "
                          "keys above that the table does not give")


class _InitialBase(_Table):
    profile: list[Positive] | None = _f(None, "K", "temperature at every node "
                                           "(kind = \"profile\")")
    spinup_tol: float = _f(1e-3, "K", "spin-up stops when the distance to the periodic "
                           "profile (max norm), estimated from the shrinking day-to-day change, "
                           "is below this", gt=0, allow_inf_nan=False)
    spinup_max_cycles: int = _f(365, "days", "most days of spin-up", ge=1)


InitialTable = create_model("InitialTable", __base__=_InitialBase,
                            kind=(_literal(OPTIONS["init"].choices + ("observed",)),
                                  _f("uniform", "", OPTIONS["init"].description + ": uniform "
                                     "(T_b), profile (given), spinup (repeat the first day) or "
                                     "observed (the observed profile at the start, "
                                     "interpolated in depth)")))


def _parameter_fields() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in PARAMETERS.values():
        if p.group == "site":
            continue
        typ = Optional[float | list[float]] if p.group == "soil" else Optional[float]
        out[p.name] = (typ, _f(None, p.unit, f"{p.long_name}, physical bounds "
                                             f"{p.bounds_text()}"))
    out["h"] = (Optional[float], _f(None, "W m-2 K-1", "sensible heat transfer coefficient; h "
                                    "and beta together may replace h_eff = h (1 + 1/beta)",
                                    allow_inf_nan=False))
    return out


ParametersTable = create_model("ParametersTable", __base__=_Table, **_parameter_fields())

#: names [forcing.variables] may map: the forcing variables a file gives, and the inputs of
#: the derived ones (wind from its components, specific humidity from RH or VPD)
_FORCING_VARS = tuple(v for v in FORCING if v not in ("Ttop", "Gtop", "Tbottom")) + (
    "Wind_N", "Wind_E", "RH", "VPD")
_GAP = Literal["error", "interpolate", "missing"]
_QC = Literal["observed", "gapfilled", "any"]


class SeriesTable(_Table):
    """[forcing.top] / [forcing.bottom]: a prescribed boundary series."""

    file: str | None = _f(None, "", "file of the series (default: the forcing file); "
                             "relative paths resolve against the config file's folder")
    kind: Literal["netcdf", "csv"] | None = _f(None, "", "file type (default: by suffix)")
    name: str | None = _f(None, "", "the variable's name in the file")
    source: Literal["variable", "radiometric"] = _f("variable", "", "a variable of the file, or "
                                                    "the radiometric surface temperature "
                                                    "from LWup and LWdown")
    emissivity: float = _f(0.95, "1", "emissivity for source = \"radiometric\"", gt=0, le=1)
    variables: dict[str, str] | None = _f(None, "", "the file's names for LWup, LWdown "
                                             "(source = \"radiometric\")")
    units: dict[str, str] | None = _f(None, "", "units of variables that carry none")
    utc_offset_hours: float | None = _f(None, "h", "local standard time of a CSV file's "
                                           "stamps minus UTC", ge=-14, le=14)
    gap_policy: _GAP | None = _f(None, "", "missing values: error, interpolate (up to "
                                    "max_gap_hours) or missing")
    max_gap_hours: float | None = _f(None, "h", "longest gap filled by interpolation", ge=0)
    qc: _QC | None = _f(None, "", "quality flags counted as observed")


class SoilMoistureTable(_Table):
    """[forcing.soil_moisture]: the observed soil-moisture profile."""

    file: str | None = _f(None, "", "file (default: the forcing file)")
    kind: Literal["netcdf", "csv"] | None = _f(None, "", "file type (default: by suffix)")
    names: list[str] = _f(..., "", "the file's soil-moisture variables, one per depth")
    depths: list[Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_DEPTH)]] = _f(
        ..., "m", "depth of each variable")
    units: dict[str, str] | None = _f(None, "", "units of variables that carry none")
    utc_offset_hours: float | None = _f(None, "h", "local standard time minus UTC (CSV)",
                                           ge=-14, le=14)
    gap_policy: _GAP | None = _f(None, "", "missing values")
    max_gap_hours: float | None = _f(None, "h", "longest gap filled by interpolation", ge=0)
    qc: _QC | None = _f(None, "", "quality flags counted as observed")


class ForcingTable(_Table):
    """[forcing]: the meteorological forcing."""

    kind: Literal["paper_synthetic", "netcdf", "csv"] = _f("paper_synthetic", "",
                                                           "source of the forcing")
    k_peak: float = _f(800.0, "W m-2", "peak downward shortwave at solar noon", ge=0,
                       allow_inf_nan=False)
    lw_down: float = _f(100.0, "W m-2", "constant downward longwave", ge=0, allow_inf_nan=False)
    t_air: float = _f(296.0, "K", "constant air temperature", gt=0, allow_inf_nan=False)
    sunrise_h: float = _f(7.0, "h", "sunrise, hours after local midnight", ge=0,
                          allow_inf_nan=False)
    sunset_h: float = _f(21.0, "h", "sunset, hours after local midnight", ge=0,
                         allow_inf_nan=False)
    wind: float | None = _f(None, "m s-1", "constant wind speed (instead of the file's)",
                               ge=0, allow_inf_nan=False)
    psurf: float | None = _f(None, "Pa", "constant surface pressure", gt=0,
                                allow_inf_nan=False)
    qair: float | None = _f(None, "kg kg-1", "constant specific humidity", ge=0,
                               allow_inf_nan=False)
    lai: float | None = _f(None, "m2 m-2", "constant leaf area index", ge=0,
                              allow_inf_nan=False)
    soil_moisture: float | SoilMoistureTable | None = _f(
        None, "m3 m-3", "soil moisture: a constant (synthetic forcing) or a table of the "
        "observed profile")
    path: str | None = _f(None, "", "forcing file (NetCDF or AmeriFlux/FLUXNET CSV); "
                             "relative paths resolve against the config file's folder")
    gap_policy: _GAP = _f("error", "", "what to do with missing forcing values")
    max_gap_hours: float = _f(6.0, "h", "longest gap filled by gap_policy = \"interpolate\"",
                              ge=0, allow_inf_nan=False)
    resample: Literal["sample", "mean"] = _f("sample", "", "how file values map onto model "
                                             "time levels")
    qc: _QC = _f("observed", "", "quality flags counted as observed: observed (0), gapfilled "
                 "(0, 1) or any (0-2)")
    variables: dict[str, str] | None = _f(None, "", "the file's variable name for "
                                             f"{', '.join(_FORCING_VARS)} (when not the ALMA "
                                             "name or a known alias)")
    units: dict[str, str] | None = _f(None, "", "units of the file's variables that carry "
                                         "none (CSV)")
    utc_offset_hours: float | None = _f(None, "h", "local standard time of a CSV file's "
                                           "stamps minus UTC (AmeriFlux, FLUXNET)", ge=-14,
                                           le=14)
    top: SeriesTable | None = _f(None, "", "the prescribed top series (physics top)")
    bottom: SeriesTable | None = _f(None, "", "the prescribed bottom series (physics "
                                       "bottom = \"series\")")


_SYN_KEYS = ("k_peak", "lw_down", "t_air", "sunrise_h", "sunset_h")
_FILE_KEYS = ("path", "gap_policy", "max_gap_hours", "resample", "qc", "variables", "units",
              "utc_offset_hours")

_OBSERVABLES = ("SoilTemp", "AvgSurfT", "LWup", "Qg", "Qh", "Qle", "Qh_plus_Qle", "LWnet",
                "SWnet", "Rnet")


class ObservationTable(_Table):
    """[observations.NAME]: one observed series."""

    variable: Literal[_OBSERVABLES] = _f(..., "", "what is observed")  # type: ignore[valid-type]
    depth: float | None = _f(None, "m", "depth (SoilTemp: required; Qg: default the top)",
                                ge=0, le=MAX_DEPTH, allow_inf_nan=False)
    file: str = _f(..., "", "text file (one value per model level) or a NetCDF/CSV file")
    kind: Literal["netcdf", "csv", "text"] | None = _f(None, "", "file type (default: by "
                                                          "suffix)")
    name: str | list[str] | None = _f(None, "", "the variable in the file (default: "
                                               "variable); a list is summed")
    sigma: float = _f(1.0, "K or W m-2", "error scale: the loss weight is 1/sigma^2", gt=0,
                      allow_inf_nan=False)
    fit: bool = _f(True, "", "false: evaluated, not fitted")
    gap_policy: _GAP = _f("missing", "", "gaps: missing (left out), error, interpolate")
    qc: _QC = _f("observed", "", "quality flags counted as observed")
    units: dict[str, str] | None = _f(None, "", "units of variables that carry none (CSV)")
    utc_offset_hours: float | None = _f(None, "h", "local standard time minus UTC (CSV)",
                                           ge=-14, le=14)
    keep: bool = _f(False, "", "true: keep a series the plausibility checks flag in the "
                    "energy-balance closure and the skill rules of the verdict")


class PublishedTable(_Table):
    """[calibration.published]: published results to show beside ours."""

    source: str = _f("", "", "where the results come from")
    files: list[str] = _f(..., "", "text files of initial/final rows per trial")
    columns: list[str] = _f(..., "", "parameter of each column")


class PriorTable(_Table):
    """A prior: log-normal (median, factor) or normal (mean, sd)."""

    median: float | None = _f(None, "unit of the parameter", "median of a log-normal prior",
                              gt=0, allow_inf_nan=False)
    factor: float | None = _f(None, "1", "one standard deviation of a log-normal prior as a "
                              "factor (> 1)", gt=1, allow_inf_nan=False)
    mean: float | None = _f(None, "unit of the parameter", "mean of a normal prior",
                            allow_inf_nan=False)
    sd: float | None = _f(None, "unit of the parameter", "standard deviation of a normal "
                          "prior", gt=0, allow_inf_nan=False)


class StageTable(_Table):
    """[[calibration.stages]]: one stage of a staged calibration."""

    name: str = _f(..., "", "stage name (report, params.json)")
    free: list[str] = _f(..., "", "parameters fitted in this stage (the others keep their "
                         "values: the config's, or those fitted by earlier stages)")
    fit: list[str] | None = _f(None, "", "observations fitted in this stage (default: those "
                               "with fit = true)")
    physics: dict[str, Any] = _f({}, "", "[physics] keys that differ in this stage")
    grid: dict[str, Any] = _f({}, "", "[grid] keys that differ in this stage")
    initial: dict[str, Any] = _f({}, "", "[initial] keys that differ in this stage")
    forcing: dict[str, Any] = _f({}, "", "[forcing] keys that differ in this stage (e.g. a "
                                 "[forcing.top] series)")
    prior: dict[str, Any] = _f({}, "", "priors of this stage's free parameters")


class CalibrationTable(_Table):
    """[calibration]: what is fitted, how, and over which windows."""

    free: list[str] = _f(["h_eff", "lambda", "C", "T_b"], "", "parameters to fit")
    starts: int = _f(50, "", "number of starts drawn from the prior ranges", ge=1)
    seed: int = _f(0, "", "seed of the starts", ge=0)
    start_range: dict[str, list[float]] = _f({}, "", "range [low, high] the starts of each "
                                             "parameter are drawn from (default: the "
                                             "vocabulary's)")
    bounds: dict[str, list[float]] = _f({}, "", "calibration bounds [low, high] (default: the "
                                        "vocabulary's), enforced by the transform")
    method: Literal["lm", "adam_lbfgs"] = _f("lm", "", "optimiser: lm (batched "
                                             "Levenberg-Marquardt on exact Jacobians of the "
                                             "Fortran scheme) or adam_lbfgs (the PyTorch "
                                             "mirror: Adam then L-BFGS)")
    max_iterations: int = _f(100, "", "most Levenberg-Marquardt iterations per start", ge=1)
    xtol: float = _f(1e-10, "", "Levenberg-Marquardt stops a start when its step is below "
                     "this (relative)", gt=0)
    prior: dict[str, PriorTable | Literal["literature", "texture", "moisture"]] = _f(
        {}, "", "priors of free parameters (MAP estimate): {median, factor}, {mean, sd}, "
        "\"literature\", \"texture\" or \"moisture\" (heat capacity from soil moisture)")
    stages: list[StageTable] | None = _f(None, "", "a staged calibration (e.g. soil first, then "
                                         "the surface with the soil fixed)")
    baseline: bool = _f(False, "", "also fit the published model (h_eff, beta, lambda, C, T_b) "
                        "to the same observations and show its skill beside")
    adam_iterations: int = _f(150, "", "Adam iterations (all starts at once)", ge=0)
    adam_lr: float = _f(0.05, "", "Adam learning rate in the prior-scaled space", gt=0)
    lbfgs_iterations: int = _f(200, "", "most L-BFGS iterations per start", ge=0)
    ftol: float = _f(1e-10, "", "a start stops when its relative loss change is below this",
                     gt=0)
    gtol: float = _f(1e-10, "", "... or when its largest gradient component is below this "
                     "(relative to the loss)", gt=0)
    calibration_hours: list[float] | None = _f(None, "h", "calibration window [first, last] "
                                                  "in hours after the start")
    evaluation_hours: list[float] | None = _f(None, "h", "evaluation window [first, last] in "
                                                 "hours after the start")
    calibration_window: list[Any] | None = _f(None, "UTC", "calibration window as two UTC "
                                                 "times")
    evaluation_window: list[Any] | None = _f(None, "UTC", "evaluation window as two UTC "
                                                "times")
    published: PublishedTable | None = _f(None, "", "published results shown beside ours")
    posterior: Literal["none", "auto", "emcee", "nuts"] = _f(
        "none", "", "also sample the posterior of the last stage's fit: emcee (ensemble "
        "sampler on the batched Fortran), nuts (No-U-Turn on the PyTorch mirror's gradients) "
        "or auto (the one with more effective samples per second: emcee)")
    posterior_steps: int = _f(2000, "", "posterior sampling: steps per walker (emcee, the "
                              "first quarter is warm-up) or draws after as many warm-up steps "
                              "(nuts)", ge=20)


#: table name -> model, in file order; [observations] holds one ObservationTable per name
TABLES: dict[str, type[BaseModel]] = {
    "grid": GridTable, "time": TimeTable, "solver": SolverTable, "physics": PhysicsTable,
    "soil": SoilTable, "site": SiteTable, "initial": InitialTable,
    "parameters": ParametersTable, "forcing": ForcingTable, "observations": ObservationTable,
    "calibration": CalibrationTable,
}
#: tables written by to_dict even when the file leaves them out (their defaults matter)
_CORE = ("grid", "time", "solver", "physics", "initial", "parameters", "forcing")
#: tables whose entries are named sub-tables of one model
_NAMED = {"observations": ObservationTable}

_TYPE_WORDS = {
    "float": "a number", "int": "an integer", "str": "a string", "bool": "true or false",
    "datetime": "an ISO 8601 date-time (UTC), e.g. \"2000-01-01T00:00:00Z\"",
    "float[]": "an array of numbers", "str{}": "a table of strings", "str[]": "an array of strings",
    "table": "a table", "float|float[]": "a number or an array of numbers (one per layer)",
    "str|str[]": "a string or an array of strings", "any[]": "an array",
    "{float[]}": "a table of [low, high] arrays", "float|table": "a number or a table",
}


# ============================================================================ key info


@dataclass(frozen=True)
class KeyInfo:
    """What docs and messages need to know about a key (read from the pydantic field)."""

    name: str
    type: str
    default: Any
    unit: str
    description: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    exclusive: bool = False
    maximum: float | None = None
    required: bool = False


def _type_word(ann: Any) -> tuple[str, tuple[str, ...] | None]:
    import typing

    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Annotated:
        return _type_word(args[0])
    if origin is Union or origin is types.UnionType:
        inner = [a for a in args if a is not type(None)]
        words = [_type_word(a) for a in inner]
        if len(words) == 1:
            return words[0]
        kinds = "|".join(w for w, _ in words)
        if kinds == "float|float[]":
            return kinds, None
        if kinds == "str|str[]":
            return kinds, None
        if kinds.startswith("float|") and "table" in kinds:
            return "float|table", None
        if "datetime" in kinds or kinds.startswith("str|"):
            return "datetime", None
        return kinds, None
    if origin is Literal:
        return "str", tuple(str(a) for a in args)
    if origin is list:
        inner, _ = _type_word(args[0]) if args else ("any", None)
        return {"float": "float[]", "str": "str[]"}.get(inner, "any[]"), None
    if origin is dict:
        inner, _ = _type_word(args[1]) if len(args) > 1 else ("str", None)
        return {"str": "str{}", "float[]": "{float[]}"}.get(inner, "table"), None
    if ann is float:
        return "float", None
    if ann is int:
        return "int", None
    if ann is str:
        return "str", None
    if ann is bool:
        return "bool", None
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "table", None
    if ann is Any:
        return "datetime", None
    return "any", None


def keys(model: type[BaseModel]) -> dict[str, KeyInfo]:
    """Key name -> :class:`KeyInfo` of a table model (docs/config.md is checked against it)."""
    out = {}
    for name, fld in model.model_fields.items():
        typ, choices = _type_word(fld.annotation)
        extra = fld.json_schema_extra or {}
        lo = hi = None
        exclusive = False
        for m in fld.metadata:
            if getattr(m, "gt", None) is not None:
                lo, exclusive = float(m.gt), True
            if getattr(m, "ge", None) is not None:
                lo = float(m.ge)
            if getattr(m, "le", None) is not None:
                hi = float(m.le)
        out[name] = KeyInfo(name, typ, None if fld.is_required() else fld.default,
                            str(extra.get("unit", "")), fld.description or "", choices, lo,
                            exclusive, hi, fld.is_required())
    return out


def json_schema() -> dict:
    """JSON Schema of a whole config file (for editors; ``sebcal schema config``)."""
    fields: dict[str, Any] = {}
    for name, model in TABLES.items():
        typ = dict[str, model] if name in _NAMED else model  # type: ignore[valid-type]
        fields[name] = (Optional[typ], None)
    root = create_model("SebcalConfig", __base__=_Table, **fields)
    schema = root.model_json_schema()
    schema["title"] = "sebcal configuration"
    schema["$comment"] = "docs/config.md describes every key"
    return schema


def _md_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return f"`{int(value)}`"
    if isinstance(value, BaseModel):
        return "table"
    return f"`{value}`"


def _md_type(info: KeyInfo) -> str:
    if info.choices:
        return " / ".join(f'`"{c}"`' for c in info.choices)
    word = info.type.replace("|", " or ")
    if info.minimum is not None:
        lo = int(info.minimum) if info.minimum == int(info.minimum) else info.minimum
        word += f" ({'>' if info.exclusive else '>='} {lo})"
    if info.maximum is not None:
        hi = int(info.maximum) if info.maximum == int(info.maximum) else info.maximum
        word += f" (<= {hi})"
    return word


def markdown_reference() -> str:
    """The key tables of docs/config.md, generated from :data:`TABLES` (``make docs``).

    A test compares docs/config.md with this text, so the reference cannot drift from the
    schema that validates the files.
    """
    lines: list[str] = []
    for table, model in TABLES.items():
        head = f"[{table}.NAME]" if table in _NAMED else f"[{table}]"
        lines += [f"### `{head}`", ""]
        if (model.__doc__ or "").strip():
            lines += [" ".join((model.__doc__ or "").strip().split("\n\n")[0].split()), ""]
        lines += ["| key | type | default | unit | description |", "|---|---|---|---|---|"]
        for name, info in keys(model).items():
            default = "**required**" if info.required else _md_value(info.default)
            desc = info.description.replace("|", "\\|")
            lines.append(f"| `{name}` | {_md_type(info)} | {default} | {info.unit or '–'} "
                         f"| {desc} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ============================================================================ RunConfig


@dataclass(frozen=True, eq=False)
class RunConfig:
    """A validated run configuration (SI units, defaults filled).

    Attributes:
        path: the config file, None when built from a mapping.
        spec: the model (grid, time step, options, solver settings, soil layers).
        nt: number of time steps; start: time of level 0 (UTC, datetime64[s]).
        params: the parameter values given (defaults for the options are filled by
            spec.check_params).
        forcing: the [forcing] table (defaults filled, paths absolute).
        site: the [site] table.
        observations: label -> [observations.NAME] table (paths absolute).
        calibration: the [calibration] table (defaults filled), None when absent.
        tables: every table as validated, defaults filled.
    """

    path: Path | None
    spec: ModelSpec
    nt: int
    start: np.datetime64
    params: Params
    forcing: dict
    site: dict
    observations: dict
    calibration: dict | None
    tables: dict = dc_field(repr=False)

    __hash__ = None  # type: ignore[assignment]

    # ---- the model, for readability at call sites
    @property
    def node_depths(self) -> np.ndarray:
        return self.spec.node_depths

    @property
    def nodes(self) -> int:
        return self.spec.nz

    @property
    def dt(self) -> float:
        return self.spec.dt

    @property
    def dx(self) -> float | None:
        return self.spec.dx

    @property
    def uniform(self) -> bool:
        return self.spec.uniform

    @property
    def options(self) -> dict:
        return dict(self.spec.options)

    @property
    def solver(self) -> str:
        return self.spec.options["solver"]

    @property
    def tol(self) -> float:
        return float(self.spec.tol)

    @property
    def max_iter(self) -> int:
        return int(self.spec.max_iter)

    @property
    def longwave(self) -> str:
        return self.spec.options["longwave"]

    @property
    def bottom(self) -> str:
        return self.spec.options["bottom"]

    @property
    def init(self) -> str:
        """The [initial] kind ("uniform", "profile", "spinup" or "observed")."""
        return self.tables["initial"]["kind"]

    @property
    def init_profile(self) -> np.ndarray | None:
        return self.spec.init_profile

    @property
    def spinup_tol(self) -> float:
        return float(self.spec.spinup_tol)

    @property
    def spinup_max_cycles(self) -> int:
        return int(self.spec.spinup_max_cycles)

    @property
    def base(self) -> Path:
        """Folder that relative paths resolve against."""
        return self.path.parent if self.path is not None else Path.cwd()

    def full_params(self) -> Params:
        """The parameters with the vocabulary defaults for the options filled."""
        return self.spec.check_params(self.params)

    def input_files(self) -> list[Path]:
        """Every file this configuration reads (the config itself, forcing, series, soil
        moisture, observations, the site file), globs expanded, resolved: what no output may
        overwrite."""
        import glob

        found: list[str] = [str(self.path)] if self.path else []

        def walk(node: Any) -> None:
            if isinstance(node, Mapping):
                for k, v in node.items():
                    if k in ("path", "file", "files") and isinstance(v, str | list | tuple):
                        for item in ([v] if isinstance(v, str) else v):
                            if isinstance(item, str):
                                found.extend(glob.glob(item) if any(c in item for c in "*?[")
                                             else [item])
                    else:
                        walk(v)
            elif isinstance(node, list | tuple):
                for v in node:
                    walk(v)

        walk(self.tables)
        out: list[Path] = []
        for f in found:
            r = Path(f).resolve()
            if r not in out:
                out.append(r)
        return out

    def to_dict(self) -> dict:
        """The full config, defaults filled, as plain JSON/TOML-serialisable values.

        ``parse_config(cfg.to_dict(), path=cfg.path)`` gives a RunConfig equal to ``cfg``.
        """
        return _plain(self.tables)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunConfig):
            return NotImplemented
        return self.path == other.path and _plain(self.tables) == _plain(other.tables)


# ============================================================================ entry points


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a TOML config file.

    Relative paths inside it resolve against the file's folder.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML (the message gives
            the line), or any value is unknown, of the wrong type or out of range.
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise ConfigError(f"config file '{p}' does not exist (absolute path tried: "
                          f"'{p.absolute()}'); check the name and the working directory.")
    if p.is_dir():
        raise ConfigError(f"config file '{p}' is a folder, not a file; give the path of a "
                          ".toml file.")
    if not p.is_file():
        raise ConfigError(f"config file '{p}' is not a regular file; give the path of a "
                          ".toml file.")
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
    """Validate a config given as a mapping (parsed TOML, or ``RunConfig.to_dict()``).

    Args:
        data: table name -> table.
        base_dir: folder relative paths resolve against (default: the folder of ``path``,
            else the working directory).
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
    data = _plain_input(data)
    _check_tables(ctx, data)
    tables: dict[str, Any] = {}
    for name in TABLES:
        if name in _CORE or name in data:
            finish = _FINISH.get(name, _finish_generic(TABLES[name]))
            tables[name] = finish(ctx, _validate(ctx, name, data.get(name, {})), tables)
    spec = tables.pop("_spec")
    params = tables.pop("_params")
    return RunConfig(path=file, spec=spec, nt=tables["time"]["steps"],
                     start=parse_time(tables["time"]["start"]), params=params,
                     forcing=dict(tables["forcing"]), site=dict(tables.get("site", {})),
                     observations=dict(tables.get("observations", {})),
                     calibration=tables.get("calibration"),
                     tables={k: v for k, v in tables.items()})


# ============================================================================ validation


class _Ctx:
    """Builds error messages that name the file, the table and the key."""

    def __init__(self, file: Path | None, base: Path) -> None:
        self.file = file
        self.base = base

    def error(self, table: str | None, key: str | None, msg: str) -> ConfigError:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if table is not None:
            where.append(f"[{table}]" + (f" {key}" if key is not None else ""))
        prefix = ": ".join(where)
        return ConfigError(f"{prefix}: {msg}" if prefix else msg)

    def resolve(self, value: str) -> str:
        p = Path(value).expanduser()
        return os.path.abspath(p if p.is_absolute() else self.base / p)


def _tables_of(key: str) -> list[str]:
    return [t for t, m in TABLES.items() if t not in _NAMED and key in m.model_fields]


def _check_tables(ctx: _Ctx, data: Mapping) -> None:
    valid = list(TABLES)
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
        if name in ("multisite", "sites"):
            raise ctx.error(None, None, "this is a multi-site file ([multisite] and [[sites]]), "
                            "not a run configuration: calibrate it with `sebcal calibrate-sites`,"
                            " and check each site's own config (the [[sites]] config keys) with "
                            "`sebcal validate`")
        raise ctx.error(None, None, f"unknown table [{name}]{did_you_mean(name, valid)}; valid "
                        f"tables: {', '.join(valid)}")
    if "parameters" not in data:
        raise ctx.error(None, None, "the [parameters] table is missing; give [parameters] with "
                        "the parameters the model uses (e.g. alpha, eps, lambda, C, T_b, "
                        "h_eff for the published model; docs/config.md)")


def _validate(ctx: _Ctx, name: str, values: Mapping) -> dict:
    """One table through its model; the named sub-tables of [observations] one by one."""
    model = TABLES[name]
    if name in _NAMED:
        out = {}
        for label, sub in values.items():
            where = f"{name}.{label}"
            if not isinstance(sub, Mapping):
                raise ctx.error(where, None, "must be a table such as [observations.T5] with "
                                "variable = \"SoilTemp\", depth = 0.05, file = ...")
            out[label] = _run_model(ctx, where, model, sub)
        return out
    if name == "parameters":
        values = _canonical_parameters(ctx, values)
    if name == "calibration":
        _old_style_priors(ctx, "calibration.prior", values.get("prior"))
        for i, st in enumerate(values.get("stages") or []):
            if isinstance(st, Mapping):
                _old_style_priors(ctx, f"calibration.stages[{i}].prior", st.get("prior"))
    return _run_model(ctx, name, model, values)


def _old_style_priors(ctx: _Ctx, where: str, table: Any) -> None:
    """A prior given as a list (``lambda = [0.2, 3.0]``, an older range form) is named as
    such, with the forms that replace it."""
    if not isinstance(table, Mapping):
        return
    for key, value in table.items():
        if isinstance(value, (list, tuple)):
            raise ctx.error(where, key, f"{key} = {_show(value)}: a prior is no longer a list; "
                            f"give {key} = {{median = ..., factor = ...}} (log-normal), "
                            f"{{mean = ..., sd = ...}} (normal) or \"literature\"; a range of "
                            f"start values goes in [calibration.start_range] ({key} = "
                            f"{_show(value)}), hard limits in [calibration.bounds]")


def _canonical_parameters(ctx: _Ctx, values: Mapping) -> dict:
    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in values.items():
        name = "lambda" if key == "lam" else resolve_alias(str(key))
        if name in PARAMETERS and PARAMETERS[name].group == "site":
            raise ctx.error("parameters", key, f"'{key}' is a property of the site: give it in "
                            "[site] as "
                            + ("measurement_height" if name == "z_ref" else "displacement_height"))
        if name in given_as:
            raise ctx.error("parameters", key, f"[parameters] gives parameter '{name}' twice, as "
                            f"'{given_as[name]}' and as '{key}'; keep one of them")
        given_as[name] = str(key)
        out[name if (name in PARAMETERS or name == "h") else key] = value
    return out


def _run_model(ctx: _Ctx, table: str, model: type[BaseModel], values: Mapping) -> dict:
    try:
        obj = model.model_validate(dict(values))
    except ValidationError as exc:
        raise _translate(ctx, table, model, values, exc) from None
    given = set(values)
    out = {}
    for k, _fld in model.model_fields.items():
        v = getattr(obj, k)
        if isinstance(v, BaseModel):
            sub = values.get(k, {})
            v = {kk: getattr(v, kk) for kk in type(v).model_fields
                 if kk in sub or getattr(v, kk) is not None}
        elif isinstance(v, dict):
            v = {kk: (vv.model_dump(exclude_none=True) if isinstance(vv, BaseModel) else vv)
                 for kk, vv in v.items()}
        if k in given:
            out[k] = v
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _translate(ctx: _Ctx, table: str, model: type[BaseModel], values: Mapping,
               exc: ValidationError) -> ConfigError:
    """The first pydantic error as sebcal's message (file, table, key, what to do)."""
    errors = exc.errors()
    # a table given for a union (float | Table): the scalar member's complaint ("a valid
    # number") hides the table's own, which names the key at fault
    err = next((e for e in errors if not any(str(x) in _TYPE_TAGS for x in e["loc"])),
               errors[0])
    loc = list(err["loc"])
    etype = err["type"]
    # walk into nested tables: (sub, key, index...)
    m: Any = model
    vals: Any = values
    tpath = table
    while loc and isinstance(loc[0], str) and loc[0] in getattr(m, "model_fields", {}):
        fld = m.model_fields[loc[0]]
        sub_model = _submodel(fld.annotation)
        if sub_model is not None and len(loc) > 1 and isinstance(vals.get(loc[0]), Mapping):
            vals = vals[loc[0]]
            tpath = f"{tpath}.{loc[0]}"
            m = sub_model
            loc = loc[1:]
            while loc and isinstance(loc[0], str) and (loc[0] == m.__name__ or "[" in loc[0]
                                                        or loc[0] in _TYPE_TAGS):
                loc = loc[1:]          # union tags pydantic adds to the location
            continue
        break
    if not loc:
        return ctx.error(tpath, None, err["msg"])
    key = str(loc[0])
    info = keys(m).get(key) if hasattr(m, "model_fields") else None
    value = vals.get(key) if isinstance(vals, Mapping) else None
    if etype == "extra_forbidden" or info is None:
        valid = list(m.model_fields)
        home = [t for t in _tables_of(key) if t != tpath]
        if home and "." not in tpath:
            return ctx.error(tpath, key, f"'{key}' does not belong in [{tpath}]; move it to "
                             f"[{home[0]}]")
        return ctx.error(tpath, key, f"unknown key '{key}'{did_you_mean(key, valid)}; valid "
                         f"keys in [{tpath}]: {', '.join(valid)}")
    unit = f" [{info.unit}]" if info.unit and info.unit not in ("UTC",) else ""
    if etype == "missing":
        return ctx.error(tpath, key, f"{key} is required in [{tpath}] ({info.description})")
    indices = [x for x in loc[1:] if isinstance(x, int)]
    label = key + "".join(f"[{i}]" for i in indices)
    item = value
    for i in indices:
        try:
            item = item[i]
        except (TypeError, IndexError, KeyError):
            break
    if etype == "literal_error":
        choices = info.choices or tuple(str(c) for c in err.get("ctx", {}).get("expected", ""))
        if not isinstance(item, str):
            return ctx.error(tpath, key, f"{key} = {_show(item)} has the wrong type; expected a "
                             f"string: one of {', '.join(repr(c) for c in choices)}")
        return ctx.error(tpath, key, f"{key} = {_show(item)} is not an allowed value"
                         f"{did_you_mean(item, choices)}; use one of "
                         f"{', '.join(repr(c) for c in choices)}")
    if etype == "finite_number":
        return ctx.error(tpath, label, f"{label} = {item} must be a finite number{unit}")
    if etype in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        bound = next(iter(err.get("ctx", {}).values()))
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than_equal": "<=",
              "less_than": "<"}[etype]
        return ctx.error(tpath, label, f"{label} = {item:g}{unit} is out of range: the "
                         f"{info.description} must be {op} {float(bound):g}")
    if indices and info.type.endswith("[]"):
        return ctx.error(tpath, label, f"{label} = {_show(item)} is not a number; {key} must "
                         f"be {_TYPE_WORDS[info.type]}{unit}")
    hint = ""
    t = info.type
    if isinstance(item, str) and t in ("float", "int", "float|float[]"):
        try:
            float(item)
            hint = f" (write {key} = {item.strip()}, without quotes)"
        except ValueError:
            pass
    elif t == "str" and (isinstance(item, (int, float)) or isinstance(item, bool)):
        hint = f" (write {key} = \"{item}\", in quotes)"
    elif t == "float" and isinstance(item, list) and tpath == "parameters":
        hint = " (one number: only soil parameters take one value per soil layer)"
    elif t == "int" and isinstance(item, (int, float)) and not isinstance(item, bool):
        hint = (f" (write a whole number without a decimal point, e.g. {key} = "
                f"{int(item) if math.isfinite(item) else 1})")
    elif t == "str{}" and isinstance(item, Mapping):
        bad = next((k for k, v in item.items() if not isinstance(v, str)), None)
        if bad is not None:
            return ctx.error(tpath, f"{key}.{bad}", f"{key}.{bad} = {_show(item[bad])} must be a "
                             "non-empty string (the variable's name in the file)")
    if t == "float|float[]":
        return ctx.error(tpath, key, f"{key} = {_show(item)} has the wrong type; expected a "
                         f"number{unit} (or an array of numbers, one per soil layer){hint}")
    word = _TYPE_WORDS.get(t, t)
    return ctx.error(tpath, key, f"{key} = {_show(item)} has the wrong type; expected "
                     f"{word}{unit}{hint}")


_TYPE_TAGS = {"float", "int", "str", "bool", "list", "dict"}


def _submodel(ann: Any) -> type[BaseModel] | None:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in typing.get_args(ann):
        sub = _submodel(a)
        if sub is not None:
            return sub
    return None


# ============================================================================ cross-key rules


def _finish_grid(ctx: _Ctx, t: dict, tables: dict) -> dict:
    if "node_depths" in t:
        both = [k for k in ("depth", "nodes", "first_spacing", "top_depth") if k in t]
        if both:
            raise ctx.error("grid", both[0], f"give either depth and nodes (a uniform or "
                            f"stretched grid) or node_depths (a given grid), not both; remove "
                            f"{' and '.join(both)} or node_depths")
        z = t["node_depths"]
        if len(z) < 3:
            raise ctx.error("grid", "node_depths", f"node_depths has {len(z)} value(s); the "
                            "grid needs at least 3 nodes (top, interior, bottom)")
        if z[0] < 0:
            raise ctx.error("grid", "node_depths[0]", f"node_depths[0] = {z[0]:g} m; depths are "
                            "positive downward from the surface (0.0)")
        for i in range(1, len(z)):
            if not z[i] > z[i - 1]:
                raise ctx.error("grid", f"node_depths[{i}]", f"node_depths[{i}] = {z[i]:g} m "
                                f"is not deeper than node_depths[{i - 1}] = {z[i - 1]:g} m; "
                                "depths must be strictly increasing (z positive downward)")
        return {"node_depths": list(z)}
    out = {"depth": t.get("depth", 1.0), "nodes": t.get("nodes", 101),
           "top_depth": t.get("top_depth", 0.0)}
    if not out["depth"] > out["top_depth"]:
        raise ctx.error("grid", "depth", f"depth = {out['depth']:g} m must lie below top_depth "
                        f"= {out['top_depth']:g} m")
    if "first_spacing" in t:
        out["first_spacing"] = t["first_spacing"]
    return out


def _grid_nodes(g: dict) -> int:
    return len(g["node_depths"]) if "node_depths" in g else g["nodes"]


def _finish_time(ctx: _Ctx, t: dict, tables: dict) -> dict:
    if "steps" in t and "hours" in t:
        raise ctx.error("time", "hours", "give either steps or hours, not both; remove one")
    dt = float(t.get("dt", 3600.0))
    if dt != round(dt):
        raise ctx.error("time", "dt", f"dt = {dt:g} s must be a whole number of seconds (time "
                        "stamps are kept to the second)")
    steps = t.get("steps", 100)
    if "hours" in t:
        hours = t["hours"]
        n = hours * 3600.0 / dt
        steps = round(n)
        if abs(n - steps) > 1e-9 * max(1.0, n) or steps < 1:
            raise ctx.error("time", "hours", f"hours = {hours:g} with dt = {dt:g} s gives "
                            f"{n:g} steps; the run must be a whole number (>= 1) of steps: "
                            f"make hours a multiple of dt/3600 = {dt / 3600.0:g} h, or give "
                            "steps instead")
    try:
        start = parse_time(t.get("start", "2000-01-01T00:00:00Z"))
    except TimeError as exc:
        raise ctx.error("time", "start", f"start = {_show(t.get('start'))}: {exc}") from None
    return {"dt": dt, "steps": int(steps), "start": iso(start)}


def _finish_solver(ctx: _Ctx, t: dict, tables: dict) -> dict:
    method = t.get("method", "direct")
    d_tol, d_iter = SOLVER_DEFAULTS[method]
    return {"method": method, "tol": float(t.get("tol") or d_tol),
            "max_iter": int(t.get("max_iter") or d_iter),
            "time_scheme": t.get("time_scheme", "backward_euler")}


def _finish_physics(ctx: _Ctx, t: dict, tables: dict) -> dict:
    out = {k: t.get(k, OPTIONS[k].default) for k in PhysicsTable.model_fields if k in OPTIONS}
    out["wind_min"] = float(t.get("wind_min", WIND_MIN))
    return out


def _finish_soil(ctx: _Ctx, t: dict, tables: dict) -> dict:
    b = t.get("layer_bottoms")
    if b is None:
        return {}
    if not b:
        raise ctx.error("soil", "layer_bottoms", "layer_bottoms is empty; give the depth [m] of "
                        "each layer's bottom, or leave [soil] out for a uniform soil")
    for i, v in enumerate(b):
        if not v > 0 or (i and not v > b[i - 1]):
            raise ctx.error("soil", f"layer_bottoms[{i}]", f"layer_bottoms[{i}] = {v:g} m; the "
                            "bottoms must be positive and strictly increasing")
    return {"layer_bottoms": list(b)}


#: Urban-PLUMBER sitedata parameter -> [site] key
_SITE_FILE_KEYS = {"latitude": "latitude", "longitude": "longitude",
                   "measurement_height_above_ground": "measurement_height",
                   "displacement_height": "displacement_height",
                   "topsoil_sand_fraction": "sand_fraction",
                   "topsoil_clay_fraction": "clay_fraction",
                   "topsoil_bulk_density": "bulk_density"}


def _finish_site(ctx: _Ctx, t: dict, tables: dict) -> dict:
    out = dict(t)
    if t.get("file"):
        import csv

        path = Path(ctx.resolve(t["file"]))
        out["file"] = str(path)
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise ctx.error("site", "file", f"cannot read {path} ({exc.strerror}); relative "
                            "paths resolve against the config file's folder") from None
        if not rows or "parameter" not in rows[0] or "value" not in rows[0]:
            raise ctx.error("site", "file", f"{path} is not an Urban-PLUMBER site data file "
                            "(columns id, parameter, value, units, ...)")
        for row in rows:
            key = _SITE_FILE_KEYS.get((row.get("parameter") or "").strip())
            if key is None or key in t:
                continue
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                continue
            try:
                value = SiteTable.model_validate({key: value}).model_dump()[key]
            except ValidationError:
                raise ctx.error("site", "file", f"{path}: {row['parameter']} = {value:g} is out "
                                f"of range for [site] {key}") from None
            out[key] = value
    return out


def _finish_initial(ctx: _Ctx, t: dict, tables: dict) -> dict:
    out = {"kind": t.get("kind", "uniform"), "spinup_tol": t.get("spinup_tol", 1e-3),
           "spinup_max_cycles": t.get("spinup_max_cycles", 365)}
    n = _grid_nodes(tables["grid"])
    if out["kind"] == "profile":
        if "profile" not in t:
            raise ctx.error("initial", "profile", f"kind = \"profile\" needs profile = [...], "
                            f"the temperature [K] at each of the {n} nodes")
        if len(t["profile"]) != n:
            raise ctx.error("initial", "profile", f"profile has {len(t['profile'])} values "
                            f"but the grid has {n} nodes; give one temperature [K] per node")
        # the same physical bounds as a uniform initial temperature (T_init, T_b)
        p = PARAMETERS["T_init"]
        for i, v in enumerate(t["profile"]):
            if not p.in_bounds(float(v)):
                hint = (f"; {v:g} looks like degrees Celsius: give kelvin ({v + 273.15:g} K)"
                        if -60.0 < v < 60.0 else "")
                raise ctx.error("initial", f"profile[{i}]", f"profile[{i}] = {v:g} K is outside "
                                f"the physical bounds {p.bounds_text()} of a soil "
                                f"temperature{hint}")
        out["profile"] = list(t["profile"])
    elif "profile" in t:
        raise ctx.error("initial", "profile", f"profile is only used with kind = \"profile\" "
                        f"(kind = \"{out['kind']}\"); set kind = \"profile\" or remove profile")
    return out


def _spec(ctx: _Ctx, tables: dict) -> ModelSpec:
    g, time, solver = tables["grid"], tables["time"], tables["solver"]
    physics, initial = tables["physics"], tables["initial"]
    soil = tables.get("soil", {})
    dx = None
    if "node_depths" in g:
        z = np.array(g["node_depths"], dtype=np.float64)
    elif "first_spacing" in g:
        try:
            z = stretched_grid(g["depth"], g["nodes"], g["first_spacing"], g["top_depth"])
        except ConfigError as exc:
            raise ctx.error("grid", "first_spacing", str(exc).replace("[grid] ", "")) from None
    else:
        z, dx = uniform_grid(g["depth"], g["nodes"], g["top_depth"])
    options = {k: v for k, v in physics.items() if k in OPTIONS}
    options["solver"] = solver["method"]
    options["time_scheme"] = solver["time_scheme"]
    # "observed" is a given profile, built from the observations when they are read
    options["init"] = "profile" if initial["kind"] == "observed" else initial["kind"]
    if options["top"] == "seb" and z[0] != 0.0:
        key = "node_depths[0]" if "node_depths" in g else "top_depth"
        raise ctx.error("grid", key, f"{key} = {z[0]:g} m; with the surface energy balance at the "
                        "top (physics top = \"seb\") the first node is the surface and must be at "
                        "depth 0.0; a deeper top needs top = \"temperature\" or \"flux\"")
    bottoms = soil.get("layer_bottoms", [])
    if bottoms and bottoms[-1] < z[-1] - 1e-12:
        raise ctx.error("soil", "layer_bottoms", f"the deepest layer bottom {bottoms[-1]:g} m is "
                        f"above the bottom node ({z[-1]:g} m); the last layer must reach the "
                        "bottom of the column")
    bad = jacobi_conflicts(options)
    if bad:
        raise ctx.error("solver", "method", f"method = 'jacobi' (the published iteration) cannot "
                        f"run with {', '.join(bad)}; set method = 'direct', or use the "
                        "published model's options")
    try:
        return ModelSpec(z, dx=dx, dt=time["dt"], options=options, tol=solver["tol"],
                         max_iter=solver["max_iter"], spinup_tol=initial["spinup_tol"],
                         spinup_max_cycles=initial["spinup_max_cycles"],
                         wind_min=physics["wind_min"], layer_bottoms=tuple(bottoms),
                         init_profile=initial.get("profile"))
    except ConfigError as exc:
        raise ctx.error("grid", None, str(exc)) from None


def _finish_parameters(ctx: _Ctx, t: dict, tables: dict) -> dict:
    spec = _spec(ctx, tables)
    tables["_spec"] = spec
    values = dict(t)
    site = tables.get("site", {})
    if "measurement_height" in site:
        values["z_ref"] = site["measurement_height"]
    if "displacement_height" in site:
        values["d0"] = site["displacement_height"]
    try:
        params = Params.from_dict(values, where="parameters")
        full = spec.check_params(params)
    except ConfigError as exc:
        msg = str(exc)
        if "bounds" in msg:
            msg += "; give a value inside the bounds"
        import re

        named = re.search(r"parameter '([^'\[]+)", msg)
        missing = re.search(r"missing ([\w, ]+):", msg)
        key = named[1] if named else (missing[1].split(",")[0] if missing else None)
        if key in ("z_ref", "d0"):
            raise ctx.error("site", "measurement_height" if key == "z_ref" else
                            "displacement_height", msg.replace("[parameters] ", "")) from None
        raise ctx.error("parameters", key, msg.replace("[parameters] ", "")) from None
    tables["_params"] = params
    del full
    out = {k: v for k, v in params.to_dict().items() if k not in ("z_ref", "d0")}
    return out


def _finish_forcing(ctx: _Ctx, t: dict, tables: dict) -> dict:
    kind = t.get("kind", "paper_synthetic")
    spec: ModelSpec = tables["_spec"]
    if kind == "paper_synthetic":
        bad = [k for k in _FILE_KEYS if k in t]
        if bad:
            raise ctx.error("forcing", bad[0], f"'{bad[0]}' is only used with kind = 'netcdf' or "
                            f"'csv', but kind = {kind!r}; remove it or change kind")
        out = {"kind": kind, **{k: t.get(k, ForcingTable.model_fields[k].default)
                                for k in _SYN_KEYS}}
        for k in ("wind", "psurf", "qair", "lai", "soil_moisture", "top", "bottom"):
            if k in t:
                out[k] = t[k]
        if not out["sunrise_h"] < out["sunset_h"] <= 24.0:
            raise ctx.error("forcing", "sunset_h", f"sunrise_h = {out['sunrise_h']:g} and "
                            f"sunset_h = {out['sunset_h']:g}; they need 0 <= sunrise_h < "
                            "sunset_h <= 24 (hours after local midnight)")
    else:
        bad = [k for k in _SYN_KEYS if k in t]
        if bad:
            raise ctx.error("forcing", bad[0], f"'{bad[0]}' is only used with kind = "
                            f"'paper_synthetic', but kind = {kind!r}; remove it or change kind")
        if not t.get("path", "").strip():
            raise ctx.error("forcing", "path", f"kind = \"{kind}\" needs path = \"<file>\" "
                            "(relative paths resolve against the config file's folder)")
        out = {"kind": kind}
        for k in ForcingTable.model_fields:
            if k in t and k not in _SYN_KEYS and k != "kind":
                out[k] = t[k]
        for k in ("gap_policy", "max_gap_hours", "resample", "qc"):
            out.setdefault(k, ForcingTable.model_fields[k].default)
        out["path"] = ctx.resolve(t["path"])
        for k, v in (t.get("variables") or {}).items():
            if k not in _FORCING_VARS:
                raise ctx.error("forcing", f"variables.{k}", f"unknown name '{k}'"
                                f"{did_you_mean(k, _FORCING_VARS)}; variables may name "
                                f"{', '.join(_FORCING_VARS)}")
            if not v.strip():
                raise ctx.error("forcing", f"variables.{k}", f"variables.{k} = {_show(v)} must "
                                "be a non-empty string (the variable's name in the file)")
    sm = out.get("soil_moisture")
    if isinstance(sm, Mapping):
        sm = dict(sm)
        if len(sm["names"]) != len(sm["depths"]) or not sm["names"]:
            raise ctx.error("forcing.soil_moisture", "depths", f"names has {len(sm['names'])} "
                            f"entries and depths {len(sm['depths'])}; give one depth [m] per "
                            "soil-moisture variable")
        if "file" in sm:
            sm["file"] = ctx.resolve(sm["file"])
        out["soil_moisture"] = sm
    elif sm is not None and not (0 <= sm <= 1):
        raise ctx.error("forcing", "soil_moisture", f"soil_moisture = {sm:g} must be a volume "
                        "fraction in [0, 1] m3 m-3")
    for which in ("top", "bottom"):
        if which in out:
            sub = dict(out[which])
            if "file" in sub:
                sub["file"] = ctx.resolve(sub["file"])
            out[which] = sub
    o = spec.options
    if o["top"] != "seb" and "top" not in out:
        raise ctx.error("physics", "top", f"top = \"{o['top']}\" needs the series in a "
                        "[forcing.top] table (file, name; or source = \"radiometric\")")
    if o["bottom"] == "series" and "bottom" not in out:
        raise ctx.error("physics", "bottom", "bottom = \"series\" needs the series in a "
                        "[forcing.bottom] table (file, name)")
    if soil_moisture_needed(o) and out.get("soil_moisture") is None:
        raise ctx.error("forcing", "soil_moisture", "the options use soil moisture (soil_thermal "
                        "= \"johansen\", surface_resistance = \"soil_moisture\" or freezing): "
                        "give "
                        "[forcing.soil_moisture] (names, depths) or a constant soil_moisture")
    off = tables.get("site", {}).get("utc_offset_hours")
    if off is not None:
        if kind == "csv":
            out.setdefault("utc_offset_hours", off)
        for which in ("soil_moisture", "top", "bottom"):
            if isinstance(out.get(which), Mapping):
                out[which].setdefault("utc_offset_hours", off)
    if kind == "paper_synthetic":
        const = {"Wind": "wind", "PSurf": "psurf", "Qair": "qair", "LAI": "lai"}
        lacking = [const[v] for v in forcing_needed(o) if v in const and const[v] not in out]
        if lacking:
            raise ctx.error("forcing", lacking[0], f"the options need {', '.join(lacking)}, which "
                            "the synthetic forcing does not have; give constants "
                            f"({', '.join(f'{k} = ...' for k in lacking)}) or a forcing file")
    return out


_QUALIFIER = re.compile(r"_(\d+)_(\d+)_(\d+)$")


def qualifier_depth(name: str, table: Mapping[str, float] | None, label: str) -> float | None:
    """The depth [m] of a column named with an AmeriFlux/FLUXNET position qualifier
    (``TS_1_2_1``: horizontal 1, vertical 2, replicate 1) from [site] soil_depths, keyed by the
    full qualifier ("1_2_1") or by horizontal and vertical ("1_2"); None without a table."""
    if not table:
        return None
    m = _QUALIFIER.search(name)
    if m is None:
        return None
    h, v, r = m.groups()
    for key in (f"{h}_{v}_{r}", f"{h}_{v}"):
        if key in table:
            return float(table[key])
    raise ConfigError(f"[observations.{label}]: {name} has position qualifier {h}_{v}_{r}, which "
                      f"[site] soil_depths does not list (keys: {', '.join(sorted(table))}); "
                      f"add \"{h}_{v}\" = DEPTH_M to soil_depths or give depth in the table")


def _finish_observations(ctx: _Ctx, t: dict, tables: dict) -> dict:
    spec: ModelSpec = tables["_spec"]
    z = spec.node_depths
    out = {}
    for label, o in t.items():
        where = f"observations.{label}"
        o = {**{k: f.default for k, f in ObservationTable.model_fields.items()
                if not f.is_required() and f.default is not None}, **o}
        v = o["variable"]
        suffix = Path(o["file"]).suffix.lower()
        netcdf = o.get("kind") == "netcdf" or (not o.get("kind") and suffix in (".nc", ".nc4",
                                                                                ".cdf"))
        name = o.get("name")
        if v == "SoilTemp" and o.get("depth") is None and isinstance(name, str):
            try:
                depth = qualifier_depth(name, (tables.get("site") or {}).get("soil_depths"),
                                        label)
            except ConfigError as exc:
                raise ctx.error(where, "name", str(exc).split(": ", 1)[1]) from None
            if depth is not None:
                o["depth"] = depth
        if v == "SoilTemp" and o.get("depth") is None and not netcdf:
            raise ctx.error(where, "depth", "SoilTemp needs a depth [m] (a NetCDF file may "
                            "state it in the variable's depth attribute)")
        if o.get("depth") is not None and not (z[0] - 1e-12 <= o["depth"] <= z[-1] + 1e-12):
            raise ctx.error(where, "depth", f"{o['depth']!r} must be a number of metres within "
                            f"the column [{z[0]:g}, {z[-1]:g}]")
        if v == "Qg" and o.get("depth") is None:
            o["depth"] = float(z[0])
        o["file"] = ctx.resolve(o["file"])
        kind = o.get("kind") or ("netcdf" if Path(o["file"]).suffix.lower() in
                                 (".nc", ".nc4", ".cdf") else
                                 "csv" if Path(o["file"]).suffix.lower() in (".csv", ".dat")
                                 else "text")
        if kind == "text":
            extra = [k for k in ("name", "units", "utc_offset_hours") if k in o]
            if extra:
                raise ctx.error(where, extra[0], "only applies to NetCDF and CSV files")
        if kind == "csv" and o.get("utc_offset_hours") is None:
            off = tables.get("site", {}).get("utc_offset_hours")
            if off is None:
                raise ctx.error(where, "utc_offset_hours", "a CSV file's time stamps are local "
                                "standard time: give utc_offset_hours here or in [site] "
                                "(local minus UTC, e.g. -7 for Utah)")
            o["utc_offset_hours"] = off
        out[label] = o
    return out


def _finish_calibration(ctx: _Ctx, t: dict, tables: dict) -> dict:
    out = {k: t.get(k, fld.default) for k, fld in CalibrationTable.model_fields.items()}
    spec: ModelSpec = tables["_spec"]
    free = out["free"]
    valid = [p.name for p in PARAMETERS.values() if p.fittable] + ["h"]
    for name in free:
        if name not in valid:
            raise ctx.error("calibration", "free", f"unknown parameter '{name}'"
                            f"{did_you_mean(name, valid)}; choose from {', '.join(valid)}")
    for key in ("start_range", "bounds"):
        for name, rng in out[key].items():
            if name not in valid:
                raise ctx.error(f"calibration.{key}", name, f"unknown parameter '{name}'"
                                f"{did_you_mean(name, valid)}; {key} may name {', '.join(valid)}")
            if name not in free:
                raise ctx.error(f"calibration.{key}", name, f"'{name}' is not free ([calibration] "
                                f"free = {free}); a {key} only applies to a fitted parameter")
            if len(rng) != 2 or not rng[0] < rng[1]:
                raise ctx.error(f"calibration.{key}", name, f"{name} = {rng} must be [low, high] "
                                "with low < high")
    for key in ("calibration_hours", "evaluation_hours"):
        if out[key] is not None and len(out[key]) != 2:
            raise ctx.error("calibration", key, f"{key} = {out[key]} must be [first, last] in "
                            "hours after the run's start, e.g. [0, 150]")
    for key in ("calibration_window", "evaluation_window"):
        if out[key] is not None:
            if len(out[key]) != 2:
                raise ctx.error("calibration", key, f"{key} must be two UTC times")
            try:
                out[key] = [iso(parse_time(x)) for x in out[key]]
            except TimeError as exc:
                raise ctx.error("calibration", key, f"{key}: {exc}") from None
    for a, b in (("calibration_hours", "calibration_window"),
                 ("evaluation_hours", "evaluation_window")):
        if out[a] is not None and out[b] is not None:
            raise ctx.error("calibration", b, f"give {a} or {b}, not both")
    out["prior"] = _check_priors(ctx, "calibration.prior", out.get("prior") or {}, free,
                                 out.get("bounds") or {})
    if out.get("stages"):
        labels = list(tables.get("observations", {}))
        stages = []
        for k, st in enumerate(out["stages"]):
            st = dict(st)
            where = f"calibration.stages[{k}]"
            for name in st["free"]:
                if name not in valid:
                    raise ctx.error(where, "free", f"unknown parameter '{name}'"
                                    f"{did_you_mean(name, valid)}; choose from {', '.join(valid)}")
            for name in st.get("fit") or []:
                if name not in labels:
                    raise ctx.error(where, "fit", f"no observation '{name}'"
                                    f"{did_you_mean(name, labels)}; [observations] has "
                                    f"{', '.join(labels) or 'none'}")
            for key, model in (("physics", PhysicsTable), ("grid", GridTable),
                               ("initial", InitialTable)):
                bad = [x for x in st.get(key, {}) if x not in model.model_fields]
                if bad:
                    raise ctx.error(where, f"{key}.{bad[0]}", f"[{key}] has no key '{bad[0]}'"
                                    f"{did_you_mean(bad[0], list(model.model_fields))}")
            st["prior"] = _check_priors(ctx, f"{where}.prior", st.get("prior") or {}, st["free"],
                                        out.get("bounds") or {})
            stages.append(st)
        out["stages"] = stages
    if out["published"] is not None:
        pub = dict(out["published"])
        pub["files"] = [ctx.resolve(f) for f in pub["files"]]
        out["published"] = pub
    del spec
    return out


def _check_priors(ctx: _Ctx, where: str, table: Mapping, free: list,
                  bounds: Mapping | None = None) -> dict:
    out = {}
    for name, spec in table.items():
        if name not in free:
            raise ctx.error(where, name, f"'{name}' is not free (free = {free}); a prior only "
                            "applies to a fitted parameter")
        if isinstance(spec, Mapping):
            spec = {k: v for k, v in dict(spec).items() if v is not None}
            keys = set(spec)
            if keys == {"median", "factor"}:
                if parameter(name).scale != "log":
                    raise ctx.error(where, name, f"{name} is not positive-valued on a log scale; "
                                    "give a normal prior {mean = ..., sd = ...}")
            elif keys != {"mean", "sd"}:
                raise ctx.error(where, name, f"{name} = {_show(spec)}: give {{median = ..., "
                                "factor = ...}} (log-normal) or {mean = ..., sd = ...} (normal)")
            # the prior's centre must be a value the fit may reach: outside the calibration
            # bounds the MAP estimate is pulled onto a bound, whatever the data say
            centre = spec.get("median", spec.get("mean"))
            if name in PARAMETERS and isinstance(centre, (int, float)):
                lo, hi = (bounds or {}).get(name) or PARAMETERS[name].calib
                if not lo <= centre <= hi:
                    key = "median" if "median" in spec else "mean"
                    raise ctx.error(where, name, f"{name}: the prior's {key} {centre:g} lies "
                                    f"outside the calibration bounds [{lo:g}, {hi:g}]; move it "
                                    "inside, or widen [calibration.bounds]")
        out[name] = spec
    return out


def _finish_generic(model: type[BaseModel]):
    """Defaults of a table without cross-key rules (given keys, then every default)."""
    def finish(ctx: _Ctx, t: dict, tables: dict) -> dict:
        out = {k: f.default for k, f in model.model_fields.items()
               if not f.is_required() and f.default is not None}
        out.update(t)
        return {k: out[k] for k in model.model_fields if k in out}
    return finish


_FINISH = {
    "grid": _finish_grid, "time": _finish_time, "solver": _finish_solver,
    "physics": _finish_physics, "soil": _finish_soil, "site": _finish_site,
    "initial": _finish_initial, "parameters": _finish_parameters, "forcing": _finish_forcing,
    "observations": _finish_observations, "calibration": _finish_calibration,
}


# ============================================================================ helpers


def _plain_input(value: Any) -> Any:
    """numpy scalars and arrays as Python values (pydantic's strict mode wants them)."""
    if isinstance(value, Mapping):
        return {str(k): _plain_input(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_input(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain_input(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.datetime64):
        try:
            return iso(parse_time(value))
        except TimeError:
            return str(value)
    return value


def _plain(value: Any) -> Any:
    """A deep copy with only JSON/TOML-friendly types (dict, list, str, int, float, bool)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(exclude_none=True))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.datetime64):
        return iso(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
