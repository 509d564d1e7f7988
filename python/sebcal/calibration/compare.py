"""Model choice: several option sets fitted to the same observations and ranked on how well
they predict what they were not fitted to (`sebcal compare`).

Each configuration is calibrated on its calibration window (in memory, its own starts, priors
and stages) and scored on its evaluation window. The ranking uses the series every
configuration scores (label, variable and depth alike), each as RMSE / sigma (sigma of the first
configuration, so that kelvin and watts weigh alike), averaged: the *score*, lower is better.
A linear regression on the forcing (calibration/benchmarks.py), trained on the first
configuration's calibration window, stands beside as the empirical benchmark.

Beside the score, Akaike's and Schwarz's criteria of the calibration-window fit use the
effective number of independent residuals n_eff (the autocorrelation correction of the error
bars) and the mean squared weighted residual L of the fit:

    AIC = n_eff ln L + 2 k,    BIC = n_eff ln L + k ln n_eff     (k free parameters).

They are comparable only between configurations fitted to the same observations with the same
sigmas (otherwise they are left out) and with one n_eff, the smallest of the candidates'.
Without an evaluation window the ranking falls back to BIC, and says so: in-sample skill always
favours the richer model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import RunConfig, load_config


@dataclass
class Candidate:
    """One configuration's fit and scores.

    Attributes:
        name: the configuration's file (or "config k").
        params: its params.json content (in memory).
        free: the number of free parameters (layered ones count per layer).
        score: mean evaluation RMSE / sigma over the common series (NaN: no evaluation).
        calibration_score: the same over the calibration window.
        aic, bic: information criteria (None when the fitted observations differ).
        verdict: the calibration's verdict status.
        cv_score: mean over the cross-validation folds of each fold's evaluation score (NaN:
            no cross-validation); folds: each fold's score.
    """

    name: str
    params: dict
    free: int
    score: float = math.nan
    calibration_score: float = math.nan
    aic: float | None = None
    bic: float | None = None
    verdict: str = ""
    cv_score: float = math.nan
    folds: list[float] = field(default_factory=list)


@dataclass
class Comparison:
    """Configurations ranked on prediction (best first), the series they were scored on, and
    why the first won."""

    ranked: list[Candidate]
    series: list[str]
    window: str
    benchmark: dict[str, float] = field(default_factory=dict)
    benchmark_score: float = math.nan
    per_series: dict[str, dict[str, float]] = field(default_factory=dict)
    why: str = ""
    folds: list[tuple[float, float, float]] = field(default_factory=list)
    ranked_by: str = ""


def _fitted_signature(params: dict) -> tuple:
    mets = params["metrics"]["calibration"]
    return tuple(sorted((k, m["sigma"]) for k, m in mets.items() if m.get("fitted")))


def _n_free(params: dict) -> int:
    n = 0
    for e in params["parameters"].values():
        if e.get("fitted"):
            v = e.get("value")
            n += len(v) if isinstance(v, list) else 1
    return n


def _score(mets: dict, series: Sequence[str], sigma: dict[str, float]) -> float:
    vals = [mets[s]["rmse"] / sigma[s] for s in series if s in mets
            and np.isfinite(mets[s]["rmse"])]
    return float(np.mean(vals)) if len(vals) == len(series) and vals else math.nan


def folds_of(config: RunConfig, k: int) -> list[tuple[float, float, float]]:
    """Rolling-origin cross-validation folds over whole days: the record cut into k + 1 blocks
    of equal whole days, fold i fitted on blocks 0..i and scored on block i + 1, as
    (0, end of the fit [h], end of the scored block [h]). Empty when the record holds fewer
    than k + 1 days or k < 1."""
    days = int(config.nt * config.dt // 86400.0)
    if k < 1 or days < k + 1:
        return []
    block = 24.0 * (days // (k + 1))
    return [(0.0, block * (i + 1), block * (i + 2)) for i in range(k)]


def compare(configs: Sequence[RunConfig | str], *, starts: int | None = None,
            folds: int = 3, log: Callable[[str], Any] = print) -> Comparison:
    """Fit each configuration on its calibration window and rank them on the evaluation window
    and, when the record holds at least ``folds`` + 1 days, by rolling-origin cross-validation
    over blocks of whole days (:func:`folds_of`; ``folds`` = 0: none).

    Raises:
        ConfigError: fewer than two configurations, one without observations, or no series
            common to all of them.
    """
    from ..config import parse_config
    from ..errors import ConfigError, SebcalError
    from .run import calibrate

    cfgs = [c if isinstance(c, RunConfig) else load_config(c) for c in configs]
    if len(cfgs) < 2:
        raise ConfigError("compare needs at least two configurations (option sets) to rank")
    names = [str(c.path) if c.path else f"config {k + 1}" for k, c in enumerate(cfgs)]
    names = [n if names.count(n) == 1 else f"{n} #{k + 1}" for k, n in enumerate(names)]
    for n, c in zip(names, cfgs):
        if not c.observations:
            raise ConfigError(f"{n}: no [observations.*] table; compare fits and scores "
                              "each configuration on its observations")
    cands = []
    for k, (n, c) in enumerate(zip(names, cfgs)):
        log(f"compare: fitting {k + 1}/{len(cfgs)} {n}")
        res = calibrate(c, None, progress=False, figures=False, starts=starts,
                        log=lambda *_: None)
        cands.append(Candidate(n, res.params, _n_free(res.params),
                               verdict=res.params["verdict"]["status"]))
    mets = [c.params["metrics"] for c in cands]
    has_eval = all(m.get("evaluation") for m in mets)
    window = "evaluation" if has_eval else "calibration"

    def scored(m: dict, w: str) -> set[str]:
        return {k for k, v in m.get(w, {}).items() if not v.get("role")}

    series = sorted(set.intersection(*(scored(m, window) for m in mets)))
    if not series:
        raise ConfigError("the configurations share no observed series (same label, variable "
                          "and depth) to rank them on; give them the same [observations.*]")
    sigma = {s: mets[0]["calibration"][s]["sigma"] for s in series}
    sig = {_fitted_signature(c.params) for c in cands}
    # one effective sample size for every candidate (the smallest): criteria with different n
    # are not comparable, and the richer fit's residuals may decorrelate faster
    fits = [c.params["fit"] for c in cands]
    n_eff = min((f.get("n_eff") or 0.0) for f in fits)
    for c, fit in zip(cands, fits):
        c.calibration_score = _score(c.params["metrics"]["calibration"], series, sigma)
        if has_eval:
            c.score = _score(c.params["metrics"]["evaluation"], series, sigma)
        if len(sig) == 1 and fit.get("loss", 0) > 0 and n_eff > 1:
            ll = n_eff * math.log(fit["loss"])
            c.aic = ll + 2 * c.free
            c.bic = ll + c.free * math.log(n_eff)
    ic_ok = len(sig) == 1
    cv = folds_of(cfgs[0], folds)
    if cv:
        for n, c, cand in zip(names, cfgs, cands):
            for i, (a, b, e) in enumerate(cv):
                log(f"compare: {n}, cross-validation fold {i + 1}/{len(cv)} (fit hours "
                    f"{a:g}-{b:g}, score {b:g}-{e:g})")
                d = c.to_dict()
                cal = dict(d.get("calibration") or {})
                for key_ in ("calibration_window", "evaluation_window"):
                    cal.pop(key_, None)
                cal.update(calibration_hours=[a, b], evaluation_hours=[b, e])
                d["calibration"] = cal
                try:
                    res = calibrate(parse_config(d, path=c.path), None, progress=False,
                                    figures=False, starts=starts, log=lambda *_: None)
                    cand.folds.append(_score(res.params["metrics"].get("evaluation", {}),
                                             series, sigma))
                except SebcalError as exc:
                    log(f"compare: {n}, fold {i + 1} failed ({exc})")
                    cand.folds.append(math.nan)
            cand.cv_score = (float(np.mean(cand.folds)) if np.all(np.isfinite(cand.folds))
                             else math.nan)
    use_cv = bool(cv) and all(np.isfinite(c.cv_score) for c in cands)

    def key(c: Candidate) -> tuple[float, int]:
        if use_cv:
            v = c.cv_score
        elif has_eval:
            v = c.score
        elif ic_ok:
            v = c.bic if c.bic is not None else math.inf
        else:
            v = c.calibration_score
        return (v if np.isfinite(v) else math.inf, c.free)

    ranked = sorted(cands, key=key)
    per = {s: {c.name: float(c.params["metrics"][window][s]["rmse"]) for c in ranked}
           for s in series}
    cmp = Comparison(ranked, series, window, per_series=per, folds=cv,
                     ranked_by=("cross-validation" if use_cv else window if has_eval
                                else "BIC" if ic_ok else "calibration"))
    _benchmark(cmp, cfgs[0], series, sigma)
    cmp.why = _why(cmp, ic_ok)
    return cmp


def _benchmark(cmp: Comparison, config: RunConfig, series: list[str],
               sigma: dict[str, float]) -> None:
    """The regression benchmark of the first configuration's data on the ranked series."""
    from ..observations import load_observations, prepare
    from ..observations import windows as make_windows
    from ..runner import forcing_for
    from .benchmarks import benchmarks

    obs = load_observations(config)
    forcing = forcing_for(config)
    config = prepare(config, forcing, obs)
    win = make_windows(config)
    mask = win.evaluation if cmp.window == "evaluation" else win.calibration
    b = benchmarks(obs, forcing, config.options, {cmp.window: mask}, win.calibration)
    got = {s: float(v["rmse"]) for s, v in b[cmp.window].items() if s in series}
    cmp.benchmark = got
    if len(got) == len(series):
        cmp.benchmark_score = float(np.mean([got[s] / sigma[s] for s in series]))


