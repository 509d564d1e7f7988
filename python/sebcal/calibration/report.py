"""Outputs of a calibration: params.json, simulation.nc, report.md and SVG figures (drawn by
sebcal.plots with matplotlib).

Every file is written to a temporary name and renamed (sebcal.output.atomic_path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..fortran import simulate
from ..output import write_simulation, write_text
from ..params import Params
from ..paramsfile import SCHEMA_VERSION, write_params
from ..vocabulary import parameter
from .space import Space


def _num(x: Any) -> Any:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def best_run(config: Any, forcing: Any, params: Params, phys_best: Mapping[str, float]):
    """The Fortran run at the best fit (a fitted T_init becomes the initial profile)."""
    prof = None
    if "T_init" in phys_best:
        prof = np.full(config.spec.nz, float(phys_best["T_init"]))
    spec = config.spec.replace(init="profile") if prof is not None else config.spec
    return simulate(spec, forcing, params, init_profile=prof)


def published_summary(settings: Mapping[str, Any]) -> dict | None:
    """Mean, std, min, max of published final values per parameter (if configured)."""
    pub = settings.get("published")
    if not pub:
        return None
    rows = [np.loadtxt(f, ndmin=2)[1::2] for f in pub["files"]]       # final rows
    a = np.vstack(rows)
    vals = {c: a[:, i] for i, c in enumerate(pub["columns"])}
    if "h" in vals and "beta" in vals and "h_eff" not in vals:
        vals["h_eff"] = vals["h"] * (1 + 1 / vals["beta"])
    return {"n": int(a.shape[0]), "source": pub.get("source", ""),
            "stats": {k: {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                          "max": float(v.max())} for k, v in vals.items()}}


def parameter_entries(space: Space, params: Params, phys_best: Mapping[str, float],
                      std: Mapping[str, float | None], options: Mapping[str, str],
                      constrained: Mapping[str, str] | None = None) -> dict[str, dict]:
    """params.json "parameters": every parameter the model uses (fitted or fixed)."""
    nl = space.nlayers
    by_name: dict[str, list] = {}
    for c in space.coords:
        by_name.setdefault(c.name, []).append(c)
    out: dict[str, dict] = {}
    for name in list(params) + (["h"] if "h" in by_name else []):
        if name == "T_init" and name not in by_name:
            continue
        p = parameter(name)
        cs = by_name.get(name, [])
        if name == "h":
            value = float(phys_best["h"])
        else:
            value = params[name]
        entry: dict[str, Any] = {"unit": p.unit, "fitted": bool(cs),
                                 "plausible": list(p.plausible)}
        if p.group == "soil" and nl > 1:
            vals = list(params.layers(name, nl))
            entry["value"] = vals
            if cs:
                stds = [None] * nl
                bound = [None] * nl
                cons = [None] * nl
                for c in cs:
                    for k in ([c.layer] if c.layer is not None else range(nl)):
                        stds[k] = _num(std.get(c.label))
                        bound[k] = c.at_bound(phys_best[c.label])
                        cons[k] = (constrained or {}).get(c.label)
                entry.update(std=stds, bounds=list(cs[0].bounds), at_bound=bound,
                             constrained_by=cons)
            else:
                entry["std"] = None
        else:
            entry["value"] = float(value if not isinstance(value, tuple) else value[0])
            if cs:
                c = cs[0]
                entry.update(std=_num(std.get(c.label)), bounds=list(c.bounds),
                             at_bound=c.at_bound(phys_best[c.label]),
                             constrained_by=(constrained or {}).get(c.label))
            else:
                entry["std"] = None
        out[name] = entry
    if "h" in by_name:
        out["h_eff"]["derived"] = "h (1 + 1/beta)"
    return out


def write_outputs(out_dir: Path, fit: Any, *, figures: bool = True, elapsed: float = 0.0,
                  verdict: dict | None = None, stages: list | None = None,
                  baseline: dict | None = None, posterior: Any = None) -> dict:
    """Write params.json, simulation.nc, report.md and the figures of a calibration's last
    stage (earlier stages summarised); return params.json's content."""
    result = build_result(fit, elapsed=elapsed, verdict=verdict, stages=stages,
                          baseline=baseline, posterior=posterior)
    space = fit.space
    forcing, sim = fit.forcing, fit.sim
    write_params(out_dir / "params.json", result)
    write_simulation(out_dir / "simulation.nc", forcing.time, sim.z, sim.T, sim.fluxes,
                     **simulation_extras(fit, result["config"]))
    figs = []
    if figures:            # after the result files: a figure's failure cannot lose them
        figs = _figures(out_dir, fit, result["published"], stages)
        if posterior is not None:
            from .posterior import pair_figure

            fig = pair_figure(posterior, fit.phys_best, {c.label: c.unit for c in space.coords})
            if fig is not None:
                _save_svg(fig, out_dir / "posterior.svg")
                figs.append(("posterior.svg", "Posterior draws for each pair of free "
                                              "parameters, the best fit marked"))
    write_text(out_dir / "report.md", _report(result, space, figs))
    return result


