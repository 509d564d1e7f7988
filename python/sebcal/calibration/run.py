"""`sebcal calibrate`: multi-start calibration, staged if asked, with error bars, a verdict and
a report (docs/calibration.md).

One stage: draw the starts, fit them all at once (batched Levenberg-Marquardt on the Fortran
scheme's exact Jacobians, or Adam then L-BFGS on the PyTorch mirror), then, for a MAP fit,
weight the data by what the residuals show and refit; the error bars come from the
Gauss-Newton precision at the best fit (widened for autocorrelated residuals); the
identifiability analysis and the verdict follow. A staged calibration runs its stages in
order, each fixing what the earlier ones fitted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig, load_config, parse_config
from ..errors import ConfigError, Interrupted, SebcalError
from ..observations import (
    check_series,
    load_observations,
    model_equivalents,
    near_freezing,
    node_lambda,
    prepare,
    without_flagged,
)
from ..observations import windows as make_windows
from ..output import make_folder, output_set, write_text
from ..runner import forcing_for
from . import priors as priors_mod
from .analysis import effective_size, identifiability, laplace_gn
from .benchmarks import benchmarks, not_beaten
from .predict import boundary_role, skill
from .space import Space
from .verdict import (
    CAVEATS,
    NOT_USABLE,
    USABLE,
    assess,
    closure_of,
    frozen_soil_of,
    with_frozen_soil,
)

SCHEMA_VERSION = 2
LOCK_NAME = ".sebcal-calibrate.lock"


def calibration_settings(config: RunConfig) -> dict[str, Any]:
    """The [calibration] table with defaults filled (validated by the config schema)."""
    if config.calibration is not None:
        return dict(config.calibration)
    from ..config import CalibrationTable

    return {k: f.default for k, f in CalibrationTable.model_fields.items()}


#: seconds between progress lines in the log of a calibration (batch jobs have no bar)
PROGRESS_EVERY_S = 10.0


@dataclass
class CalibrationResult:
    """What `calibrate` found and wrote."""

    out_dir: Path | None
    params: dict            # the params.json content
    best: dict[str, float]  # best-fit free parameters (physical units), last stage
    failed: int             # starts dropped because their runs failed
    exit_status: int = 0    # 0, or verdict.EXIT_NOT_USABLE
    fits: list = field(default_factory=list)   # (stage name, StageFit) of every stage
    posterior: Any = None   # posterior.Posterior of the last stage ([calibration] posterior)


@dataclass
class StageFit:
    """One stage's fit: every start's final point, the best, and the analysis."""

    config: RunConfig
    settings: dict
    space: Space
    observations: list
    windows: Any
    forcing: Any
    u: np.ndarray
    loss: np.ndarray
    failed: np.ndarray
    reason: list
    drawn: dict
    phys_best: dict
    lap: dict
    ident: dict
    priors: dict
    counts: dict = field(default_factory=dict)
    model_values: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    sim: Any = None
    params: Any = None
    checks: dict = field(default_factory=dict)
    keep: set = field(default_factory=set)
    rank: Any = None          # what picks the best start: the MAP cost, else the loss


# ============================================================================ entry point


def calibrate(config: RunConfig | str | Path, out_dir: str | Path | None, *,
              resume: bool = False,
              progress: bool = True, starts: int | None = None, figures: bool = True,
              force: bool = False, log=print, forcing: Any = None) -> CalibrationResult:
    """Calibrate the free parameters of a configuration against its observations.

    Args:
        config: a RunConfig or the path of its TOML file (with [observations.*] and
            [calibration] tables; docs/calibration.md).
        out_dir: folder for params.json, simulation.nc, report.md and the figures (created);
            None: nothing is written (no checkpoint either), the result is in memory only.
        resume: continue from ``out_dir/checkpoint.json`` (written during the run).
        progress: show a progress bar.
        starts: override the number of starts.
        figures: write the SVG figures.
        force: replace an earlier calibration in out_dir.
        log: where progress messages go.
        forcing: a Forcing to use instead of the one the configuration names (a
            configuration without stages).

    Returns:
        the :class:`CalibrationResult`; ``exit_status`` is 3 when the verdict is "not usable
        for a host".

    Raises:
        SebcalError: a bad configuration, unreadable data, every start failing, an out_dir
            that holds another calibration (without force) or that another calibration is
            writing.
    """
    t_start = time.perf_counter()
    if not isinstance(config, RunConfig):
        config = load_config(config)
    settings = calibration_settings(config)
    if starts is not None:
        if int(starts) < 1:
            raise ConfigError(f"--starts {starts}: give at least 1 start")
        settings["starts"] = int(starts)
    if out_dir is None:
        if resume:
            raise ConfigError("resume needs the output folder that holds the checkpoint")
        holder = contextlib.nullcontext()
    else:
        out_dir = Path(out_dir)
        _check_out_dir(out_dir, config, resume, force)
        make_folder(out_dir)
        holder = _lock(out_dir)

    def ckpt_path(name: str) -> Path | None:
        return None if out_dir is None else out_dir / name

    with holder:
        stages = settings.get("stages") or [None]
        fits: list[tuple[str, StageFit]] = []
        fixed: dict[str, Any] = {}
        for k, stage in enumerate(stages):
            name = stage["name"] if stage else "calibration"
            cfg = _stage_config(config, settings, stage, fixed) if stage else config
            st = calibration_settings(cfg)
            if starts is not None:
                st["starts"] = int(starts)
            if stage and len(stages) > 1:
                log(f"stage {k + 1}/{len(stages)} '{name}': free {', '.join(stage['free'])}")
            fit = _fit_stage(cfg, st, ckpt_path(f"checkpoint-{k}.json" if stage else
                                                "checkpoint.json"),
                             resume=resume, progress=progress, log=log, forcing=forcing)
            fits.append((name, fit))
            fixed.update(_fitted_values(fit))
        baseline = None
        if settings.get("baseline"):
            baseline = _baseline(fits[-1][1], ckpt_path("checkpoint-baseline.json"),
                                 progress=progress, log=log)
        from .report import build_result, write_outputs

        name, last = fits[-1]
        posterior = None
        if settings.get("posterior", "none") != "none":
            posterior = _sample_posterior(last, settings, progress=progress, log=log)
        verdict = dict(_combine_verdicts(fits))
        verdict["notes"] = [*verdict["notes"], *_prediction_notes(last, baseline)]
        kw = dict(elapsed=time.perf_counter() - t_start, verdict=verdict,
                  stages=fits if len(fits) > 1 else None, baseline=baseline,
                  posterior=posterior)
        if out_dir is None:
            params = build_result(last, **kw)
        else:
            # the set is written beside, then moved in (params.json last): a full disk or an
            # interruption leaves the earlier result or the checkpoint, never a partial set
            with output_set(out_dir, last=("params.json",)) as stage:
                params = write_outputs(stage, last, figures=figures, **kw)
            for k in range(len(stages)):
                for ck in (out_dir / f"checkpoint-{k}.json", out_dir / "checkpoint.json"):
                    if ck.exists():
                        ck.unlink()
    nf = int(last.failed.sum())
    if nf:
        log(f"{nf} of {len(last.failed)} starts failed (the scheme's error flag) and were "
            "dropped")
    return CalibrationResult(out_dir, params, dict(last.phys_best), nf,
                             verdict["exit_status"], fits=fits, posterior=posterior)


# ============================================================================ out_dir safety


def _check_out_dir(out_dir: Path, config: RunConfig, resume: bool, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise SebcalError(f"--out {out_dir} is a file; give a folder")
    inputs = config.input_files()
    target = out_dir.resolve()
    for p in inputs:
        if p == target or target in p.parents:
            raise SebcalError(f"--out {out_dir} holds an input of this calibration ({p}); "
                              "choose another folder")
    if (out_dir / "params.json").exists() and not (force or resume):
        raise SebcalError(f"{out_dir} holds an earlier calibration (params.json); pass "
                          "--force to replace it, or choose another --out")


@contextlib.contextmanager
def _lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on out_dir for the calibration (a second run is refused)."""
    import fcntl

    path = out_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise SebcalError(f"cannot write in {out_dir}: {(exc.strerror or str(exc)).lower()}; "
                          "choose a folder you can write to") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SebcalError(f"another sebcal calibrate is writing to {out_dir}; wait for it "
                              "or choose another --out") from None
        yield
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# ============================================================================ stages


