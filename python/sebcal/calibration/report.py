"""Outputs of a calibration: params.json, simulation.nc, report.md and PNG figures.

Every file is written to a temporary name and renamed (sebcal.output.atomic_path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..fortran import simulate
from ..observations import Observation, metrics, model_equivalents, node_lambda
from ..output import atomic_path, write_simulation, write_text
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


def write_outputs(out_dir: Path, config: Any, settings: Mapping[str, Any], space: Space,
                  obs: Sequence[Observation], win: Any, forcing: Any, state: Any,
                  drawn: Mapping[str, np.ndarray], phys_best: Mapping[str, float], lap: dict,
                  ident: dict, *, figures: bool = True, elapsed: float = 0.0,
                  verdict: dict | None = None, extra: Mapping[str, Any] | None = None) -> dict:
    """Write params.json, simulation.nc, report.md and the figures; return params.json's content."""
    params = space.params_at(phys_best)
    sim = best_run(config, forcing, params, phys_best)
    lam = node_lambda(config.spec, params, forcing)
    model_vals = model_equivalents(obs, sim.z, sim.T, sim.fluxes, lam)
    mets: dict[str, dict] = {"calibration": {}, "evaluation": {}}
    for o in obs:
        key = f"{o.label} ({o.describe()})"
        mets["calibration"][key] = {**metrics(model_vals[o.label], o.values, win.calibration),
                                    "unit": o.units, "fitted": o.fit}
        if win.evaluation.any():
            mets["evaluation"][key] = {**metrics(model_vals[o.label], o.values, win.evaluation),
                                       "unit": o.units, "fitted": o.fit}
    parameters = parameter_entries(space, params, phys_best, lap["std"], config.options,
                                   (extra or {}).get("constrained_by"))
    starts = []
    phys_u = space.to_phys_np(state.u)
    for b in range(state.u.shape[0]):
        starts.append({"initial": {k: float(v[b]) for k, v in drawn.items()},
                       "final": {k: float(v[b]) for k, v in phys_u.items()},
                       "loss": _num(state.loss[b]), "failed": bool(state.failed[b]),
                       "stopped": state.reason[b] if state.reason else ""})
    cfg = config.to_dict()
    cfg["parameters"] = {k: v for k, v in params.to_dict().items() if k not in ("z_ref", "d0")}
    if "T_init" in phys_best:
        cfg["initial"] = {k: v for k, v in cfg["initial"].items() if k not in ("kind", "profile")}
        cfg["initial"].update(kind="profile", profile=[float(phys_best["T_init"])] * len(sim.z))
        cfg["parameters"].pop("T_init", None)
    pub = published_summary(settings)
    best = int(np.nanargmin(np.where(state.failed, np.nan, state.loss)))
    result = {
        "schema_version": SCHEMA_VERSION,
        "sebcal_version": __version__,
        "parameters": parameters,
        "verdict": verdict,
        "correlation": {"names": list(space.free),
                        "matrix": [[_num(x) for x in row] for row in lap["correlation"]]},
        "identifiability": {"ok": ident["ok"], "findings": ident["findings"],
                            "directions": ident["directions"]},
        "metrics": mets,
        "fit": {"loss": _num(state.loss[best]),
                "n_terms": int(sum((win.calibration & o.valid).sum() for o in obs if o.fit)),
                "residual_variance": lap["s2"], "starts": int(state.u.shape[0]),
                "failed_starts": int(state.failed.sum()), "elapsed_s": float(elapsed),
                "calibration_window": list(win.calibration_span),
                "evaluation_window": list(win.evaluation_span) if win.evaluation_span else None,
                **dict((extra or {}).get("fit", {}))},
        "starts": starts,
        "published": pub,
        "config": cfg,
    }
    if (extra or {}).get("stages"):
        result["stages"] = list(extra["stages"])
    if verdict is None:
        result.pop("verdict")
    write_params(out_dir / "params.json", result)
    write_simulation(out_dir / "simulation.nc", forcing.time, sim.z, sim.T, sim.fluxes,
                     config=cfg, title="sebcal calibration: best fit over both windows",
                     extra={f"obs_{o.label}": o.values for o in obs},
                     attrs={f"obs_{o.label}": {"long_name": f"observed {o.describe()}",
                                                "units": o.units, "source": o.source}
                            for o in obs}, site=config.site)
    figs = []
    if figures:
        figs = _figures(out_dir, obs, model_vals, forcing, win, space, starts, lap, pub)
    write_text(out_dir / "report.md", _report(result, space, figs))
    return result