def simulation_extras(fit: Any, cfg: dict) -> dict:
    """The keyword arguments of the best-fit simulation file (and Dataset): the observations
    beside the model, the configuration, the site."""
    obs = fit.observations
    return dict(config=cfg, title="sebcal calibration: best fit over both windows",
                extra={f"obs_{o.label}": o.values for o in obs},
                attrs={f"obs_{o.label}": {"long_name": f"observed {o.describe()}",
                                           "units": o.units, "source": o.source} for o in obs},
                site=fit.config.site)


def build_result(fit: Any, *, elapsed: float = 0.0, verdict: dict | None = None,
                 stages: list | None = None, baseline: dict | None = None,
                 posterior: Any = None) -> dict:
    """The content of params.json for a calibration's last stage (nothing is written)."""
    config, settings, space = fit.config, fit.settings, fit.space
    obs, win, forcing = fit.observations, fit.windows, fit.forcing
    params, phys_best, lap = fit.params, fit.phys_best, fit.lap
    sim = fit.sim
    parameters = dict(fit.counts["entries"])
    stage_rows = []
    if stages:
        for name, sf in stages:
            stage_rows.append({
                "name": name, "free": list(sf.space.free),
                "values": {k: _num(v) for k, v in sf.phys_best.items()},
                "std": {k: _num(v) for k, v in sf.lap["std"].items()},
                "metrics": sf.metrics, "verdict": sf.counts["verdict"],
                "options": dict(sf.config.options)})
            if sf is fit:
                continue
            for pname, entry in sf.counts["entries"].items():
                if entry.get("fitted") and not parameters.get(pname, {}).get("fitted"):
                    parameters[pname] = dict(entry)
    starts = stage_starts(fit)
    cfg = config.to_dict()
    cfg["parameters"] = {k: v for k, v in params.to_dict().items() if k not in ("z_ref", "d0")}
    for pname, entry in parameters.items():
        if entry.get("fitted") and pname in cfg["parameters"] and pname != "h":
            cfg["parameters"][pname] = entry["value"]
    if "T_init" in phys_best:
        cfg["initial"] = {k: v for k, v in cfg["initial"].items() if k not in ("kind", "profile")}
        cfg["initial"].update(kind="profile", profile=[float(phys_best["T_init"])] * len(sim.z))
        cfg["parameters"].pop("T_init", None)
    if cfg.get("calibration"):
        cfg["calibration"].pop("stages", None)
    pub = published_summary(settings)
    ok = ~fit.failed & np.isfinite(fit.loss)
    rank = fit.loss if getattr(fit, "rank", None) is None else fit.rank
    best = int(np.nanargmin(np.where(ok, rank, np.nan)))
    result = {
        "schema_version": SCHEMA_VERSION,
        "sebcal_version": __version__,
        "parameters": parameters,
        "verdict": verdict,
        "correlation": {"names": list(space.free),
                        "matrix": [[_num(x) for x in row] for row in lap["correlation"]]},
        "identifiability": {"ok": fit.ident["ok"], "summary": fit.ident["summary"],
                            "status": fit.ident["status"], "findings": fit.ident["findings"],
                            "directions": fit.ident["directions"],
                            "pinned": fit.ident.get("pinned") or {},
                            "optima": fit.ident.get("optima")},
        "metrics": fit.metrics,
        "fit": {"loss": _num(fit.loss[best]),
                "n_terms": int(sum((win.calibration & o.valid).sum() for o in obs if o.fit)),
                "n_eff": _num(lap.get("n_eff")), "error_bar_inflation": _num(lap.get("inflation")),
                "lag1_autocorrelation": {k: _num(v) for k, v in (lap.get("lag1") or {}).items()},
                "residual_variance": lap["s2"], "starts": int(fit.u.shape[0]),
                "failed_starts": int(fit.failed.sum()), "elapsed_s": float(elapsed),
                "soil_moisture_mean": _soil_moisture_mean(config, forcing),
                "calibration_window": list(win.calibration_span),
                "evaluation_window": list(win.evaluation_span) if win.evaluation_span else None,
                **{k: v for k, v in fit.counts.items()
                   if k not in ("verdict", "entries", "closure", "benchmarks")}},
        "starts": starts,
        "published": pub,
        "priors": {k: pr.to_dict() for k, pr in fit.priors.items()} or None,
        "baseline": baseline,
        "closure": fit.counts.get("closure"),
        "config": cfg,
    }
    if stage_rows:
        result["stages"] = stage_rows
    if posterior is not None:
        result["posterior"] = posterior.summary()
    if fit.counts.get("benchmarks"):
        result["benchmarks"] = fit.counts["benchmarks"]
    if verdict is None:
        result.pop("verdict")
    return result