def _deep_merge(base: dict, over: Mapping) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k),
                                                                                   dict) else v
    return out


def _stage_config(config: RunConfig, settings: Mapping, stage: Mapping,
                  fixed: Mapping[str, Any]) -> RunConfig:
    """The configuration of one stage: the config with the stage's overrides, the values
    fitted by earlier stages, and the stage's free parameters and priors."""
    d = config.to_dict()
    for key in ("physics", "grid", "initial", "forcing"):
        if stage.get(key):
            d[key] = _deep_merge(d.get(key, {}), stage[key])
    if "grid" in stage and stage["grid"]:
        g = stage["grid"]
        if "node_depths" in g:
            d["grid"] = {k: v for k, v in d["grid"].items() if k not in ("depth", "nodes",
                                                                          "first_spacing")}
        elif any(k in g for k in ("depth", "nodes", "first_spacing")):
            d["grid"].pop("node_depths", None)
    params = dict(d.get("parameters", {}))
    params.update({k: v for k, v in fixed.items() if k not in ("z_ref", "d0")})
    d["parameters"] = params
    cal = {k: v for k, v in dict(d.get("calibration") or {}).items()
           if k not in ("stages", "baseline", "published")}
    cal["free"] = list(stage["free"])
    cal["prior"] = dict(stage.get("prior") or {})
    cal["start_range"] = {k: v for k, v in (cal.get("start_range") or {}).items()
                          if k in stage["free"]}
    cal["bounds"] = {k: v for k, v in (cal.get("bounds") or {}).items() if k in stage["free"]}
    d["calibration"] = cal
    if stage.get("fit") is not None:
        d["observations"] = {k: {**o, "fit": k in stage["fit"]}
                             for k, o in d.get("observations", {}).items()}
    d = _drop_unused_parameters(d)
    d = _drop_unobservable(d)
    try:
        return parse_config(d, path=config.path)
    except ConfigError as exc:
        raise ConfigError(f"[calibration.stages] '{stage['name']}': {exc}") from None


def _drop_unused_parameters(d: dict) -> dict:
    """Parameters the stage's options do not use are left out (a config may not carry them)."""
    from ..spec import ModelSpec  # noqa: F401 - the options come from the vocabulary
    from ..vocabulary import PARAMETERS, default_options

    opts = default_options()
    opts.update({k: v for k, v in d.get("physics", {}).items() if k in opts})
    kind = d.get("initial", {}).get("kind", "uniform")
    opts["init"] = "profile" if kind == "observed" else kind
    params = {}
    for k, v in d["parameters"].items():
        p = PARAMETERS.get(k)
        if p is None or p.is_used(opts) or k in d["calibration"]["free"] or k in ("beta",
                                                                                  "T_init"):
            params[k] = v
    d["parameters"] = params
    return d


