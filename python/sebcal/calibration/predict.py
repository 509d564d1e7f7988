"""Prediction with calibrated parameters: a forward run of a configuration with the fitted values
of a params.json, scored on that configuration's observations (`sebcal run CONFIG --params`).

The use is out-of-sample checking: fit May, predict September (another window), another site,
or the same site on another grid or time step. The run, the observation operator and the
metrics are those of the calibration itself, so that a prediction on the calibration's own
configuration reproduces the skill table of its params.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import RunConfig, parse_config
from ..errors import ConfigError, SebcalError
from ..observations import (
    check_series,
    load_observations,
    metrics,
    model_equivalents,
    node_lambda,
    prepare,
    without_flagged,
)
from ..observations import windows as make_windows
from ..paramsfile import Calibrated, load_params
from ..runner import forcing_for
from ..vocabulary import PARAMETERS
from .benchmarks import benchmarks, fit_all, not_beaten, score


@dataclass
class Prediction:
    """A run with calibrated parameters and its skill.

    Attributes:
        config: the configuration as run (its [parameters] carry the calibrated values).
        applied: parameter name -> the calibrated value taken from params.json (SI units).
        ignored: calibrated parameters the configuration's options do not use.
        option_changes: option -> (value at calibration, value in this run), where they differ.
        sim: the Fortran run (z [m], T [K] (nt+1, nz), fluxes [W m-2]).
        forcing: the forcing of the run.
        observations: the configuration's observations.
        model_values: observation label -> the model's equivalent (nt+1,).
        metrics: window name -> "label (description)" -> rmse, bias, r, n, unit, fitted, sigma:
            the windows are "calibration" and "evaluation" when the configuration has a
            [calibration] table, else "run" (every level after the initial state).
        spans: window name -> (first, last) time as UTC text.
        benchmarks: window name -> series -> the empirical benchmark's (a linear regression on
            the forcing, calibration/benchmarks.py) RMSE, bias, r, n and predictors.
        benchmark_note: where the regressions were trained, or why there are none.
    """

    config: RunConfig
    applied: dict[str, Any]
    ignored: list[str]
    option_changes: dict[str, tuple[str, str]]
    sim: Any
    forcing: Any
    observations: list
    model_values: dict[str, np.ndarray]
    metrics: dict[str, dict[str, dict]]
    spans: dict[str, tuple[str, str]] = field(default_factory=dict)
    benchmarks: dict[str, dict[str, dict]] = field(default_factory=dict)
    benchmark_note: str = ""


def calibrated_values(cal: Calibrated) -> dict[str, Any]:
    """Name -> value of every parameter params.json marks as fitted (a list for layered soil
    parameters; h_eff rather than its factors h and beta)."""
    out: dict[str, Any] = {}
    for name, entry in cal.data["parameters"].items():
        if not entry.get("fitted"):
            continue
        if name == "h":                     # h_eff carries it
            continue
        out[name] = entry["value"]
    return out


def with_parameters(config: RunConfig, values: Mapping[str, Any]
                    ) -> tuple[RunConfig, dict[str, Any], list[str]]:
    """The configuration with ``values`` as its [parameters] (the others as the configuration
    gives them); parameters its options do not use are left out and listed.

    Raises:
        ConfigError: a value the configuration's model refuses (the message names it).
    """
    applied, ignored = {}, []
    for name, v in values.items():
        p = PARAMETERS.get(name)
        if name == "T_init" and config.init == "uniform":
            applied[name] = v
        elif p is not None and p.is_used(config.spec.options):
            applied[name] = v
        else:
            ignored.append(name)
    d = config.to_dict()
    d["parameters"] = {**d.get("parameters", {}), **applied}
    where = config.path or "config"
    try:
        return parse_config(d, path=config.path), applied, ignored
    except ConfigError as exc:
        raise ConfigError(f"{where} with the calibrated parameters: {exc}") from None


def boundary_role(config: RunConfig, o: Any) -> str | None:
    """'prescribed (top boundary)' / '(bottom boundary)' for a soil temperature the model is
    given rather than predicts: its skill says nothing of the parameters."""
    if o.variable != "SoilTemp":
        return None
    z = config.spec.node_depths
    if config.options["top"] == "temperature" and abs(o.depth - z[0]) < 1e-9:
        return "prescribed (top boundary)"
    if config.options["bottom"] in ("series",) and abs(o.depth - z[-1]) < 1e-9:
        return "prescribed (bottom boundary)"
    return None


def skill(config: RunConfig, observations: list, masks: Mapping[str, np.ndarray],
          values: Mapping[str, np.ndarray], suspect: Any = ()) -> dict[str, dict[str, dict]]:
    """window -> "label (description)" -> RMSE, bias (model - observed), r, n, with the unit,
    whether the series was fitted, its sigma and label, the effective number of independent
    values of its residuals and their chi-square per value (the misfit rule), "suspect" for a
    series the plausibility checks flagged (labels in ``suspect``) and, for a prescribed
    boundary, its role. The skill table of a calibration and of a prediction alike."""
    from .analysis import effective_size

    out: dict[str, dict[str, dict]] = {}
    for wname, mask in masks.items():
        out[wname] = {}
        for o in observations:
            entry = {**metrics(values[o.label], o.values, mask), "unit": o.units,
                     "fitted": o.fit, "sigma": o.sigma, "label": o.label}
            z = np.where(mask & o.valid, (values[o.label] - o.values) / o.sigma, np.nan)
            if entry["n"]:
                entry["n_eff"] = float(effective_size([z])[0])
                entry["chi2"] = float(np.nanmean(z ** 2))
            if o.label in suspect:
                entry["suspect"] = True
            role = boundary_role(config, o)
            if role:
                entry["role"] = role
            out[wname][f"{o.label} ({o.describe()})"] = entry
    return out


def predict(config: RunConfig, params: Any, *, forcing: Any = None) -> Prediction:
    """Run ``config`` with the fitted values of ``params`` and score it on its observations.

    Args:
        config: the configuration to predict (its window, forcing, observations, grid and
            options); its [parameters] give every value params.json did not fit.
        params: a params.json path (or its folder), its content, or a loaded Calibrated.
        forcing: a Forcing to use instead of the one the configuration names.

    Raises:
        ConfigError: an unreadable params.json, a configuration without observations, or a
            calibrated value the configuration's model refuses.
    """
    from .report import best_run

    cal = params if isinstance(params, Calibrated) else load_params(params)
    where = config.path or "config"
    if not config.observations:
        raise ConfigError(f"{where}: no [observations.*] table, so there is nothing to score "
                          "the prediction on; add the observed series (docs/calibration.md) or "
                          "use `sebcal run` without --params for a plain run")
    cal_opts = cal.config.options
    changes = {k: (cal_opts[k], config.options[k]) for k in config.options
               if k in cal_opts and cal_opts[k] != config.options[k]}
    cfg, applied, ignored = with_parameters(config, calibrated_values(cal))
    obs = load_observations(cfg)
    forcing = forcing if forcing is not None else forcing_for(cfg)
    cfg = prepare(cfg, forcing, obs)
    win = make_windows(cfg)
    # the calibration's own observation checks: implausible values are not scored
    keep = {lab for lab, t in (cfg.observations or {}).items() if t.get("keep")}
    checks = check_series(obs, win.calibration | win.evaluation)
    obs = without_flagged(obs, checks, keep)
    suspect = {lab for lab, c in checks.items() if c.whole} - keep
    phys = {"T_init": float(applied["T_init"])} if "T_init" in applied else {}
    sim = best_run(cfg, forcing, cfg.full_params(), phys)
    lam = node_lambda(cfg.spec, cfg.full_params(), forcing)
    vals = model_equivalents(obs, sim.z, sim.T, sim.fluxes, lam)
    if config.calibration is not None:
        masks = {"calibration": win.calibration}
        spans = {"calibration": win.calibration_span}
        if win.evaluation.any():
            masks["evaluation"] = win.evaluation
            spans["evaluation"] = win.evaluation_span
    else:
        masks = {"run": win.calibration}
        spans = {"run": win.calibration_span}
    skip = [o.label for o in obs if boundary_role(cfg, o) or o.label in suspect]
    if config.calibration is not None:
        bench = benchmarks(obs, forcing, cfg.options, masks, win.calibration, skip)
        note = "regressions trained on this configuration's calibration window"
    else:
        bench, note = _benchmarks_of_calibration(cal, cfg, obs, forcing, masks, skip)
    return Prediction(cfg, applied, ignored, changes, sim, forcing, obs, vals,
                      skill(cfg, obs, masks, vals, suspect), spans, bench, note)


def _benchmarks_of_calibration(cal: Calibrated, cfg: RunConfig, obs: list, forcing: Any,
                               masks: Mapping[str, np.ndarray], skip: list[str]
                               ) -> tuple[dict, str]:
    """Benchmarks trained where the parameters were: the calibration window of params.json's
    configuration (its forcing and observations), applied to this run's forcing."""
    try:
        ccfg = cal.config
        cobs = load_observations(ccfg) if ccfg.observations else []
        cforcing = forcing_for(ccfg)
        levels = make_windows(ccfg).calibration
    except SebcalError as exc:
        return {}, f"no regression benchmarks: the calibration's data cannot be read ({exc})"
    regs = fit_all(cobs, cforcing, cfg.options, levels, skip)
    return (score(regs, obs, forcing, cfg.options, masks),
            "regressions trained on the calibration window of the params.json")