def _soil_moisture_mean(config: Any, forcing: Any) -> float | None:
    """Mean observed soil moisture over the column and the run [m3 m-3] (host exports convert
    moisture-dependent parameters at it), or None without soil moisture."""
    sm = getattr(forcing, "soil_moisture", None)
    if sm is None:
        return None
    return float(np.mean(sm.at_nodes(config.spec.node_depths)))


# ------------------------------------------------------------------------------------ figures
# Every figure is drawn by sebcal.plots (matplotlib, imported when a figure is drawn): the
# report saves them as SVG after params.json and simulation.nc are written, and
# Calibration.plot returns the same figures.

#: figure kind -> (file name, caption)
FIGURES: dict[str, tuple[str, str]] = {
    "series": ("series.svg", "Observed (dots) and best-fit model (line), residuals beside; "
                             "shading marks the calibration and evaluation windows; value axes "
                             "span the scored windows (with a soil profile, of its sensors only "
                             "the fitted ones: the others are in the profile figure)"),
    "diurnal": ("diurnal.svg", "Mean diurnal cycle, observed and modelled, over the scored "
                               "windows (local standard time)"),
    "scatter": ("scatter.svg", "Modelled against observed values, calibration and evaluation "
                               "windows apart, with the 1:1 line"),
    "profile": ("profile.svg", "Soil temperature by depth and time: observed, modelled and "
                               "their difference"),
    "multistart": ("multistart.svg", "Every start's initial and final values for each pair of "
                                     "free parameters, with the best estimate, the calibration "
                                     "bounds and the plausible ranges"),
    "correlation": ("correlation.svg", "Correlation matrix of the fitted parameters from the "
                                       "Hessian at the optimum"),
}


def stage_starts(fit: Any) -> list[dict]:
    """Every start of a stage: initial and final values (physical units), loss, failed."""
    starts = []
    phys_u = fit.space.to_phys_np(fit.u)
    for b in range(fit.u.shape[0]):
        starts.append({"initial": {k: float(v[b]) for k, v in fit.drawn.items()},
                       "final": {k: float(v[b]) for k, v in phys_u.items()},
                       "loss": _num(fit.loss[b]), "failed": bool(fit.failed[b]),
                       "stopped": fit.reason[b] if fit.reason else ""})
    return starts