def _drop_unobservable(d: dict) -> dict:
    """Observations a stage's model cannot produce are left out of that stage: surface fluxes
    without a surface energy balance, depths above the top of the column."""
    top = d.get("physics", {}).get("top", "seb")
    g = d.get("grid", {})
    z0 = g["node_depths"][0] if g.get("node_depths") else g.get("top_depth", 0.0)
    keep = {}
    for k, o in d.get("observations", {}).items():
        depth = o.get("depth")
        if depth is not None and depth < z0 - 1e-12:
            continue
        if top != "seb" and o["variable"] not in ("SoilTemp", "AvgSurfT", "Qg"):
            continue
        if top == "flux" and o["variable"] == "Qg" and (depth or 0.0) <= z0:
            continue
        keep[k] = o
    d["observations"] = keep
    return d


def _fitted_values(fit: StageFit) -> dict[str, Any]:
    """Parameter name -> fitted value (a list for layered soil parameters)."""
    params = fit.params
    out = {}
    names = {c.name for c in fit.space.coords}
    for n in names:
        if n == "h":
            out["h_eff"] = params["h_eff"]
            continue
        v = params[n]
        out[n] = list(v) if isinstance(v, tuple) else v
    return out


def _combine_verdicts(fits: list[tuple[str, StageFit]]) -> dict:
    rank = {USABLE: 0, CAVEATS: 1, NOT_USABLE: 2}
    if len(fits) == 1:
        return fits[0][1].counts["verdict"]
    status = USABLE
    reasons, notes = [], []
    for name, fit in fits:
        v = fit.counts["verdict"]
        if rank[v["status"]] > rank[status]:
            status = v["status"]
        reasons += [f"{name}: {r}" for r in v["reasons"]]
        notes += [f"{name}: {r}" for r in v["notes"]]
    return {"status": status, "reasons": reasons, "notes": notes,
            "exit_status": 3 if status == NOT_USABLE else 0}


# ============================================================================ one stage


def _say_estimate(config: RunConfig, settings: Mapping, forcing: Any, est: Any, log) -> None:
    """Log the time a stage will take when it exceeds a minute: from one forward run timed
    here (what the fit repeats; docs/performance.md), else from the formula."""
    from ..estimate import duration, forward_run, measured_calibration, time_run
    from ..fortran import simulate

    seconds = est.seconds
    if settings.get("method", "lm") == "lm" and forward_run(config.spec, config.nt).seconds < 5:
        run_s = time_run(lambda: simulate(config.spec, forcing, config.params), budget_s=2.0)
        if run_s is not None:
            seconds = measured_calibration(run_s, 0.0, int(settings["starts"]),
                                           [bool(settings.get("prior"))], False)
    if seconds > 60 or est.seconds > 60:
        log(f"estimate: {est.what}: about {duration(seconds)} (one forward run timed here)")


def _fit_stage(config: RunConfig, settings: dict, ckpt: Path | None, *, resume: bool,
               progress: bool, log, forcing: Any = None) -> StageFit:
    from ..estimate import calibration as cost_of
    from ..estimate import check_memory

    nfree = len(settings["free"]) * max(1, config.spec.nlayers)
    est = cost_of(config.spec, config.nt, int(settings["starts"]), nfree,
                  len(config.observations or {}), settings.get("method", "lm"))
    check_memory(est)
    if est.seconds > 60:
        log(f"estimate: {est.text()} (from the configuration; refined once the data are read)")
    obs = load_observations(config)
    win = make_windows(config)
    forcing = forcing if forcing is not None else forcing_for(config)
    config = prepare(config, forcing, obs)
    _say_estimate(config, settings, forcing, est, log)
    # implausible values (outside the physical range, one-level spikes) are left out of the
    # fit and the skill, unless the series' table says keep = true
    checks = check_series(obs, win.calibration | win.evaluation)
    keep = {lab for lab, t in (config.observations or {}).items() if t.get("keep")}
    obs = without_flagged(obs, checks, keep)
    start_range = dict(settings["start_range"] or {})
    tb_range = _t_b_start_range(config, forcing, obs, settings)
    if tb_range is not None and "T_b" not in start_range:
        start_range["T_b"] = tb_range
    start_range.update(_guess_start_ranges(config, settings, start_range))
    space = Space.build(settings["free"], config.full_params(), config.spec.nlayers,
                        start_range, settings["bounds"])
    if "T_init" in space.free and config.init != "uniform":
        raise ConfigError(f"{config.path or 'config'}: [calibration] free has T_init, which needs "
                          f"[initial] kind = \"uniform\" (got \"{config.init}\"): a spin-up or a "
                          "given profile already sets the initial state")
    sm = forcing.soil_moisture
    theta_mean = None if sm is None else float(np.mean(sm.at_nodes(config.spec.node_depths)))
    prior_table = settings.get("prior") or {}
    prs = priors_mod.build(prior_table, list(settings["free"]), config.site, theta_mean)
    drawn = space.draw(settings["starts"], settings["seed"])
    _first_guess(space, config, drawn)
    u0 = space.to_u(drawn)
    if settings.get("method", "lm") == "lm":
        res = _run_lm(config, settings, space, obs, win, forcing, prs, u0, ckpt, resume,
                      progress, log)
    else:
        res = _run_torch(config, settings, space, obs, win, forcing, prs, u0, ckpt, resume,
                         progress, log)
    u, loss, failed, reason, A_data, A_prior, counts = res
    ok = ~failed & np.isfinite(loss)
    if not ok.any():
        raise SebcalError("every start failed (the scheme's error flag at every trial point): "
                          "check the observations, their sigma and the start ranges; first "
                          f"reason: {reason[0] if reason else '?'}")
    objective = counts.pop("_objective", None)
    rank = loss if objective is None else np.where(np.isfinite(objective), objective, np.nan)
    best = int(np.nanargmin(np.where(ok, rank, np.nan)))
    phys_all = space.to_phys_np(u)
    phys_best = {k: float(v[best]) for k, v in phys_all.items()}
    params = space.params_at(phys_best)
    fit = StageFit(config, settings, space, obs, win, forcing, u, loss, failed, reason, drawn,
                   phys_best, {}, {}, prs, counts, params=params)
    fit.checks, fit.keep, fit.rank = checks, keep, rank
    _analyse(fit, A_data[best] if A_data.ndim == 3 else A_data,
             A_prior[best] if A_prior.ndim == 3 else A_prior)
    return fit


