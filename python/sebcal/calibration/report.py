"""Outputs of a calibration: params.json, simulation.nc, report.md and SVG figures.

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
from ..svg import BLUE, GREEN, ORANGE, PURPLE, RED, Figure
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
    obs, win, forcing = fit.observations, fit.windows, fit.forcing
    sim, model_vals = fit.sim, fit.model_values
    write_params(out_dir / "params.json", result)
    write_simulation(out_dir / "simulation.nc", forcing.time, sim.z, sim.T, sim.fluxes,
                     **simulation_extras(fit, result["config"]))
    figs = []
    if figures:
        figs = _figures(out_dir, obs, model_vals, forcing, win, space, result["starts"],
                        fit.lap, result["published"])
        if posterior is not None:
            from .posterior import pair_figure

            fig = pair_figure(posterior, fit.phys_best, {c.label: c.unit for c in space.coords})
            if fig is not None:
                fig.save(out_dir / "posterior.svg")
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
    starts = []
    phys_u = space.to_phys_np(fit.u)
    for b in range(fit.u.shape[0]):
        starts.append({"initial": {k: float(v[b]) for k, v in fit.drawn.items()},
                       "final": {k: float(v[b]) for k, v in phys_u.items()},
                       "loss": _num(fit.loss[b]), "failed": bool(fit.failed[b]),
                       "stopped": fit.reason[b] if fit.reason else ""})
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

def series_figure(obs, model_vals, forcing, win) -> Figure:
    """Observed (dots) and modelled (line) series with the residuals beside, the calibration
    and evaluation windows shaded; an SVG Figure."""
    hours = (forcing.time - forcing.time[0]) / np.timedelta64(1, "h")
    n = len(obs)
    fig = Figure(1100, 200 * n + 100,
                 title="Observed and modelled series (left) and residuals (right)")
    rows = fig.grid(n, 2, margins=(100, 55, 25, 55), gap=(110, 26), widths=(3, 1.2))
    span = float(hours[-1] - hours[0]) or 1.0
    xlim = (float(hours[0]) - 0.02 * span, float(hours[-1]) + 0.02 * span)
    for k, ((ax, axr), o) in enumerate(zip(rows, obs)):
        ax.xlim = axr.xlim = xlim
        ax.xticks_shown = axr.xticks_shown = k == n - 1
        for mask, colour, name in ((win.calibration, BLUE, "calibration"),
                                   (win.evaluation, ORANGE, "evaluation")):
            if mask.any():
                ax.band(hours[mask][0], hours[mask][-1], color=colour, label=name)
                axr.band(hours[mask][0], hours[mask][-1], color=colour)
        ax.dots(hours, o.values, color="black", size=3, label="observed")
        ax.line(hours, model_vals[o.label], color=RED, label="model (best fit)")
        axr.hline(0.0)
        axr.dots(hours, model_vals[o.label] - o.values, color=PURPLE, size=2.5)
        ax.labels(y=f"{o.describe()}\n[{o.units}]" + ("" if o.fit else " (not fitted)"),
                  x=f"hours since {str(forcing.time[0])} UTC")
        axr.labels(y=f"model − obs [{o.units}]", x="hours")
    rows[0][0].legend = True
    return fig


def multistart_figure(space, starts, pub) -> Figure | None:
    """Every start's initial and final values for each pair of free parameters (None with
    fewer than two free parameters)."""
    free = list(space.free)
    units = {c.label: c.unit for c in space.coords}
    ok = [s for s in starts if not s["failed"]]
    if len(free) < 2 or not ok:
        return None
    # a parameter fitted on a log scale whose values span a decade or more: a log axis
    log = {}
    for c in (c for c in space.coords if c.label in free):
        v = np.array([s[k][c.label] for s in ok for k in ("initial", "final")], float)
        log[c.label] = bool(c.log and v.min() > 0 and v.max() >= 10 * v.min())
    n = len(free)
    side = 220 * (n - 1) + 100
    fig = Figure(side, side, title="Multi-start: initial (grey) and final (red) parameters")
    grid = fig.grid(n - 1, n - 1, margins=(85, 45, 20, 55), gap=(75, 45))
    fig.panels = [grid[i - 1][j] for i in range(1, n) for j in range(i)]   # lower triangle
    for i in range(1, n):
        for j in range(i):
            ax = grid[i - 1][j]
            ax.xlog, ax.ylog = log[free[j]], log[free[i]]
            ax.dots([s["initial"][free[j]] for s in ok], [s["initial"][free[i]] for s in ok],
                    color="#b3b3b3", size=4, label="start")
            if pub and free[j] in pub["stats"] and free[i] in pub["stats"]:
                sj, si = pub["stats"][free[j]], pub["stats"][free[i]]
                ax.errorbar(sj["mean"], si["mean"], sj["std"], si["std"], color=GREEN,
                            label="published mean ± std")
            ax.dots([s["final"][free[j]] for s in ok], [s["final"][free[i]] for s in ok],
                    color=RED, size=5, label="final")
            ax.labels(x=f"{free[j]} [{units[free[j]]}]" if i == n - 1 else "",
                      y=f"{free[i]} [{units[free[i]]}]" if j == 0 else "")
    fig.legend(side - 230.0, 70.0)          # in the empty upper triangle
    return fig


def correlation_figure(space, lap) -> Figure | None:
    """The correlation matrix of the fitted parameters (Laplace); None for one parameter."""
    free = list(space.free)
    n = len(free)
    if n < 2:
        return None
    corr = np.array([[np.nan if x is None else x for x in row] for row in lap["correlation"]],
                    dtype=float)
    cell = 60
    fig = Figure(cell * n + 190, cell * n + 110)
    ax = fig.panel(90, 45, cell * n, cell * n)
    ax.heatmap(corr, free)
    ax.labels(title="Parameter correlation (Laplace)")
    return fig


def _figures(out_dir, obs, model_vals, forcing, win, space, starts, lap, pub
             ) -> list[tuple[str, str]]:
    figs = []
    series_figure(obs, model_vals, forcing, win).save(out_dir / "series.svg")
    figs.append(("series.svg", "Observed (dots) and best-fit model (line), residuals beside; "
                               "shading marks the calibration and evaluation windows"))
    fig = multistart_figure(space, starts, pub)
    if fig is not None:
        fig.save(out_dir / "multistart.svg")
        figs.append(("multistart.svg", "Every start's initial and final values, for each pair "
                                       "of free parameters"))
    fig = correlation_figure(space, lap)
    if fig is not None:
        fig.save(out_dir / "correlation.svg")
        figs.append(("correlation.svg", "Correlation matrix of the fitted parameters from the "
                                        "Hessian at the optimum"))
    return figs


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
    site = (result.get("config") or {}).get("site") or {}
    lines = ["# sebcal calibration report" + (f": {site['name']}" if site.get("name") else ""),
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