def figure(kind: str, fit: Any, *, published: Mapping[str, Any] | None = None,
           ax: Any = None, **kw: Any) -> Any:
    """A matplotlib Figure of a stage's fit (``kind`` one of :data:`FIGURES`), or None when
    the fit has nothing to draw (one free parameter: no pairs; fewer than three soil
    depths: no profile). ``ax`` draws one panel into the caller's axes; other keywords go to
    the plots function (``observation=`` for the series, diurnal and scatter figures)."""
    from .. import plots

    site = plots.Site.from_config(fit.config.site)
    obs, model, win, time = fit.observations, fit.model_values, fit.windows, fit.forcing.time
    if kw.get("observation") is None:
        # a series the plausibility checks flagged as a whole (and the user did not keep)
        # judges the sensor, not the model: it stays out of the figures as out of the skill
        checks = (getattr(fit, "counts", None) or {}).get("observation_checks") or {}
        suspect = {lab for lab, c in checks.items()
                   if c.get("series_suspect") and not c.get("kept")}
        obs = [o for o in obs if o.label not in suspect]
    if kind == "series":
        if kw.get("observation") is None and ax is None:
            # a profile (three or more soil depths) is drawn as heat maps: of its sensors the
            # series figure keeps the fitted ones
            prof = plots.profile_observations(obs)
            if len(prof) >= 3:
                obs = [o for o in obs if o.fit or all(o is not p for p in prof)]
        return plots.series(obs, model, time, win, site, ax=ax, **kw)
    if kind == "diurnal":
        return plots.diurnal(obs, model, time, win, site, ax=ax, **kw)
    if kind == "scatter":
        return plots.observed_vs_modelled(obs, model, win, site, ax=ax, **kw)
    if kind == "profile":
        return plots.profile(obs, model, time, win, site)
    space = fit.space
    free = list(space.free)
    if kind == "multistart":
        coords = {c.label: c for c in space.coords if c.label in free}
        data_only = (fit.counts.get("data_only") or {}).get("values")
        return plots.pairs(
            free, {k: c.unit for k, c in coords.items()}, stage_starts(fit),
            {k: float(fit.phys_best[k]) for k in free if k in fit.phys_best},
            {k: fit.lap["std"].get(k) for k in free},
            bounds={k: tuple(c.bounds) for k, c in coords.items()},
            plausible={k: tuple(parameter(c.name).plausible) for k, c in coords.items()},
            data_only=data_only, log={k: c.log for k, c in coords.items()},
            published=published, site=site, ax=ax, **kw)
    if kind == "correlation":
        return plots.correlation(free, fit.lap["correlation"], site, ax=ax)
    raise ValueError(f"figure kind {kind!r}: choose one of {', '.join(FIGURES)}")


def _figures(out_dir: Path, fit: Any, published: Mapping[str, Any] | None,
             stages: list | None = None) -> list[tuple[str, str]]:
    """Save every figure of the last stage (series.svg, ...) and of each earlier stage
    (<stage>-series.svg, ...) as SVG; return (file, caption) pairs for the report."""
    figs = []
    todo = [(f"{name}-", f"stage {name}: ", sf) for name, sf in (stages or [])[:-1]]
    todo.append(("", "", fit))
    for prefix, lead, sf in todo:
        for kind, (fname, caption) in FIGURES.items():
            fig = figure(kind, sf, published=published if sf is fit else None)
            if fig is None:
                continue
            path = out_dir / f"{prefix}{fname}"
            _save_svg(fig, path)
            figs.append((path.name, lead + caption))
    return figs


def _save_svg(fig: Any, path: Path) -> None:
    """A matplotlib figure as SVG, atomically; text stays text (searchable, read by screen
    readers; half the size of glyphs drawn as paths)."""
    import matplotlib

    from ..output import atomic_path

    with atomic_path(path) as tmp, matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(tmp, format="svg")


# ------------------------------------------------------------------------------------ report

def _fmt(x: Any, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, (list, tuple)):
        return ", ".join(_fmt(v) for v in x)
    ax = abs(x)
    return f"{x:.4g}" if ax == 0 or 1e-3 <= ax < 1e5 else f"{x:.4e}"