#: half-width [K] of the T_b start range around the site's deep or mean air temperature
T_B_START_HALF_WIDTH = 5.0


def _t_b_start_range(config: RunConfig, forcing: Any, obs, settings: Mapping
                     ) -> list[float] | None:
    """Starts of T_b around what the site's data say, when T_b is fitted and the config gives
    no start range: the mean of the deepest observed soil temperature (0.3 m or deeper), else
    the mean air temperature of the forcing, +-5 K, inside the calibration bounds."""
    from ..vocabulary import PARAMETERS

    if "T_b" not in settings["free"]:
        return None
    soil = [o for o in obs if o.variable == "SoilTemp" and o.depth >= 0.3]
    if soil:
        centre = float(np.nanmean(max(soil, key=lambda o: o.depth).values))
    else:
        ta = forcing.data.get("Tair")
        if ta is None or not np.isfinite(ta).any():
            return None
        centre = float(np.nanmean(ta))
    lo, hi = (settings.get("bounds") or {}).get("T_b", PARAMETERS["T_b"].calib)
    a = max(centre - T_B_START_HALF_WIDTH, lo + 0.5)
    b = min(centre + T_B_START_HALF_WIDTH, hi - 0.5)
    return [a, b] if a < b else None


def _guess_start_ranges(config: RunConfig, settings: Mapping, given: Mapping
                        ) -> dict[str, list[float]]:
    """Starts around the user's first guesses: for a free parameter whose value the
    configuration's [parameters] give (a staged fit: also what an earlier stage fitted) and
    whose start range neither the config nor the site's data set, the default start range
    moved (in g: p or ln p) to centre on that value, inside the calibration bounds."""
    from ..vocabulary import PARAMETERS

    guesses = config.tables.get("parameters") or {}
    out = {}
    for name in settings["free"]:
        p, v = PARAMETERS.get(name), guesses.get(name)
        if p is None or name in given or not isinstance(v, (int, float)):
            continue
        lo, hi = (settings.get("bounds") or {}).get(name, p.calib)
        log = p.scale == "log"
        if not lo < v < hi or (log and (v <= 0 or lo <= 0)):
            continue
        g = np.log if log else (lambda x: x)
        half = 0.5 * (g(p.prior[1]) - g(p.prior[0]))
        margin = 1e-3 * (g(hi) - g(lo))
        a = max(g(v) - half, g(lo) + margin)
        b = min(g(v) + half, g(hi) - margin)
        if a < b:
            out[name] = [float(np.exp(a) if log else a), float(np.exp(b) if log else b)]
    return out


def _first_guess(space: Space, config: RunConfig, drawn: dict) -> None:
    """The first start is the configuration's own values of the free parameters (its
    [parameters] or their defaults), where they lie inside the start range."""
    p = config.full_params()
    for c in space.coords:
        if c.name not in p or c.name == "h":
            continue
        v = p[c.name]
        v = v[c.layer] if isinstance(v, tuple) and c.layer is not None else (
            v[0] if isinstance(v, tuple) else v)
        if v is not None and c.start[0] < float(v) < c.start[1]:
            drawn[c.label][0] = float(v)


def _analyse(fit: StageFit, A_data: np.ndarray, A_prior: np.ndarray) -> None:
    """Best run, residual statistics, Laplace, identifiability, skill and verdict."""
    from .report import best_run, parameter_entries

    config, space, obs, win = fit.config, fit.space, fit.observations, fit.windows
    sim = best_run(config, fit.forcing, fit.params, fit.phys_best)
    lam = node_lambda(config.spec, fit.params, fit.forcing)
    vals = model_equivalents(obs, sim.z, sim.T, sim.fluxes, lam)
    fit.sim, fit.model_values = sim, vals
    fitted = [o for o in obs if o.fit]
    res = [np.where(win.calibration & o.valid, (vals[o.label] - o.values) / o.sigma, np.nan)
           for o in fitted]
    n_eff, n, rho = effective_size(res)
    P = space.size
    ss = float(sum(np.nansum(r ** 2) for r in res))
    s2 = ss / max(n - P, 1)
    fit.lap = laplace_gn(space, fit.phys_best, A_data, A_prior, s2, n_eff, int(n))
    fit.lap["lag1"] = {o.label: r for o, r in zip(fitted, rho)}
    ok = ~fit.failed & np.isfinite(fit.loss)
    finals = [{k: float(v[b]) for k, v in space.to_phys_np(fit.u).items()}
              for b in range(len(fit.u)) if ok[b]]
    rank = fit.loss if fit.rank is None else fit.rank
    fit.ident = identifiability(space, fit.phys_best, fit.lap, finals,
                                [float(x) for x, g in zip(rank, ok) if g])
    both = win.calibration | win.evaluation
    checks, keep = fit.checks, fit.keep
    flags = {lab: c.problems for lab, c in checks.items()}
    suspect = {lab for lab, c in checks.items() if c.whole} - keep
    masks = {w: m for w, m in (("calibration", win.calibration),
                               ("evaluation", win.evaluation)) if m.any()}
    mets: dict[str, dict] = {"calibration": {}, "evaluation": {},
                             **skill(config, obs, masks, vals, suspect)}
    fit.metrics = mets
    fit.counts["benchmarks"] = benchmarks(
        obs, fit.forcing, config.options, masks, win.calibration,
        [o.label for o in obs if boundary_role(config, o) or o.label in suspect])
    cons = _constrained(fit.lap)
    for c in space.coords:
        if c.at_bound(fit.phys_best[c.label]):
            cons[c.label] = "bound"
    entries = parameter_entries(space, fit.params, fit.phys_best, fit.lap["std"],
                                config.options, cons)
    closure = closure_of(obs, both, exclude=suspect)
    fit.counts["closure"] = closure
    if closure is None and closure_of(obs, both) is not None:
        fit.counts["closure_left_out"] = sorted(suspect)
    if flags:
        fit.counts["observation_checks"] = {
            lab: {"problems": c.problems, "values_left_out": 0 if lab in keep else int(c.bad.sum()),
                  "series_suspect": c.whole, "kept": lab in keep} for lab, c in checks.items()}
    conflict = None
    do = fit.counts.get("data_only")
    if do:
        delta = (ss - do["ss"]) / max(do["s2"], 1e-300) * do["n_eff"] / max(do["n"], 1)
        conflict = {"delta_chi2": float(delta), "data_only": do["values"],
                    "with_prior": [c.label for c in space.coords
                                   if c.label in fit.priors or c.name in fit.priors],
                    "map": dict(fit.phys_best)}
        fit.counts["prior_data_conflict"] = conflict
    ctx = site_context(config, fit.forcing, obs, win, fit.params)
    ctx["flags"] = {lab: {"problems": c.problems, "whole": c.whole, "kept": lab in keep,
                          "left_out": int(c.bad.sum())} for lab, c in checks.items()}
    # near-0 degC soil is a caveat only when the run has no freeze-thaw; the frozen-soil
    # rule (soil at or below 0 degC) speaks when the near-freezing one has not
    ctx["freezing"] = (near_freezing(obs, both)
                       if config.options.get("freezing", "none") == "none" else [])
    verdict = assess(entries, fit.ident, mets, fit.lap, closure, conflict, ctx)
    if not ctx["freezing"]:
        verdict = with_frozen_soil(verdict, frozen_soil_of(obs, both, config.options))
    fit.counts["verdict"] = verdict
    fit.counts["entries"] = entries