# ------------------------------------------------------------------------------------ figures

def _save(fig, path: Path) -> None:
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def _figures(out_dir, obs, model_vals, forcing, win, space, starts, lap, pub
             ) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    hours = (forcing.time - forcing.time[0]) / np.timedelta64(1, "h")
    n = len(obs)
    fig, axes = plt.subplots(n, 2, figsize=(13, 2.6 * n), sharex=True, squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1.2]})
    for (ax, axr), o in zip(axes, obs):
        ax.plot(hours, o.values, ".", ms=3, color="k", label="observed")
        ax.plot(hours, model_vals[o.label], "-", color="tab:red", lw=1.2, label="model (best fit)")
        res = model_vals[o.label] - o.values
        axr.plot(hours, res, ".", ms=2, color="tab:purple")
        axr.axhline(0.0, color="0.5", lw=0.8)
        for mask, colour, name in ((win.calibration, "tab:blue", "calibration"),
                                   (win.evaluation, "tab:orange", "evaluation")):
            if mask.any():
                for a in (ax, axr):
                    a.axvspan(hours[mask][0], hours[mask][-1], color=colour, alpha=0.08,
                              label=name if a is ax else None)
        ax.set_ylabel(f"{o.describe()}\n[{o.units}]" + ("" if o.fit else " (not fitted)"))
        axr.set_ylabel(f"model - obs [{o.units}]", fontsize=8)
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel(f"hours since {str(forcing.time[0])} UTC")
    axes[-1, 1].set_xlabel("hours")
    fig.suptitle("Observed and modelled series (left) and residuals (right)")
    _save(fig, out_dir / "series.png")
    plt.close(fig)
    figs.append(("series.png", "Observed (dots) and best-fit model (line), residuals beside; "
                               "shading marks the calibration and evaluation windows"))

    free = list(space.free)
    units = {c.label: c.unit for c in space.coords}
    ok = [s for s in starts if not s["failed"]]
    if len(free) >= 2 and ok:
        n = len(free)
        fig, axes = plt.subplots(n - 1, n - 1, figsize=(2.6 * (n - 1), 2.6 * (n - 1)),
                                 squeeze=False)
        for i in range(1, n):
            for j in range(n - 1):
                ax = axes[i - 1, j]
                if j >= i:
                    ax.axis("off")
                    continue
                ax.plot([s["initial"][free[j]] for s in ok], [s["initial"][free[i]] for s in ok],
                        "o", ms=3, color="0.7", label="start")
                ax.plot([s["final"][free[j]] for s in ok], [s["final"][free[i]] for s in ok],
                        "o", ms=4, color="tab:red", label="final")
                if pub and free[j] in pub["stats"] and free[i] in pub["stats"]:
                    ax.errorbar(pub["stats"][free[j]]["mean"], pub["stats"][free[i]]["mean"],
                                xerr=pub["stats"][free[j]]["std"],
                                yerr=pub["stats"][free[i]]["std"],
                                fmt="s", color="tab:green", ms=5, label="published mean ± std")
                if i == n - 1:
                    ax.set_xlabel(f"{free[j]} [{units[free[j]]}]", fontsize=8)
                if j == 0:
                    ax.set_ylabel(f"{free[i]} [{units[free[i]]}]", fontsize=8)
                ax.tick_params(labelsize=7)
        axes[0, 0].legend(fontsize=7)
        fig.suptitle("Multi-start: initial (grey) and final (red) parameters")
        _save(fig, out_dir / "multistart.png")
        plt.close(fig)
        figs.append(("multistart.png", "Every start's initial and final values, for each pair "
                                       "of free parameters"))

        corr = np.array([[np.nan if x is None else x for x in row] for row in lap["correlation"]],
                        dtype=float)
        fig, ax = plt.subplots(figsize=(1.1 * n + 2, 1.1 * n + 1.5))
        im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(n), free, rotation=45)
        ax.set_yticks(range(n), free)
        for a in range(n):
            for b in range(n):
                if np.isfinite(corr[a, b]):
                    ax.text(b, a, f"{corr[a, b]:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_title("Parameter correlation (Laplace)")
        _save(fig, out_dir / "correlation.png")
        plt.close(fig)
        figs.append(("correlation.png", "Correlation matrix of the fitted parameters from the "
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


def _report(result: dict, space: Space, figs: list[tuple[str, str]]) -> str:
    fit = result["fit"]
    lines = ["# sebcal calibration report", ""]
    v = result.get("verdict")
    if v:
        lines += [f"**Verdict: {v['status']}**", ""]
        lines += [f"* {r}" for r in v["reasons"]] or ["* no reservations"]
        lines.append("")
    lines += [f"sebcal {result['sebcal_version']}; {fit['starts']} starts "
              f"({fit['failed_starts']} failed), {fit['n_terms']} observed values in the "
              f"calibration window {fit['calibration_window'][0]} – "
              f"{fit['calibration_window'][1]}"
              + (f"; evaluation window {fit['evaluation_window'][0]} – "
                 f"{fit['evaluation_window'][1]}" if fit["evaluation_window"] else "")
              + f"; {fit['elapsed_s']:.1f} s.", "",
              "## Parameters", "",
              "| parameter | value | std (1 sigma) | unit | plausible range | |",
              "|---|---|---|---|---|---|"]
    for name, p in result["parameters"].items():
        note = "fitted" if p.get("fitted") else p.get("derived", "fixed")
        if p.get("fitted") and p.get("at_bound"):
            ab = p["at_bound"]
            if isinstance(ab, list):
                ab = ", ".join(x or "-" for x in ab) if any(ab) else None
            if ab:
                note += f", on the {ab} calibration bound"
        pl = p.get("plausible")
        pl_s = f"{_fmt(pl[0])} – {_fmt(pl[1])}" if pl else "–"
        lines.append(f"| {name} | {_fmt(p['value'])} | {_fmt(p.get('std'))} | {p['unit']} | "
                     f"{pl_s} | {note} |")
    lines += ["", f"Best loss (mean weighted squared residual) {_fmt(fit['loss'])}; residual "
              f"variance s^2 = {_fmt(fit['residual_variance'])} (in units of the stated "
              "sigma^2). Standard errors: Laplace approximation from the Hessian at the optimum, "
              "scaled by s^2" + (f" and by the autocorrelation of the residuals (effective "
                                 f"sample size {fit['n_eff']:.0f} of {fit['n_terms']})"
                                 if fit.get("n_eff") else "") + ".", ""]
    pub = result.get("published")
    if pub:
        lines += ["## Beside the published results", "",
                  f"Published: {pub['n']} trials ({pub['source']}). Ours: the best of "
                  f"{fit['starts']} starts, and the spread of the starts that converged.", "",
                  "| parameter | ours (best ± std) | ours: starts mean ± std "
                  "| published mean ± std "
                  "| published range |", "|---|---|---|---|---|"]
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
    lines += ["## Identifiability", "",
              "All parameters identifiable." if result["identifiability"]["ok"]
              else "**Some parameters are not identifiable from these observations.**", ""]
    lines += [f"* {f}" for f in result["identifiability"]["findings"]]
    lines += ["", "## Skill", "", "| window | observation | RMSE | bias | r | n | unit | |",
              "|---|---|---|---|---|---|---|---|"]
    for window in ("calibration", "evaluation"):
        for name, m in result["metrics"][window].items():
            lines.append(f"| {window} | {name} | {_fmt(m['rmse'])} | {_fmt(m['bias'])} | "
                         f"{_fmt(m['r'])} | {m['n']} | {m['unit']} | "
                         f"{'fitted' if m.get('fitted') else 'evaluated only'} |")
    if figs:
        lines += ["", "## Figures", ""]
        for f, caption in figs:
            lines += [f"![{caption}]({f})", "", f"*{caption}*", ""]
    lines += ["", "Files: `params.json` (all numbers), `simulation.nc` (best fit over both "
              "windows, with the observations), the figures above."]
    return "\n".join(lines) + "\n"
