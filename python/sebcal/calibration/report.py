"""Outputs of a calibration: params.json, simulation.nc, report.md and PNG figures.

Every file is written to a temporary name and renamed (sebcal.output.atomic_path).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import __version__
from ..fortran import simulate_config
from ..observations import Observation, model_equivalent, metrics
from ..output import atomic_path, write_simulation, write_text
from ..params import Params
from .space import UNITS, Space

SCHEMA_VERSION = 1
_ORDER = ("alpha", "eps", "lambda", "C", "T_b", "h_eff", "h", "beta", "T_init")


def _num(x: Any) -> Any:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def best_params(space: Space, phys_best: Mapping[str, float]) -> Params:
    """Full Params at the best fit (fixed parameters from the config)."""
    d = {"alpha": space.fixed.alpha, "eps": space.fixed.eps, "lambda": space.fixed.lam,
         "C": space.fixed.C, "T_b": space.fixed.T_b, "h_eff": space.fixed.h_eff,
         "beta": space.fixed.beta}
    d.update({k: v for k, v in phys_best.items() if k not in ("h", "T_init")})
    if "h" in phys_best:
        d["h_eff"] = phys_best["h"] * (1 + 1 / phys_best["beta"])
    return Params.from_dict(d)


def published_summary(settings: Mapping[str, Any], base: Path) -> dict | None:
    """Mean, std, min, max of published final values per parameter (if configured)."""
    pub = settings.get("published")
    if not pub:
        return None
    rows = []
    for f in pub["files"]:
        p = Path(f)
        p = p if p.is_absolute() else base / p
        rows.append(np.loadtxt(p, ndmin=2)[1::2])          # final rows
    a = np.vstack(rows)
    cols = list(pub["columns"])
    vals = {c: a[:, i] for i, c in enumerate(cols)}
    if "h" in vals and "beta" in vals and "h_eff" not in vals:
        vals["h_eff"] = vals["h"] * (1 + 1 / vals["beta"])
    return {"n": int(a.shape[0]), "source": pub.get("source", ""),
            "stats": {k: {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                          "max": float(v.max())} for k, v in vals.items()}}


def write_outputs(out_dir: Path, config: Any, settings: Mapping[str, Any], space: Space,
                  obs: Sequence[Observation], win: Any, forcing: Any, state: Any,
                  drawn: Mapping[str, np.ndarray], phys_best: Mapping[str, float], lap: dict,
                  ident: dict, *, figures: bool = True, elapsed: float = 0.0) -> dict:
    params = best_params(space, phys_best)
    if "T_init" in phys_best:
        # the fitted uniform initial temperature becomes a given initial profile
        config = dataclasses.replace(config, init="profile",
                                     init_profile=np.full(len(config.node_depths),
                                                          phys_best["T_init"]))
    sim = simulate_config(config, forcing, params)
    model_vals = {o.label: model_equivalent(o, sim.z, sim.T, sim.fluxes, params.lam) for o in obs}
    mets = {"calibration": {}, "evaluation": {}}
    for o in obs:
        key = f"{o.label} ({o.describe()})"
        mets["calibration"][key] = metrics(model_vals[o.label], o.values, win.calibration)
        if win.evaluation.any():
            mets["evaluation"][key] = metrics(model_vals[o.label], o.values, win.evaluation)

    full = params.to_dict()
    parameters: dict[str, dict] = {}
    for name in _ORDER:
        if name in space.free:
            parameters[name] = {"value": float(phys_best[name]), "std": _num(lap["std"][name]),
                                "unit": UNITS[name], "fitted": True}
        elif name in full and full[name] is not None and name != "h":
            parameters[name] = {"value": float(full[name]), "std": None, "unit": UNITS[name],
                                "fitted": False}
    if "h" in space.free:     # h_eff is derived then
        parameters["h_eff"] = {"value": float(params.h_eff), "std": None, "unit": UNITS["h_eff"],
                               "fitted": False, "derived": "h (1 + 1/beta)"}
    starts = []
    phys_u = space.to_phys_np(state.u)
    for b in range(state.u.shape[0]):
        starts.append({"initial": {k: float(v[b]) for k, v in drawn.items()},
                       "final": {k: float(v[b]) for k, v in phys_u.items()},
                       "loss": _num(state.loss[b]), "failed": bool(state.failed[b]),
                       "stopped": state.reason[b] if state.reason else ""})
    cfg = config.to_dict()
    if "T_init" in phys_best:
        cfg["initial"] = {k: v for k, v in cfg["initial"].items() if k not in ("kind", "profile")}
        cfg["initial"].update(kind="profile", profile=[float(phys_best["T_init"])] * len(sim.z))
    for t in ("observations", "calibration"):
        if t in config.tables:
            cfg[t] = _resolve_paths(config.tables[t], config.path)
    base = Path(config.path).parent if config.path else Path.cwd()
    pub = published_summary(settings, base)
    result = {
        "schema_version": SCHEMA_VERSION,
        "sebcal_version": __version__,
        "parameters": parameters,
        "correlation": {"names": list(space.free),
                        "matrix": [[_num(x) for x in row] for row in lap["correlation"]]},
        "identifiability": {"ok": ident["ok"], "findings": ident["findings"],
                            "directions": ident["directions"]},
        "metrics": mets,
        "fit": {"loss": _num(state.loss[np.nanargmin(np.where(state.failed, np.nan, state.loss))]),
                "n_terms": int(sum((win.calibration & o.valid).sum() for o in obs if o.fit)),
                "residual_variance": lap["s2"], "starts": int(state.u.shape[0]),
                "failed_starts": int(state.failed.sum()), "elapsed_s": float(elapsed),
                "calibration_window": list(win.calibration_span),
                "evaluation_window": list(win.evaluation_span) if win.evaluation_span else None},
        "starts": starts,
        "published": pub,
        "config": cfg,
    }
    write_text(out_dir / "params.json", json.dumps(result, indent=2))
    write_simulation(out_dir / "simulation.nc", forcing.time, sim.z, sim.T, sim.fluxes,
                     config=cfg, title="sebcal calibration: best fit over both windows",
                     extra={f"obs_{o.label}": o.values for o in obs},
                     attrs={f"obs_{o.label}": {"long_name": f"observed {o.describe()}",
                                                "units": o.units, "source": o.source}
                            for o in obs})
    figs = []
    if figures:
        figs = _figures(out_dir, obs, model_vals, forcing, win, space, starts, lap, pub)
    write_text(out_dir / "report.md", _report(result, space, figs))
    return result


def _resolve_paths(table: Mapping, cfg_path: Any) -> dict:
    base = Path(cfg_path).parent if cfg_path else Path.cwd()
    out = json.loads(json.dumps(table, default=str))

    def fix(d):
        for k, v in d.items():
            if isinstance(v, dict):
                fix(v)
            elif k == "file" and isinstance(v, str) and not Path(v).is_absolute():
                d[k] = str((base / v).resolve())
            elif k == "files" and isinstance(v, list):
                d[k] = [str((base / x).resolve()) if not Path(x).is_absolute() else x for x in v]
    fix(out)
    return out


# ------------------------------------------------------------------------------------ figures

def _save(fig, path: Path) -> None:
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def _figures(out_dir, obs, model_vals, forcing, win, space, starts, lap, pub) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    hours = (forcing.time - forcing.time[0]) / np.timedelta64(1, "h")
    fig, axes = plt.subplots(len(obs), 1, figsize=(10, 2.6 * len(obs)), sharex=True, squeeze=False)
    for ax, o in zip(axes[:, 0], obs):
        ax.plot(hours, o.values, ".", ms=3, color="k", label="observed")
        ax.plot(hours, model_vals[o.label], "-", color="tab:red", lw=1.2, label="model (best fit)")
        for mask, colour, name in ((win.calibration, "tab:blue", "calibration"),
                                   (win.evaluation, "tab:orange", "evaluation")):
            if mask.any():
                ax.axvspan(hours[mask][0], hours[mask][-1], color=colour, alpha=0.08, label=name)
        ax.set_ylabel(f"{o.describe()}\n[{o.units}]" + ("" if o.fit else " (not fitted)"))
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel(f"hours since {str(forcing.time[0])} UTC")
    fig.suptitle("Observed and modelled series")
    _save(fig, out_dir / "series.png")
    plt.close(fig)
    figs.append(("series.png", "Observed (dots) and best-fit model (line); shading marks the "
                                 "calibration and evaluation windows"))

    free = list(space.free)
    ok = [s for s in starts if not s["failed"]]
    if len(free) >= 2 and ok:
        n = len(free)
        fig, axes = plt.subplots(n - 1, n - 1, figsize=(2.6 * (n - 1), 2.6 * (n - 1)), squeeze=False)
        for i in range(1, n):
            for j in range(n - 1):
                ax = axes[i - 1, j]
                if j >= i:
                    ax.axis("off")
                    continue
                xi = [s["initial"][free[j]] for s in ok]
                yi = [s["initial"][free[i]] for s in ok]
                xf = [s["final"][free[j]] for s in ok]
                yf = [s["final"][free[i]] for s in ok]
                ax.plot(xi, yi, "o", ms=3, color="0.7", label="start")
                ax.plot(xf, yf, "o", ms=4, color="tab:red", label="final")
                if pub and free[j] in pub["stats"] and free[i] in pub["stats"]:
                    ax.errorbar(pub["stats"][free[j]]["mean"], pub["stats"][free[i]]["mean"],
                                xerr=pub["stats"][free[j]]["std"], yerr=pub["stats"][free[i]]["std"],
                                fmt="s", color="tab:green", ms=5, label="published mean ± std")
                if i == n - 1:
                    ax.set_xlabel(f"{free[j]} [{UNITS[free[j]]}]", fontsize=8)
                if j == 0:
                    ax.set_ylabel(f"{free[i]} [{UNITS[free[i]]}]", fontsize=8)
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

def _fmt(x: float | None, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    ax = abs(x)
    s = f"{x:.4g}" if ax == 0 or 1e-3 <= ax < 1e5 else f"{x:.4e}"
    return s


def _report(result: dict, space: Space, figs: list[tuple[str, str]]) -> str:
    fit = result["fit"]
    lines = ["# sebcal calibration report", "",
             f"sebcal {result['sebcal_version']}; {fit['starts']} starts "
             f"({fit['failed_starts']} failed), {fit['n_terms']} observed values in the "
             f"calibration window {fit['calibration_window'][0]} – {fit['calibration_window'][1]}"
             + (f"; evaluation window {fit['evaluation_window'][0]} – {fit['evaluation_window'][1]}"
                if fit["evaluation_window"] else "") + f"; {fit['elapsed_s']:.1f} s.", "",
             "## Parameters", "",
             "| parameter | value | std (1 sigma) | unit | |", "|---|---|---|---|---|"]
    for name, p in result["parameters"].items():
        note = "fitted" if p.get("fitted") else p.get("derived", "fixed")
        lines.append(f"| {name} | {_fmt(p['value'])} | {_fmt(p['std'])} | {p['unit']} | {note} |")
    lines += ["", f"Best loss (mean weighted squared residual) {fit['loss']:.4g}; residual variance "
              f"s^2 = {fit['residual_variance']:.4g} (in units of the stated sigma^2). Standard "
              "errors: Laplace approximation from the Hessian at the optimum, scaled by s^2.", ""]
    pub = result.get("published")
    if pub:
        lines += ["## Beside the published results", "",
                  f"Published: {pub['n']} trials ({pub['source']}). Ours: the best of "
                  f"{fit['starts']} starts, and the spread of the starts that converged.", "",
                  "| parameter | ours (best ± std) | ours: starts mean ± std | published mean ± std "
                  "| published range |", "|---|---|---|---|---|"]
        ok = [s for s in result["starts"] if not s["failed"]]
        for name in space.free:
            if name not in pub["stats"]:
                continue
            st = pub["stats"][name]
            v = np.array([s["final"][name] for s in ok])
            ours = result["parameters"][name]
            lines.append(f"| {name} | {_fmt(ours['value'])} ± {_fmt(ours['std'])} | "
                         f"{_fmt(v.mean())} ± {_fmt(v.std())} | {_fmt(st['mean'])} ± "
                         f"{_fmt(st['std'])} | {_fmt(st['min'])} – {_fmt(st['max'])} |")
        lines.append("")
    lines += ["## Identifiability", "",
              "All parameters identifiable." if result["identifiability"]["ok"]
              else "**Some parameters are not identifiable from these observations.**", ""]
    lines += [f"* {f}" for f in result["identifiability"]["findings"]]
    lines += ["", "## Skill", "", "| window | observation | RMSE | bias | r | n |",
              "|---|---|---|---|---|---|"]
    for window in ("calibration", "evaluation"):
        for name, m in result["metrics"][window].items():
            lines.append(f"| {window} | {name} | {_fmt(m['rmse'])} | {_fmt(m['bias'])} | "
                         f"{_fmt(m['r'])} | {m['n']} |")
    if figs:
        lines += ["", "## Figures", ""]
        for f, caption in figs:
            lines += [f"![{caption}]({f})", "", f"*{caption}*", ""]
    lines += ["", "Files: `params.json` (all numbers), `simulation.nc` (best fit over both "
              "windows, with the observations), the figures above."]
    return "\n".join(lines) + "\n"