def _skill_table(mets: dict, base: dict | None, bench: dict | None = None) -> list[str]:
    head = "| window | observation | RMSE | bias | r | n | unit |"
    sep = "|---|---|---|---|---|---|---|"
    if base:
        head += " RMSE, published model |"
        sep += "---|"
    if bench:
        head += " RMSE, linear regression |"
        sep += "---|"
    lines = [head + " |", sep + "---|"]
    for window in ("calibration", "evaluation"):
        for name, m in mets[window].items():
            row = (f"| {window} | {name} | {_fmt(m['rmse'])} | {_fmt(m['bias'])} | "
                   f"{_fmt(m['r'])} | {m['n']} | {m['unit']} | ")
            if base:
                bm = base["metrics"].get(window, {}).get(name)
                row += f"{_fmt(bm['rmse']) if bm else '–'} | "
            if bench:
                b = bench.get(window, {}).get(name)
                row += f"{_fmt(b['rmse']) if b else '–'} | "
            role = m.get("role") or ("fitted" if m.get("fitted") else "evaluated only")
            if m.get("suspect"):
                role += "; flagged implausible, out of the verdict's skill rules"
            lines.append(row + f"{role} |")
    return lines


def _report(result: dict, space: Space, figs: list[tuple[str, str]]) -> str:
    fit = result["fit"]
    site = ((result.get("config") or {}).get("site") or {}).get("name")
    lines = [f"# sebcal calibration report: {site}" if site else "# sebcal calibration report",
             ""]
    v = result.get("verdict")
    if v:
        lines += [f"## Verdict: **{v['status']}**", ""]
        lines += [f"* {r}" for r in v["reasons"]] or ["* no reservations: plausible values, "
                                                       "identifiable, skill that holds"]
        if v.get("notes"):
            lines += ["", "Notes:", ""] + [f"* {n}" for n in v["notes"]]
        if v["status"] == "not usable for a host":
            lines += ["", "`sebcal calibrate` exits with status 3; `sebcal export` refuses this "
                      "result unless `--allow-implausible` is given."]
        lines.append("")
    lines += [f"sebcal {result['sebcal_version']}; {fit['starts']} starts "
              f"({fit['failed_starts']} failed, method {fit.get('method', 'lm')}), "
              f"{fit['n_terms']} observed values in the calibration window "
              f"{fit['calibration_window'][0]} – {fit['calibration_window'][1]}"
              + (f"; evaluation window {fit['evaluation_window'][0]} – "
                 f"{fit['evaluation_window'][1]}" if fit["evaluation_window"] else "")
              + f"; {fit['elapsed_s']:.1f} s.", ""]
    if result.get("stages"):
        lines += ["## Stages", "", "| stage | free | fitted values | verdict of the stage |",
                  "|---|---|---|---|"]
        for st in result["stages"]:
            vals = ", ".join(f"{k} = {_fmt(x)}" + (f" ± {_fmt(st['std'].get(k))}"
                                                   if st["std"].get(k) is not None else "")
                             for k, x in st["values"].items())
            lines.append(f"| {st['name']} | {', '.join(st['free'])} | {vals} | "
                         f"{st['verdict']['status']} |")
        lines.append("")
    lines += ["## Parameters", "",
              "| parameter | value | std (1 sigma) | unit | plausible range | determined by | |",
              "|---|---|---|---|---|---|---|"]
    for name, p in result["parameters"].items():
        note = "fitted" if p.get("fitted") else p.get("derived", "fixed")
        if p.get("fitted") and p.get("at_bound"):
            ab = p["at_bound"]
            if isinstance(ab, list):
                ab = ", ".join(x or "-" for x in ab) if any(ab) else None
            if ab:
                note += f", **on the {ab} calibration bound**"
        pl = p.get("plausible")
        pl_s = f"{_fmt(pl[0])} – {_fmt(pl[1])}" if pl else "–"
        cb = p.get("constrained_by")
        cb = ", ".join(x or "–" for x in cb) if isinstance(cb, list) else (cb or "–")
        lines.append(f"| {name} | {_fmt(p['value'])} | {_fmt(p.get('std'))} | {p['unit']} | "
                     f"{pl_s} | {cb if p.get('fitted') else '–'} | {note} |")
    infl = fit.get("error_bar_inflation")
    lines += ["", f"Best loss (mean weighted squared residual) {_fmt(fit['loss'])}; residual "
              f"variance s^2 = {_fmt(fit['residual_variance'])} (in units of the stated "
              "sigma^2). Standard errors: Gauss-Newton (Laplace) approximation at the optimum, "
              "scaled by s^2"
              + (f" and widened by {infl:.2f} for autocorrelated residuals (they are worth "
                 f"{fit['n_eff']:.0f} independent values of {fit['n_terms']})"
                 if infl and infl > 1.0001 else "") + ".", ""]
    if result.get("priors"):
        lines += ["### Priors (MAP estimate)", ""]
        for name, pr in result["priors"].items():
            unit = result["parameters"].get(name, {}).get("unit", "")
            if pr["kind"] == "lognormal":
                lines.append(f"* {name}: log-normal, median {_fmt(math.exp(pr['center']))} "
                             f"{unit}, one sd a factor {math.exp(pr['spread']):.3g} "
                             f"({pr['source']})")
            else:
                lines.append(f"* {name}: normal, mean {_fmt(pr['center'])} {unit}, sd "
                             f"{_fmt(pr['spread'])} ({pr['source']})")
        lines.append("")
    pub = result.get("published")
    if pub:
        lines += ["## Beside the published results", "",
                  f"Published: {pub['n']} trials ({pub['source']}). Ours: the best of "
                  f"{fit['starts']} starts, and the spread of the starts that converged.", "",
                  "| parameter | ours (best ± std) | ours: starts mean ± std "
                  "| published mean ± std | published range |", "|---|---|---|---|---|"]
        ok = [s for s in result["starts"] if not s["failed"]]
        for name in space.free:
            if name not in pub["stats"]:
                continue
            st = pub["stats"][name]
            vv = np.array([s["final"][name] for s in ok])
            ours = result["parameters"].get(name, {})
            lines.append(f"| {name} | {_fmt(ours.get('value'))} ± {_fmt(ours.get('std'))} | "
                         f"{_fmt(vv.mean())} ± {_fmt(vv.std())} | {_fmt(st['mean'])} ± "
                         f"{_fmt(st['std'])} | {_fmt(st['min'])} – {_fmt(st['max'])} |")
        lines.append("")
    from .posterior import report_lines

    lines += report_lines(result)
    ident = result["identifiability"]
    lines += ["## Identifiability", "", ident.get("summary", ""), ""]
    lines += [f"* {f}" for f in ident["findings"]]
    base = result.get("baseline")
    lines += ["", "## Skill", "",
              "RMSE, mean bias (model - observed) and correlation over each window; every "
              "observation the configuration names, fitted or evaluated only."
              + (" The published model (h_eff, no latent heat flux model, uniform soil, "
                 f"{', '.join(base['free'])} fitted to the same observations) beside."
                 if base else ""), ""]
    if base:
        vals = ", ".join(f"{k} = {_fmt(v)}" for k, v in base["parameters"].items())
        lines += [f"The published model fitted to the same observations: {vals} (its verdict: "
                  f"{base['verdict']}).", ""]
    bench = result.get("benchmarks")
    if bench:
        lines += ["The linear regression is the empirical benchmark: ordinary least squares on "
                  "the forcing (H on SWdown; LE on SWdown, Tair, Qair; soil temperatures on "
                  "the run's boundary series, lagged), trained on the calibration window "
                  "(docs/calibration.md, \"Empirical benchmarks\").", ""]
    lines += _skill_table(result["metrics"], base, bench)
    for st in (result.get("stages") or [])[:-1]:
        lines += ["", f"Stage '{st['name']}' ({', '.join(st['free'])} fitted; its own column "
                  "and boundaries):", ""]
        lines += _skill_table(st["metrics"], None)
    if result.get("closure"):
        from .verdict import closure_text

        c = result["closure"]
        lines += ["", f"Energy-balance closure of the observations, {closure_text(c)}: "
                  f"{c['ratio'] * 100:.0f} %."]
    elif fit.get("closure_left_out"):
        lines += ["", "Energy-balance closure of the observations: not computed, "
                  f"{', '.join(fit['closure_left_out'])} failed the plausibility checks "
                  "(docs/calibration.md, Observation checks)."]
    if figs:
        lines += ["", "## Figures", ""]
        for f, caption in figs:
            lines += [f"![{caption}]({f})", "", f"*{caption}*", ""]
    lines += ["", "Files: `params.json` (all numbers), `simulation.nc` (best fit over both "
              "windows, with the observations), the figures above."]
    return "\n".join(lines) + "\n"