def site_context(config: RunConfig, forcing: Any, obs, win, params) -> dict[str, Any]:
    """What the site's own data say, for the verdict's site rules: land cover, mean air
    temperature of the forcing [K], the deepest observed soil temperature, the measurement and
    displacement heights [m], the soil's diffusivity lambda/C at the fit [m2 s-1] (the top
    layer's), the calibration window's length [h], the soil sensors and the column depth."""
    site = config.site or {}
    ctx: dict[str, Any] = {"land_cover": site.get("land_cover"),
                           "bottom": config.options.get("bottom")}
    ta = forcing.data.get("Tair")
    if ta is not None and np.isfinite(ta).any():
        ctx["t_air_mean"] = float(np.nanmean(ta))
    soil = [o for o in obs if o.variable == "SoilTemp" and boundary_role(config, o) is None]
    soil_all = [o for o in obs if o.variable == "SoilTemp"]
    if soil_all:
        o = max(soil_all, key=lambda o: o.depth)
        ctx["t_deep"] = {"label": o.label, "depth": float(o.depth),
                         "mean": float(np.nanmean(o.values))}
    ctx["soil_sensors"] = [(o.label, float(o.depth), bool(o.fit)) for o in soil]
    if config.options.get("turbulence") == "bulk":
        ctx["z_ref"] = params["z_ref"] if "z_ref" in params else site.get(
            "measurement_height")
        ctx["d0"] = params["d0"] if "d0" in params else site.get("displacement_height")
    if "lambda" in params and "C" in params and config.options.get("soil_thermal",
                                                                    "constant") == "constant":
        lam = np.atleast_1d(params.layers("lambda", config.spec.nlayers))[0]
        C = np.atleast_1d(params.layers("C", config.spec.nlayers))[0]
        if lam > 0 and C > 0:
            ctx["diffusivity"] = float(lam / C)
    t = np.arange(config.nt + 1) * config.dt / 3600.0
    if win.calibration.any():
        ctx["window_hours"] = float(t[win.calibration][-1] - t[win.calibration][0]
                                    + config.dt / 3600.0)
    ctx["column_depth"] = float(config.spec.node_depths[-1])
    return ctx


def _constrained(lap: Mapping) -> dict[str, str]:
    share = lap.get("data_share") or {}
    return {k: ("data" if v >= 0.5 else "prior") for k, v in share.items()}


# ============================================================================ LM


