"""Figures of a calibration, drawn with matplotlib (docs/api.md, "Figures").

One code path per figure: ``Calibration.plot`` returns these figures, and the report saves the
same figures as SVG files after its result files are written. matplotlib is imported when a
figure is drawn, never by a run or a calibration itself.

Conventions of every figure:

* time axes show dates in the site's **local standard time** (``[site] utc_offset_hours``;
  else the offset of the nearest 15-degree meridian of ``[site] longitude``; else UTC), the
  offset written on the axis, the site's name in the title;
* value axes are scaled on the **scored** data only (the calibration and evaluation windows):
  a modelled spike in the spin-up or at an unscored first level does not flatten the panel;
* a figure drawn into the caller's axes (``ax=``) draws one panel there and returns the
  axes' figure, so it can be placed in a user's own grid of subplots and restyled.

The figure functions take plain data (arrays, dicts), so they do not depend on how a
calibration is run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: colours (Okabe-Ito, readable with colour-vision deficiency)
OBSERVED = "black"
MODEL = "#d55e00"
CALIBRATION = "#0072b2"
EVALUATION = "#e69f00"
RESIDUAL = "#cc79a7"
START = "#b3b3b3"
DATA_ONLY = "#0072b2"
PUBLISHED = "#009e73"


@dataclass(frozen=True)
class Site:
    """What the figures say about the site: its name and the offset of local standard time.

    Attributes:
        name: the site's name ("" when unknown).
        utc_offset_hours: local standard time minus UTC [h] (0 for UTC).
        offset_source: where the offset came from ("utc_offset_hours", "longitude", "").
    """

    name: str = ""
    utc_offset_hours: float = 0.0
    offset_source: str = ""

    @classmethod
    def from_config(cls, site: Mapping[str, Any] | None) -> Site:
        site = dict(site or {})
        name = str(site.get("name") or "")
        if site.get("utc_offset_hours") is not None:
            return cls(name, float(site["utc_offset_hours"]), "utc_offset_hours")
        if site.get("longitude") is not None:
            lon = float(site["longitude"])
            lon = lon - 360.0 if lon > 180.0 else lon
            return cls(name, float(round(lon / 15.0)), "longitude")
        return cls(name, 0.0, "")

    @property
    def time_label(self) -> str:
        if not self.offset_source:
            return "time (UTC)"
        off = self.utc_offset_hours
        text = f"UTC{off:+g}" if off else "UTC"
        how = " from the longitude" if self.offset_source == "longitude" else ""
        return f"local standard time ({text}{how})"

    def title(self, what: str) -> str:
        return f"{self.name}: {what}" if self.name else what

    def local(self, time: np.ndarray) -> np.ndarray:
        """UTC datetime64 -> local standard time (datetime64[s], naive)."""
        t = np.asarray(time, dtype="datetime64[s]")
        return t + np.timedelta64(int(round(self.utc_offset_hours * 3600.0)), "s")


def _mpl():
    """matplotlib's Figure class and dates module, imported here (lazily). Figures are made
    without pyplot, so drawing one neither needs a display nor changes a user's backend."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    return Figure, mdates


def _new_figure(width: float, height: float):
    Figure, _ = _mpl()
    return Figure(figsize=(width, height), layout="constrained")


def scored_range(values: Sequence[np.ndarray], scored: np.ndarray,
                 pad: float = 0.05) -> tuple[float, float] | None:
    """(low, high) of the finite values at the scored levels, padded by ``pad`` of the span;
    None when there is none."""
    parts = [np.asarray(v, float)[scored] for v in values]
    parts = [p[np.isfinite(p)] for p in parts]
    parts = [p for p in parts if p.size]
    if not parts:
        return None
    lo = float(min(p.min() for p in parts))
    hi = float(max(p.max() for p in parts))
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo - pad * span, hi + pad * span


def _date_axis(ax, site: Site) -> None:
    _, mdates = _mpl()
    loc = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _shade(ax, t: np.ndarray, windows: Any, label: bool) -> None:
    for mask, colour, name in ((windows.calibration, CALIBRATION, "calibration window"),
                               (windows.evaluation, EVALUATION, "evaluation window")):
        mask = np.asarray(mask, bool)
        if mask.any():
            ax.axvspan(t[mask][0], t[mask][-1], color=colour, alpha=0.12, lw=0,
                       label=name if label else None)