def _why(cmp: Comparison, comparable_ic: bool) -> str:
    best, rest = cmp.ranked[0], cmp.ranked[1:]
    wins = {c.name: sum(cmp.per_series[s][best.name] <= cmp.per_series[s][c.name]
                        for s in cmp.series) for c in rest}
    n = len(cmp.series)
    if cmp.window == "evaluation":
        parts = [f"{best.name} predicts the evaluation window best: mean RMSE/sigma "
                 f"{best.score:.3g} over {n} series against "
                 + ", ".join(f"{c.score:.3g} ({c.name}, better on {n - wins[c.name]} of {n})"
                             for c in rest)]
    else:
        parts = [f"no evaluation window in every configuration: ranked by "
                 f"{'BIC' if comparable_ic else 'calibration-window skill'}, which favours "
                 "richer models less than in-sample skill but is no substitute for a "
                 "held-out window; give [calibration] evaluation_hours"]
    if cmp.ranked_by == "cross-validation":
        parts.insert(0, f"ranked by rolling-origin cross-validation over {len(cmp.folds)} "
                     f"folds of whole days: mean RMSE/sigma {best.cv_score:.3g} against "
                     + ", ".join(f"{c.cv_score:.3g} ({c.name})" for c in rest))
    simpler = [c for c in rest if c.free > best.free]
    if simpler and cmp.window == "evaluation":
        parts.append(f"with {best.free} free parameters against "
                     + ", ".join(f"{c.free}" for c in simpler)
                     + ": the extra physics does not predict better on these data")
    if np.isfinite(cmp.benchmark_score):
        if cmp.benchmark_score < best.score:
            parts.append(f"a linear regression on the forcing does better still "
                         f"({cmp.benchmark_score:.3g}): the physics does not beat the "
                         "empirical benchmark on these series")
        else:
            parts.append(f"the linear-regression benchmark scores {cmp.benchmark_score:.3g}")
    if not comparable_ic:
        parts.append("AIC/BIC are not shown: the configurations fit different observations "
                     "or sigmas")
    return "; ".join(parts)