def _run_lm(config, settings, space, obs, win, forcing, prs, u0, ckpt, resume, progress, log):
    from . import lm
    from .problem import Problem

    problem = Problem(config.spec, forcing, obs, win.calibration, space, prs)
    fp = _fingerprint(config, settings)
    maxit = int(settings.get("max_iterations", 100))
    kw = dict(max_iterations=maxit, ftol=float(settings["ftol"]), xtol=float(settings["xtol"]),
              gtol=float(settings["gtol"]))
    passes = 2 if prs else 1
    bar = _bar(progress, passes * maxit, "calibrating")
    saved = _load_checkpoint(ckpt, fp) if resume else None
    state = r = J = None
    start_pass = 0
    prev_saved = data_only_saved = None
    if saved is not None:
        start_pass = saved["pass"]
        problem.data_weight = saved["data_weight"]
        problem.use_priors = start_pass == passes - 1
        state = lm.LMState.from_dict(saved["state"])
        if saved.get("prev"):
            prev_saved = lm.LMState.from_dict(saved["prev"])
            data_only_saved = saved.get("data_only")
        ev = problem.evaluate(state.u, jac=True)
        r, J = ev.r, ev.J
        log(f"resuming from {ckpt}: pass {start_pass + 1}, iteration {state.iteration}")

    prev = prev_saved
    data_only = data_only_saved
    roots = None if prev is None else np.flatnonzero(~prev.failed & (prev.merged < 0))

    t_loop = time.perf_counter()
    last_line = [t_loop]

    def progress_line(st, pass_no):
        # a line in the log every 10 s (batch jobs have no progress bar): iteration, active
        # starts, best loss, and the time left if every active start ran to the limit
        now = time.perf_counter()
        if now - last_line[0] < PROGRESS_EVERY_S:
            return
        last_line[0] = now
        it = max(st.iteration, 1)
        per_it = (now - t_loop) / it
        left = per_it * (maxit - st.iteration) * (passes - pass_no)
        best = np.nanmin(np.where(st.failed, np.nan, st.cost))
        log(f"pass {pass_no + 1}/{passes}, iteration {st.iteration}: {int(st.active.sum())} "
            f"starts active, best cost {best:.4g}; at most {left:.0f} s left")

    def checkpoint(st, pass_no):
        progress_line(st, pass_no)
        if ckpt is not None:
            write_text(ckpt, json.dumps({"fingerprint": fp, "pass": pass_no,
                                         "data_weight": problem.data_weight,
                                         "state": st.to_dict(),
                                         "prev": None if prev is None else prev.to_dict(),
                                         "data_only": data_only}))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(active=int(st.active.sum()),
                            best=f"{np.nanmin(np.where(st.failed, np.nan, st.cost)):.4g}")

    with _interruptible(ckpt, bar):
        for pass_no in range(start_pass, passes):
            # with priors: pass 0 fits the data alone, pass 1 the MAP estimate
            problem.use_priors = pass_no == passes - 1
            if state is None:
                u_start = u0 if pass_no == 0 else np.vstack(
                    [prev.u[roots], _prior_starts(space, prs, prev)])
                state, r, J = lm.start(problem, u_start)
                checkpoint(state, pass_no)
            state, r, J = lm.levenberg_marquardt(problem, state, r, J,
                                                 callback=lambda st, p=pass_no: checkpoint(st, p),
                                                 **kw)
            if pass_no + 1 < passes:
                # weight the data by what the residuals of the best fit show
                prev = state
                roots = np.flatnonzero(~prev.failed & (prev.merged < 0))
                best = int(np.nanargmin(np.where(state.failed, np.nan, state.cost)))
                nd = problem.n_data
                rd = r[best, :nd] / np.sqrt(problem.data_weight)
                n_eff, n, _ = effective_size(_split_rows(problem, rd))
                ss = float(np.sum(rd ** 2))
                s2 = ss / max(n - space.size, 1)
                data_only = {"ss": ss, "s2": s2, "n_eff": n_eff, "n": n,
                             "values": {k: float(v[best])
                                        for k, v in space.to_phys_np(state.u).items()}}
                problem.data_weight = (n_eff / max(n, 1)) / max(s2, 1e-300)
                log(f"MAP: data weight N_eff/(N s^2) = {problem.data_weight:.3g} "
                    f"(N_eff {n_eff:.0f} of {n:.0f}, s^2 {s2:.3g}); fitting with the priors from "
                    f"the {roots.size} distinct data-only optima")
                state = None
    if roots is not None and len(state.u) > roots.size:
        state, r, J = _take_extra(state, r, J, roots.size)
    nd = problem.n_data
    w = problem.data_weight
    loss = np.sum(r[:, :nd] ** 2, axis=1) / w / nd
    loss[state.failed] = np.nan
    Jd = J[:, :nd] / np.sqrt(w)
    Jp = J[:, nd:]
    A_data = np.einsum("bnp,bnq->bpq", np.nan_to_num(Jd), np.nan_to_num(Jd))
    A_prior = np.einsum("bnp,bnq->bpq", np.nan_to_num(Jp), np.nan_to_num(Jp))
    u, failed, reason = state.u, state.failed, list(state.reason)
    objective = np.where(state.failed, np.nan, state.cost)     # what the last pass minimised
    if roots is not None:
        # every original start ends where the optimum it reached in pass 1 ended in pass 2
        where = {int(a): k for k, a in enumerate(roots)}
        B = len(prev.u)
        idx = np.zeros(B, dtype=int)
        bad = prev.failed.copy()
        for b in range(B):
            a = b
            while prev.merged[a] >= 0:
                a = int(prev.merged[a])
            if a in where:
                idx[b] = where[a]
            else:
                bad[b] = True
        u, loss, A_data, A_prior = u[idx], loss[idx], A_data[idx], A_prior[idx]
        objective = objective[idx]
        failed = bad | state.failed[idx]
        reason = [(prev.reason[b] if bad[b] else
                   f"pass 1: {prev.reason[b]}; MAP pass: {state.reason[idx[b]]}")
                  for b in range(B)]
    counts = {"method": "lm", "iterations": state.iteration, "evaluations": state.evaluations,
              "runs": state.runs, "data_weight": w, "passes": passes}
    if data_only is not None:
        counts["data_only"] = data_only
        # a MAP fit's best start is the one with the lowest posterior cost, not data misfit
        counts["_objective"] = objective
    return u, loss, failed, list(reason), A_data, A_prior, counts


def _prior_starts(space: Space, prs: Mapping, prev) -> np.ndarray:
    """Extra starts of the MAP pass: the best data-only optimum with every coordinate that has
    a prior moved to the prior's median (mean), which also takes a coordinate off a bound the
    data pushed it to (there dp/du vanishes and the prior alone could not move it)."""
    ok = ~prev.failed & np.isfinite(prev.cost)
    best = int(np.nanargmin(np.where(ok, prev.cost, np.nan)))
    u = prev.u[best].copy()
    for k, c in enumerate(space.coords):
        pr = prs.get(c.label) or prs.get(c.name)
        if pr is None:
            continue
        centre = float(np.exp(pr.center)) if pr.kind == "lognormal" else float(pr.center)
        lo, hi = c.bounds
        centre = min(max(centre, lo + 1e-6 * (hi - lo)), hi - 1e-6 * (hi - lo))
        u[k] = float(c.to_u(np.float64(centre)))
    return u[None, :]