def _legend(ax, handles=None, labels=None, **kw) -> None:
    """A legend listing each label once."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for h, lab in zip(handles, labels):
        seen.setdefault(lab, h)
    if seen:
        ax.legend(list(seen.values()), list(seen), fontsize="small", **kw)


def _scored(windows: Any) -> np.ndarray:
    return np.asarray(windows.calibration, bool) | np.asarray(windows.evaluation, bool)


# ------------------------------------------------------------------------------ series
def series(observations: Sequence[Any], model: Mapping[str, np.ndarray], time: np.ndarray,
           windows: Any, site: Site | None = None, *, ax: Any = None,
           observation: str | None = None):
    """Observed (dots) and modelled (line) series, residuals beside; windows shaded.

    Args:
        observations: objects with label, values, units, fit and describe().
        model: label -> modelled values at the same levels.
        time: UTC datetime64 of the levels; windows: calibration/evaluation masks.
        site: name and UTC offset of the time axis.
        ax: draw one observation (``observation``, else the first) into these axes, without
            the residual panel.
    """
    site = site or Site()
    t = site.local(time)
    scored = _scored(windows)
    obs = list(observations)
    if observation is not None:
        obs = [o for o in obs if o.label == observation]
        if not obs:
            raise KeyError(f"no observation {observation!r}")
    if ax is not None:
        _series_panel(ax, obs[0], model[obs[0].label], t, windows, scored, site, True)
        return ax.figure
    n = len(obs)
    fig = _new_figure(11.0, 2.3 * n + 0.9)
    axes = fig.subplots(n, 2, squeeze=False, sharex=True, width_ratios=(3, 1.2))
    for k, o in enumerate(obs):
        _series_panel(axes[k][0], o, model[o.label], t, windows, scored, site, k == 0)
        axr = axes[k][1]
        res = np.asarray(model[o.label], float) - np.asarray(o.values, float)
        _shade(axr, t, windows, False)
        axr.axhline(0.0, color="0.4", lw=0.8)
        axr.plot(t, res, ".", color=RESIDUAL, ms=2.5)
        lim = scored_range([res], scored)
        if lim:
            axr.set_ylim(*lim)
        axr.set_ylabel(f"model − obs [{o.units}]")
        _date_axis(axr, site)
    for a in axes[-1]:
        a.set_xlabel(site.time_label)
    _legend(axes[0][0], loc="upper left", ncols=4)
    fig.suptitle(site.title("observed and modelled series (left), residuals (right)"))
    return fig


def _series_panel(ax, o, model_vals, t, windows, scored, site: Site, legend: bool) -> None:
    _shade(ax, t, windows, legend)
    ax.plot(t, o.values, ".", color=OBSERVED, ms=3, label="observed")
    ax.plot(t, model_vals, "-", color=MODEL, lw=1.2, label="model (best fit)")
    lim = scored_range([o.values, model_vals], scored)
    if lim:
        ax.set_ylim(*lim)
    ax.set_ylabel(f"{o.describe()} [{o.units}]" + ("" if o.fit else "\n(not fitted)"))
    ax.set_xlabel(site.time_label)
    _date_axis(ax, site)


# ------------------------------------------------------------------------------ pairs
def pairs(free: Sequence[str], units: Mapping[str, str], starts: Sequence[Mapping[str, Any]],
          best: Mapping[str, float], std: Mapping[str, float | None] | None = None, *,
          bounds: Mapping[str, Sequence[float]] | None = None,
          plausible: Mapping[str, Sequence[float]] | None = None,
          data_only: Mapping[str, float] | None = None, log: Mapping[str, bool] | None = None,
          published: Mapping[str, Any] | None = None, site: Site | None = None, ax: Any = None,
          pair: tuple[str, str] | None = None):
    """Every start's initial (grey) and final values for each pair of free parameters, with
    the best estimate (± one standard error), the calibration bounds (dashed), the plausible
    range (green band) and, for a MAP fit, the data-only optimum beside the MAP finals.

    Args:
        starts: dicts with "initial" and "final" (name -> value) and "failed".
        best, std: the best estimate and its standard error by name.
        bounds, plausible: (low, high) by name.
        data_only: the data-only optimum of a MAP fit (its finals are then "MAP finals").
        ax, pair: draw one pair (x name, y name; default the first two) into these axes.
    """
    site = site or Site()
    free = list(free)
    ok = [s for s in starts if not s.get("failed")]
    if len(free) < 2:
        return None
    final_label = "final (MAP, with priors)" if data_only else "final"
    if ax is not None:
        px, py = pair or (free[0], free[1])
        _pair_panel(ax, px, py, units, ok, best, std or {}, bounds or {}, plausible or {},
                    data_only, log or {}, published, final_label)
        _legend(ax)
        return ax.figure
    n = len(free)
    fig = _new_figure(2.6 * (n - 1) + 1.6, 2.6 * (n - 1) + 1.0)
    gs = fig.add_gridspec(n - 1, n - 1)
    handles, labels = [], []
    for i in range(1, n):             # the lower triangle only (no empty axes to lay out)
        for j in range(i):
            a = fig.add_subplot(gs[i - 1, j])
            _pair_panel(a, free[j], free[i], units, ok, best, std or {}, bounds or {},
                        plausible or {}, data_only, log or {}, published, final_label)
            if i != n - 1:
                a.set_xlabel("")
            if j != 0:
                a.set_ylabel("")
            h, lab = a.get_legend_handles_labels()
            handles += h
            labels += lab
    seen: dict[str, Any] = {}
    for h, lab in zip(handles, labels):
        seen.setdefault(lab, h)
    if n > 2:                         # in the empty upper triangle
        fig.legend(list(seen.values()), list(seen), loc="upper right", fontsize="small")
    else:
        _legend(fig.axes[0], handles, labels)
    fig.suptitle(site.title("multi-start: initial and final parameter values"))
    return fig


def _pair_panel(ax, px, py, units, ok, best, std, bounds, plausible, data_only, log,
                published, final_label) -> None:
    if px in plausible and py in plausible:
        (x0, x1), (y0, y1) = plausible[px], plausible[py]
        ax.add_patch(_rect(x0, y0, x1 - x0, y1 - y0, PUBLISHED, "plausible range"))
    ax.plot([s["initial"][px] for s in ok], [s["initial"][py] for s in ok], "o", color=START,
            ms=3.5, label="start")
    ax.plot([s["final"][px] for s in ok], [s["final"][py] for s in ok], "o", color=MODEL,
            ms=4, label=final_label)
    if data_only and px in data_only and py in data_only:
        ax.plot([data_only[px]], [data_only[py]], "D", color=DATA_ONLY, ms=7, mfc="none",
                mew=1.5, label="data-only optimum")
    if published and px in published.get("stats", {}) and py in published.get("stats", {}):
        sx, sy = published["stats"][px], published["stats"][py]
        ax.errorbar([sx["mean"]], [sy["mean"]], xerr=[sx["std"]], yerr=[sy["std"]], fmt="s",
                    color=PUBLISHED, ms=5, label="published mean ± std")
    if px in best and py in best:
        ax.errorbar([best[px]], [best[py]], xerr=[std.get(px) or 0.0],
                    yerr=[std.get(py) or 0.0], fmt="*", color="black", ms=11, capsize=3,
                    label="best estimate ± std", zorder=5)
    # limits from the points (in log10 on a log axis); an edge of the plausible range or a
    # bound within a quarter of the view's span widens the view to it, and a bound there is
    # drawn; further away they are left out of view (a bound decades away would flatten the
    # points; the plausible band then fills the view on that side)
    for name, setlim, axline, isx in ((px, ax.set_xlim, ax.axvline, True),
                                      (py, ax.set_ylim, ax.axhline, False)):
        vals = [s[k][name] for s in ok for k in ("initial", "final")]
        if name in best:
            e = std.get(name) or 0.0
            vals += [best[name] - e, best[name] + e] if not log.get(name) else [best[name]]
        vals += [data_only[name]] if data_only and name in data_only else []
        vals = np.asarray([v for v in vals if v is not None and math.isfinite(v)], float)
        if not vals.size:
            continue
        is_log = bool(log.get(name)) and vals.min() > 0
        fwd = np.log10 if is_log else (lambda v: v)
        back = (lambda v: 10.0 ** v) if is_log else (lambda v: v)
        if is_log:
            (ax.set_xscale if isx else ax.set_yscale)("log")
        lo, hi = float(fwd(vals.min())), float(fwd(vals.max()))
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
        lo, hi = lo - pad, hi + pad
        near = 0.25 * (hi - lo)
        for v in plausible.get(name) or ():
            if v is not None and math.isfinite(v) and not (is_log and v <= 0):
                fv = float(fwd(v))
                if lo - near <= fv <= hi + near:
                    lo, hi = min(lo, fv - 0.02 * near), max(hi, fv + 0.02 * near)
        for v in bounds.get(name) or ():
            if v is None or not math.isfinite(v) or (is_log and v <= 0):
                continue
            fv = float(fwd(v))
            if lo - near <= fv <= hi + near:
                lo, hi = min(lo, fv - 0.02 * near), max(hi, fv + 0.02 * near)
                axline(v, color="0.3", ls="--", lw=0.9, label="calibration bound")
        setlim(back(lo), back(hi))
        if is_log:
            _log_ticks(ax.xaxis if isx else ax.yaxis, hi - lo)
    ax.set_xlabel(f"{px} [{units.get(px, '')}]")
    ax.set_ylabel(f"{py} [{units.get(py, '')}]")


def _log_ticks(axis, decades: float) -> None:
    """Readable ticks on a log axis: powers of ten over a decade or more (at most about six
    labels), else a few plain numbers."""
    from matplotlib.ticker import (
        FuncFormatter,
        LogFormatterSciNotation,
        LogLocator,
        MaxNLocator,
        NullFormatter,
    )

    if decades >= 1.0:
        axis.set_major_locator(LogLocator(base=10.0, numticks=6))
        axis.set_major_formatter(LogFormatterSciNotation())
    else:
        axis.set_major_locator(MaxNLocator(3))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    axis.set_minor_formatter(NullFormatter())


def _rect(x, y, w, h, colour, label):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, alpha=0.12, edgecolor=colour, lw=0.8,
                     label=label)


# ------------------------------------------------------------------------------ correlation
def correlation(free: Sequence[str], corr: Any, site: Site | None = None, ax: Any = None):
    """The correlation matrix of the fitted parameters, -1 blue to +1 red, values written."""
    site = site or Site()
    free = list(free)
    if len(free) < 2:
        return None
    c = np.array([[np.nan if x is None else x for x in row] for row in corr], float)
    fig = None
    if ax is None:
        fig = _new_figure(1.0 * len(free) + 2.2, 0.9 * len(free) + 1.4)
        ax = fig.subplots()
    im = ax.imshow(c, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    for i in range(len(free)):
        for j in range(len(free)):
            if math.isfinite(c[i, j]):
                ax.text(j, i, f"{c[i, j]:.2f}", ha="center", va="center", fontsize="small")
    ax.set_xticks(range(len(free)), free, rotation=45, ha="right")
    ax.set_yticks(range(len(free)), free)
    ax.figure.colorbar(im, ax=ax, label="correlation")
    ax.set_title(site.title("parameter correlation (Laplace)"), fontsize="medium")
    return ax.figure


# ------------------------------------------------------------------------------ profile
def profile_observations(observations: Sequence[Any]) -> list[Any]:
    """The soil-temperature observations at distinct depths, shallow to deep."""
    soil = [o for o in observations if o.variable == "SoilTemp" and o.depth is not None]
    seen: dict[float, Any] = {}
    for o in sorted(soil, key=lambda o: o.depth):
        seen.setdefault(float(o.depth), o)
    return list(seen.values())


def profile(observations: Sequence[Any], model: Mapping[str, np.ndarray], time: np.ndarray,
            windows: Any, site: Site | None = None):
    """Depth-time heat maps of observed, modelled and residual soil temperature at the
    sensor depths (three or more); None with fewer. Colours span the scored levels only."""
    site = site or Site()
    soil = profile_observations(observations)
    if len(soil) < 3:
        return None
    t = site.local(time)
    depths = np.array([o.depth for o in soil])
    obs = np.stack([np.asarray(o.values, float) for o in soil])          # (nd, nt+1)
    mod = np.stack([np.asarray(model[o.label], float) for o in soil])
    scored = _scored(windows)
    # cell edges: halfway between sensors and between stamps
    dz = np.diff(depths)
    zedge = np.concatenate([[max(depths[0] - dz[0] / 2, 0.0)], depths[:-1] + dz / 2,
                            [depths[-1] + dz[-1] / 2]])
    secs = t.astype("datetime64[s]").astype(np.int64).astype(float)
    step = np.median(np.diff(secs)) if secs.size > 1 else 3600.0
    tedge = np.concatenate([secs - step / 2, [secs[-1] + step / 2]])
    tedge = tedge.astype(np.int64).astype("datetime64[s]")
    fig = _new_figure(11.0, 7.5)
    axes = fig.subplots(3, 1, sharex=True)
    lim = scored_range([obs.T, mod.T], scored, pad=0.0)
    res = mod - obs
    rl = scored_range([res.T], scored, pad=0.0)
    r = max(abs(rl[0]), abs(rl[1])) if rl else 1.0
    unit = soil[0].units
    for a, data, title, cmap, (vmin, vmax) in (
            (axes[0], obs, "observed", "viridis", lim or (None, None)),
            (axes[1], mod, "modelled (best fit)", "viridis", lim or (None, None)),
            (axes[2], res, "model − observed", "RdBu_r", (-r, r))):
        shown = np.where(scored[None, :], data, np.nan)
        m = a.pcolormesh(tedge, zedge, shown, cmap=cmap, vmin=vmin, vmax=vmax, shading="flat")
        a.set_ylim(zedge[-1], zedge[0])
        a.set_ylabel("depth [m]")
        a.set_title(title, fontsize="medium", loc="left")
        fig.colorbar(m, ax=a, label=f"[{unit}]")
        _date_axis(a, site)
    axes[-1].set_xlabel(site.time_label)
    fig.suptitle(site.title("soil temperature by depth and time (scored windows)"))
    return fig


# ------------------------------------------------------------------------------ diurnal
def diurnal_composite(values: np.ndarray, time: np.ndarray, mask: np.ndarray, site: Site
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` by local hour of day over the masked levels: (hours 0..23, means),
    NaN for an hour with no value."""
    t = site.local(time)
    hour = ((t.astype("datetime64[s]").astype(np.int64) // 3600) % 24).astype(int)
    v = np.asarray(values, float)
    ok = np.asarray(mask, bool) & np.isfinite(v)
    sums = np.bincount(hour[ok], weights=v[ok], minlength=24)
    counts = np.bincount(hour[ok], minlength=24)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return np.arange(24), means


def diurnal(observations: Sequence[Any], model: Mapping[str, np.ndarray], time: np.ndarray,
            windows: Any, site: Site | None = None, *, ax: Any = None,
            observation: str | None = None):
    """Mean diurnal cycle (by local hour) of observed and modelled values over the scored
    levels where both exist, one panel per observation."""
    site = site or Site()
    obs = list(observations)
    if observation is not None:
        obs = [o for o in obs if o.label == observation]
    scored = _scored(windows)

    def panel(a, o):
        both = scored & np.isfinite(np.asarray(o.values, float)) & \
            np.isfinite(np.asarray(model[o.label], float))
        h, mo = diurnal_composite(o.values, time, both, site)
        _, mm = diurnal_composite(model[o.label], time, both, site)
        a.plot(h, mo, "o-", color=OBSERVED, ms=3, lw=1, label="observed")
        a.plot(h, mm, "-", color=MODEL, lw=1.5, label="model")
        a.set_xticks(range(0, 25, 6))
        a.set_xlim(-0.5, 23.5)
        a.set_xlabel(f"hour, {site.time_label}")
        a.set_ylabel(f"{o.describe()} [{o.units}]")

    return _panels(obs, panel, ax, (3.6, 2.8),
                   site.title("mean diurnal cycle over the scored windows"))


def _panels(obs: Sequence[Any], panel: Any, ax: Any, size: tuple[float, float], title: str):
    """One panel per observation, three to a row (or the one panel into the caller's ``ax``),
    a legend in the first, the title above; ``size`` (width, height) of a panel [in]."""
    if ax is not None:
        panel(ax, obs[0])
        _legend(ax)
        return ax.figure
    n = len(obs)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _new_figure(max(size[0] * cols + 0.6, 6.0), size[1] * rows + 0.8)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).reshape(-1)
    for a, o in zip(axes, obs):
        panel(a, o)
    for a in axes[n:]:
        a.set_axis_off()
    _legend(axes[0])
    fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------ scatter
def observed_vs_modelled(observations: Sequence[Any], model: Mapping[str, np.ndarray],
                         windows: Any, site: Site | None = None, *, ax: Any = None,
                         observation: str | None = None):
    """Modelled against observed values, calibration and evaluation windows apart, with the
    1:1 line; one panel per observation."""
    site = site or Site()
    obs = list(observations)
    if observation is not None:
        obs = [o for o in obs if o.label == observation]

    def panel(a, o):
        x = np.asarray(o.values, float)
        y = np.asarray(model[o.label], float)
        for mask, colour, name in ((windows.calibration, CALIBRATION, "calibration"),
                                   (windows.evaluation, EVALUATION, "evaluation")):
            m = np.asarray(mask, bool) & np.isfinite(x) & np.isfinite(y)
            if m.any():
                a.plot(x[m], y[m], ".", color=colour, ms=3, alpha=0.7, label=name)
        lim = scored_range([x, y], _scored(windows) & np.isfinite(x) & np.isfinite(y))
        if lim:
            a.plot(lim, lim, "-", color="0.3", lw=0.8, label="1:1")
            a.set_xlim(*lim)
            a.set_ylim(*lim)
        a.set_aspect("equal", adjustable="box")
        a.set_xlabel(f"observed {o.label} [{o.units}]")
        a.set_ylabel(f"modelled [{o.units}]")

    return _panels(obs, panel, ax, (3.4, 3.3), site.title("observed against modelled"))


__all__ = ["Site", "correlation", "diurnal", "diurnal_composite", "observed_vs_modelled",
           "pairs", "profile", "profile_observations", "scored_range", "series"]