def format_comparison(cmp: Comparison) -> str:
    """The ranking as text."""
    w = max(len(c.name) for c in cmp.ranked)
    head = (f"  {'rank':>4}  {'configuration':<{w}}  {'free':>4}  "
            f"{'score (' + cmp.window + ')':>20}  {'cross-val.':>10}  {'calibration':>11}  "
            f"{'AIC':>9}  {'BIC':>9}  verdict")
    lines = [f"sebcal compare: {len(cmp.ranked)} configurations, {len(cmp.series)} common "
             f"series, score = mean RMSE/sigma in the {cmp.window} window (lower is better); "
             f"ranked by {cmp.ranked_by}"
             + (f" ({len(cmp.folds)} folds: fit hours 0-{cmp.folds[0][1]:g} ... "
                f"0-{cmp.folds[-1][1]:g}, each scored on the next "
                f"{cmp.folds[0][2] - cmp.folds[0][1]:g} h)" if cmp.folds else ""),
             head]
    for i, c in enumerate(cmp.ranked, 1):
        aic = "-" if c.aic is None else f"{c.aic:.1f}"
        bic = "-" if c.bic is None else f"{c.bic:.1f}"
        sc = c.score if cmp.window == "evaluation" else c.calibration_score
        cvs = "-" if not np.isfinite(c.cv_score) else f"{c.cv_score:.4g}"
        lines.append(f"  {i:>4}  {c.name:<{w}}  {c.free:>4}  {sc:>20.4g}  {cvs:>10}  "
                     f"{c.calibration_score:>11.4g}  {aic:>9}  {bic:>9}  {c.verdict}")
    if np.isfinite(cmp.benchmark_score):
        lines.append(f"  {'':>4}  {'linear regression (benchmark)':<{w}}  {'':>4}  "
                     f"{cmp.benchmark_score:>20.4g}")
    lines.append(f"  {cmp.window} RMSE per series:")
    sw = max(len(s) for s in cmp.series)
    for s in cmp.series:
        vals = "  ".join(f"{cmp.per_series[s][c.name]:.4g}" for c in cmp.ranked)
        b = cmp.benchmark.get(s)
        lines.append(f"    {s:<{sw}}  {vals}" + ("" if b is None else f"  (regression {b:.4g})"))
    lines.append(f"  why: {cmp.why}")
    return "\n".join(lines)


__all__ = ["Candidate", "Comparison", "compare", "format_comparison"]