def _take_extra(state, r, J, n_roots: int):
    """After the MAP pass: when an extra start (rows from n_roots on) reached a lower MAP cost
    than every optimum that came from the data-only pass, it replaces the best of those; the
    extra rows are then dropped (every original start maps to one of the first n_roots)."""
    from . import lm

    cost = np.where(state.failed, np.inf, state.cost)
    k_root = int(np.argmin(cost[:n_roots]))
    k_extra = n_roots + int(np.argmin(cost[n_roots:]))
    take = cost[k_extra] < cost[k_root] * (1 - 1e-9)
    d = state.to_dict()
    for key in ("u", "cost", "mu", "nu", "active", "failed", "merged"):
        a = np.array(d[key])
        if take:
            a[k_root] = a[k_extra]
        d[key] = a[:n_roots].tolist()
    merged = np.array(d["merged"])
    merged[merged >= n_roots] = -1
    d["merged"] = merged.tolist()
    reason = list(state.reason)
    if take and reason:
        reason[k_root] = f"{reason[k_extra]} (from the prior's median)"
    d["reason"] = reason[:n_roots]
    r, J = r.copy(), J.copy()
    if take:
        r[k_root], J[k_root] = r[k_extra], J[k_extra]
    return lm.LMState.from_dict(d), r[:n_roots], J[:n_roots]


def _split_rows(problem, rd: np.ndarray) -> list[np.ndarray]:
    """Data rows of one start split back into per-series arrays over the levels."""
    out = []
    k = 0
    for sel in problem._sel:
        m = int(sel.sum())
        full = np.full(sel.size, np.nan)
        full[sel] = rd[k:k + m]
        out.append(full)
        k += m
    return out


# ============================================================================ torch


def _run_torch(config, settings, space, obs, win, forcing, prs, u0, ckpt, resume, progress, log):
    import torch

    from .objective import Objective
    from .optimize import OptimState, adam, hessian, lbfgs

    if prs:
        raise ConfigError("[calibration] method = \"adam_lbfgs\" has no priors; use method = "
                          "\"lm\" for a MAP fit")
    objective = Objective(config.spec, forcing, obs, win.calibration, space)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    fp = _fingerprint(config, settings)
    state = OptimState(u0, np.full(len(u0), np.nan), np.zeros(len(u0), bool),
                       np.zeros(len(u0), bool))
    if resume:
        saved = _load_checkpoint(ckpt, fp)
        if saved is not None:
            state = OptimState.from_dict(saved["state"])
            log(f"resuming from {ckpt}: stage {state.stage}, iteration {state.iteration}")
    total = settings["adam_iterations"] + settings["lbfgs_iterations"]
    bar = _bar(progress, total, "calibrating")
    if bar is not None:
        bar.update(min(state.iteration + (settings["adam_iterations"]
                                          if state.stage != "adam" else 0), total))

    def checkpoint(st: OptimState) -> None:
        if ckpt is not None:
            write_text(ckpt, json.dumps({"fingerprint": fp, "state": st.to_dict()}))
        if bar is not None:
            bar.update(1)

    with _interruptible(ckpt, bar):
        if state.stage == "adam":
            state = adam(objective, state, settings["adam_iterations"], settings["adam_lr"],
                         callback=checkpoint)
        if state.stage == "lbfgs":
            state = lbfgs(objective, state, settings["lbfgs_iterations"], ftol=settings["ftol"],
                          gtol=settings["gtol"], callback=checkpoint)
    ok = ~state.failed & np.isfinite(state.loss)
    best = int(np.nanargmin(np.where(ok, state.loss, np.nan))) if ok.any() else 0
    H = hessian(objective, state.u[best:best + 1])[0]
    A_data = H * objective.n_terms / 2.0
    A_prior = np.zeros_like(A_data)
    counts = {"method": "adam_lbfgs", "iterations": state.iteration}
    return state.u, state.loss, state.failed, list(state.reason), A_data, A_prior, counts


# ============================================================================ prediction


def _prediction_notes(fit: StageFit, baseline: dict | None) -> list[str]:
    """What the evaluation window says against simpler predictors: the series a linear
    regression on the forcing predicts better (calibration/benchmarks.py), and whether the
    published model fitted beside ([calibration] baseline) predicts better on the series
    both score (mean evaluation RMSE/sigma, as `sebcal compare` ranks)."""
    notes = []
    window = "evaluation" if fit.metrics.get("evaluation") else "calibration"
    lost = not_beaten(fit.metrics, fit.counts.get("benchmarks") or {}, window)
    if lost:
        notes.append(f"a linear regression on the forcing (empirical benchmark) predicts the "
                     f"{window} window better on {len(lost)} series: "
                     + "; ".join(f"{k}: RMSE {a:.3g} against {b:.3g}" for k, a, b in lost))
    if baseline and window == "evaluation":
        ours, base = fit.metrics["evaluation"], baseline["metrics"].get("evaluation", {})
        common = [k for k, m in ours.items() if k in base and not m.get("role")
                  and not m.get("suspect") and np.isfinite(m["rmse"])
                  and np.isfinite(base[k]["rmse"])]
        if common:
            a = float(np.mean([ours[k]["rmse"] / ours[k]["sigma"] for k in common]))
            b = float(np.mean([base[k]["rmse"] / ours[k]["sigma"] for k in common]))
            if b < a:
                nfree = len(baseline.get("free") or [])
                notes.append(f"the published model fitted beside ({nfree} free parameters) "
                             f"predicts the evaluation window better: mean RMSE/sigma {b:.3g} "
                             f"against {a:.3g} over {len(common)} series; `sebcal compare` "
                             "ranks option sets on held-out data")
    return notes