def skill_rows(pred: Prediction) -> list[dict[str, Any]]:
    """The skill table as rows (window, series, unit, n, rmse, bias, r, fitted, role)."""
    rows = []
    for wname, table in pred.metrics.items():
        for key, m in table.items():
            b = pred.benchmarks.get(wname, {}).get(key, {})
            rows.append({"window": wname, "series": key, "unit": m["unit"], "n": m["n"],
                         "rmse": m["rmse"], "bias": m["bias"], "r": m["r"],
                         "regression_rmse": b.get("rmse", float("nan")),
                         "regression_predictors": " ".join(b.get("predictors", [])),
                         "fitted_at_calibration": m["fitted"], "role": m.get("role", "")})
    return rows


def format_skill(pred: Prediction) -> str:
    """The skill table as text, one block per window."""
    lines = []
    for wname, table in pred.metrics.items():
        a, b = pred.spans.get(wname, ("?", "?"))
        lines.append(f"  {wname} window {a} .. {b}:")
        w = max((len(k) for k in table), default=10)
        lines.append(f"    {'series':<{w}}  {'n':>6}  {'RMSE':>9}  {'bias':>9}  {'r':>6}  "
                     f"{'regression':>10}  unit")
        bench = pred.benchmarks.get(wname, {})
        for key, m in table.items():
            r = "-" if not np.isfinite(m["r"]) else f"{m['r']:.3f}"
            b = bench.get(key, {}).get("rmse", float("nan"))
            bs = "-" if not np.isfinite(b) else f"{b:.4g}"
            role = f"  ({m['role']})" if m.get("role") else ""
            lines.append(f"    {key:<{w}}  {m['n']:>6}  {m['rmse']:>9.4g}  {m['bias']:>+9.3g}  "
                         f"{r:>6}  {bs:>10}  {m['unit']}{role}")
        lost = not_beaten(pred.metrics, pred.benchmarks, wname)
        if lost:
            lines.append("    the physics does not beat a linear regression on the forcing on: "
                         + "; ".join(f"{k} (RMSE {a:.3g} vs {b:.3g})" for k, a, b in lost))
    if pred.benchmark_note:
        lines.append(f"  (regression: PLUMBER-style empirical benchmark, {pred.benchmark_note})")
    return "\n".join(lines)


__all__ = ["Prediction", "calibrated_values", "format_skill", "predict", "skill", "skill_rows",
           "with_parameters"]