# ============================================================================ posterior


def _sample_posterior(fit: StageFit, settings: Mapping[str, Any], *, progress: bool, log):
    """Sample the posterior of a stage's fit (calibration/posterior.py) from its best fit."""
    from .posterior import AUTO, sample_emcee, sample_nuts
    from .problem import Problem

    method = settings["posterior"]
    method = AUTO if method == "auto" else method
    lap, win = fit.lap, fit.windows
    n = int(sum((win.calibration & o.valid).sum() for o in fit.observations if o.fit))
    w = (lap["n_eff"] / max(n, 1)) / max(lap["s2"], 1e-300)
    ok = ~fit.failed & np.isfinite(fit.loss)
    u_best = fit.u[int(np.nanargmin(np.where(ok, fit.loss, np.nan)))]
    cov = np.asarray(lap["cov_u"], dtype=float)
    steps, seed = int(settings.get("posterior_steps", 2000)), int(settings.get("seed", 0))
    try:
        __import__("emcee" if method == "emcee" else "pyro")
    except ImportError:
        raise ConfigError(f"[calibration] posterior = \"{method}\" needs the "
                          f"{'emcee' if method == 'emcee' else 'pyro-ppl'} package: pip install "
                          "'sebcal[posterior]'") from None
    log(f"posterior: sampling with {method} from the best fit")
    if method == "emcee":
        problem = Problem(fit.config.spec, fit.forcing, fit.observations, win.calibration,
                          fit.space, fit.priors, data_weight=w)
        post = sample_emcee(problem, u_best, cov, steps=steps, seed=seed, progress=progress)
    else:
        post = sample_nuts(fit.config, fit.forcing, fit.observations, win.calibration,
                           fit.space, fit.priors, w, u_best, cov, steps=steps, seed=seed,
                           progress=progress)
    log(f"posterior: {post.ess_min:.0f} effective samples in {post.seconds:.1f} s "
        f"({post.ess_per_second:.3g} per second)")
    return post


# ============================================================================ baseline


def _baseline(fit: StageFit, ckpt: Path, *, progress: bool, log) -> dict | None:
    """Fit the published model (h_eff, paper longwave, Dirichlet bottom, one soil) to the same
    observations, for the skill table "beside the published model"."""
    config = fit.config
    if config.spec.node_depths[0] != 0.0:
        return None
    d = config.to_dict()
    labels = {o.label: o for o in fit.observations}
    d["physics"] = {"wind_min": d.get("physics", {}).get("wind_min", 1.0)}
    d["soil"] = {}
    d.pop("soil")
    p0 = config.full_params()
    split = any(o.variable in ("Qh", "Qle") for o in labels.values())
    free = ["h", "beta", "lambda", "C", "T_b"] if split else ["h_eff", "lambda", "C", "T_b"]
    params = {"alpha": p0.get("alpha", 0.2), "eps": p0.get("eps", 0.95),
              "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}
    if split:
        params.update(h=15.0, beta=1.5)
    else:
        params["h_eff"] = 25.0
    d["parameters"] = params
    cal = {k: v for k, v in d["calibration"].items() if k not in ("stages", "baseline",
                                                                   "published", "prior")}
    cal.update(free=free, start_range={}, bounds={}, method="lm")
    d["calibration"] = cal
    d["initial"] = {"kind": "uniform"}
    d["forcing"] = {k: v for k, v in d["forcing"].items()
                    if k not in ("soil_moisture", "top", "bottom")}
    d["observations"] = {k: o for k, o in d["observations"].items()
                         if labels[k].variable not in ("Qg",) or not labels[k].depth}
    try:
        cfg = parse_config(d, path=config.path)
    except ConfigError as exc:
        log(f"baseline (published model) skipped: {exc}")
        return None
    log("baseline: the published model on the same observations")
    bf = _fit_stage(cfg, calibration_settings(cfg), ckpt, resume=False, progress=progress,
                    log=log)
    if ckpt is not None and ckpt.exists():
        ckpt.unlink()
    return {"free": free, "parameters": {k: _num(v) for k, v in bf.phys_best.items()},
            "metrics": bf.metrics, "verdict": bf.counts["verdict"]["status"]}


def _num(x):
    return float(x) if np.isfinite(x) else None


# ============================================================================ helpers


def _fingerprint(config: RunConfig, settings: Mapping[str, Any]) -> str:
    d = config.to_dict()
    d["calibration"] = dict(settings)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _load_checkpoint(ckpt: Path, fp: str) -> dict | None:
    if not ckpt.exists():
        raise SebcalError(f"--resume: no checkpoint at {ckpt}; run without --resume first")
    try:
        saved = json.loads(ckpt.read_text())
    except (OSError, ValueError) as exc:
        raise SebcalError(f"--resume: the checkpoint {ckpt} is unreadable ({exc}); remove it "
                          "and run without --resume") from None
    if not isinstance(saved, dict) or saved.get("fingerprint") != fp:
        raise SebcalError(f"--resume: {ckpt} belongs to a different configuration or settings; "
                          "remove it or run without --resume")
    return saved


@contextlib.contextmanager
def _interruptible(ckpt: Path | None, bar) -> Iterator[None]:
    """Ctrl-C during an optimisation becomes Interrupted, saying what was kept; the progress
    bar is closed either way."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: the last complete iteration is saved in {ckpt}; "
                          "continue with --resume" if ckpt is not None else
                          "interrupted (no output folder: nothing was saved)") from None
    finally:
        if bar is not None:
            bar.close()


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal, nothing in a log file or CI
    return tqdm(total=total, desc=desc, unit="it", leave=False, disable=None, mininterval=0.5)


__all__ = ["calibrate", "CalibrationResult", "calibration_settings", "SCHEMA_VERSION",
           "StageFit"]
