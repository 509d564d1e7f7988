"""Charts written as SVG text: the figures of the calibration report.

A report's three figures are line and dot charts on a grid of panels and a heat map. Written
as SVG text they cost milliseconds, where a plotting library's import alone would cost more
than the two-depth calibration (docs/performance.md); they are vector images that browsers,
Markdown viewers and notebooks show.

Usage::

    fig = Figure(640, 360, title="Soil temperature")
    ax = fig.panel(60, 40, 560, 270)           # plot box: left, top, width, height [px]
    ax.line(hours, T, color=RED, label="model")
    ax.dots(hours, T_obs, color="black", label="observed")
    ax.labels(x="hours", y="T [K]")
    fig.save("series.svg")                     # or fig.svg(); notebooks show fig directly

Coordinates are rounded to 0.1 px. Non-finite values are left out: a line breaks at them.
Dense series are thinned to what a pixel column can show (each column keeps its first, lowest,
highest and last point), so a year of half-hourly values stays a small file.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np

from .output import write_text

# the colours of the report (matplotlib's "tab10" names, so figures look familiar)
BLUE, ORANGE, GREEN, RED, PURPLE, GREY = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                          "#9467bd", "#7f7f7f")
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
CHAR_W = 0.6            # mean glyph width of the font, in units of the font size


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About ``n`` round tick values (steps 1, 2, 2.5 or 5 × 10^k) inside [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        raise ValueError(f"ticks need finite lo < hi, got {lo}, {hi}")
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    steps = [m * mag for m in (0.25, 0.5, 1, 2, 2.5, 5, 10)]
    k = next(i for i, s in enumerate(steps) if s >= raw)
    while True:              # a reader needs two labelled ticks to read a scale
        first = math.ceil(lo / steps[k] - 1e-9)
        last = math.floor(hi / steps[k] + 1e-9)
        if last > first or k == 0:
            return np.arange(first, last + 1) * steps[k]
        k -= 1


def tick_labels(ticks: np.ndarray) -> tuple[list[str], int]:
    """Labels for ``ticks`` and the power of ten they are in units of (0: as they are)."""
    big = float(np.max(np.abs(ticks))) if len(ticks) else 0.0
    power = math.floor(math.log10(big)) if big > 0 else 0
    power = power if power >= 5 or power <= -4 else 0
    scaled = ticks / 10.0 ** power
    step = float(np.min(np.diff(scaled))) if len(scaled) > 1 else 1.0
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    digits += round(step / 10.0 ** -digits, 6) % 1 != 0           # a step of 2.5 × 10^k
    return [f"{v:.{digits}f}".replace("-", "−") for v in scaled + 0.0], power


def axis_ticks(lo: float, hi: float, n: int, log: bool = False
               ) -> tuple[np.ndarray, list[str], int]:
    """Tick positions on the axis (log10 of the value on a log axis), their labels and the
    power of ten the labels are in units of. A log axis over a decade or more is marked at
    powers of ten (10⁻⁵, 10⁻⁴, ...); over less, at round values."""
    if log:
        k0, k1 = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
        if k1 > k0:
            step = max(1, math.ceil((k1 - k0 + 1) / n))
            ks = np.arange(math.ceil(k0 / step) * step, k1 + 1, step)
            if len(ks) >= 2:
                return ks.astype(float), [f"10{_superscript(int(k))}" for k in ks], 0
        # less than a decade between powers of ten: 1, 2 and 5 times them, else round values
        values = np.array([m * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1)
                           for m in (1, 2, 5)])
        values = values[(np.log10(values) >= lo - 1e-9) & (np.log10(values) <= hi + 1e-9)]
        if len(values) < 3:
            values = nice_ticks(10.0 ** lo, 10.0 ** hi, n)
        labels, power = tick_labels(values)
        return np.log10(values), labels, power
    values = nice_ticks(lo, hi, n)
    labels, power = tick_labels(values)
    return values, labels, power


def _limits(values: list[np.ndarray], pad: float = 0.05) -> tuple[float, float]:
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    if not finite:
        return 0.0, 1.0
    lo = min(float(v.min()) for v in finite)
    hi = max(float(v.max()) for v in finite)
    return _widen(lo - pad * (hi - lo), hi + pad * (hi - lo))


def _widen(lo: float, hi: float) -> tuple[float, float]:
    """A range a reader can tell apart from a point: a constant series (to 1e-9) gets ± 5 %
    of its value (± 1 around zero)."""
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi)):
        mid = (lo + hi) / 2
        d = abs(mid) * 0.05 or 1.0
        return mid - d, mid + d
    return lo, hi


def _thin(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First, lowest, highest and last point of each pixel column, in their order (a line
    drawn through them looks the same as through all points)."""
    col = np.floor(px).astype(np.int64)
    keep = np.zeros(len(px), bool)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], len(px)] - 1
    keep[starts] = keep[ends] = True
    # the lowest and highest point of each column: the ends of its run when sorted by y
    order = np.lexsort((py, col))
    run_first = np.r_[0, np.flatnonzero(np.diff(col[order])) + 1]
    run_last = np.r_[run_first[1:], len(px)] - 1
    keep[order[run_first]] = keep[order[run_last]] = True
    return px[keep], py[keep]


class Panel:
    """One plot box of a Figure: data items, axis labels and limits; drawn by the Figure."""

    def __init__(self, left: float, top: float, width: float, height: float, font: float):
        self.box = (left, top, width, height)
        self.font = font
        self.items: list[tuple] = []
        self.xlim: tuple[float, float] | None = None
        self.ylim: tuple[float, float] | None = None
        self.xlabel = self.ylabel = self.title = ""
        self.legend = False            # the labelled items in a row above the box
        self.xticks_shown = True
        self.xlog = self.ylog = False  # logarithmic axes (positive values only)

    # ---------------------------------------------------------------- data
    def line(self, x, y, *, color: str, width: float = 1.2, label: str | None = None) -> None:
        """A polyline through (x, y), broken where either is not finite."""
        self.items.append(("line", _arr(x), _arr(y), color, width, label))

    def dots(self, x, y, *, color: str, size: float = 3.0, label: str | None = None) -> None:
        """Dots of diameter ``size`` px at (x, y)."""
        self.items.append(("dots", _arr(x), _arr(y), color, size, label))

    def band(self, x0: float, x1: float, *, color: str, opacity: float = 0.08,
             label: str | None = None) -> None:
        """A vertical band from x0 to x1 over the full height."""
        self.items.append(("band", _arr([x0, x1]), None, color, opacity, label))

    def hline(self, y: float, *, color: str = GREY, width: float = 0.8) -> None:
        self.items.append(("hline", None, _arr([y]), color, width, None))

    def errorbar(self, x: float, y: float, xerr: float, yerr: float, *, color: str,
                 label: str | None = None) -> None:
        """A square marker at (x, y) with bars of ± xerr and ± yerr."""
        self.items.append(("errorbar", _arr([x - xerr, x, x + xerr]),
                           _arr([y - yerr, y, y + yerr]), color, 5.0, label))

    def heatmap(self, values, labels: Sequence[str], *, vmin: float = -1.0,
                vmax: float = 1.0) -> None:
        """A square matrix as coloured cells (blue at vmin, white at the middle, red at vmax)
        with each value written in its cell; ``labels`` name rows and columns."""
        m = np.asarray(values, dtype=float)
        self.items.append(("heatmap", m, list(labels), vmin, vmax, None))

    def labels(self, x: str = "", y: str = "", title: str = "") -> None:
        self.xlabel, self.ylabel, self.title = x, y, title

    # ---------------------------------------------------------------- drawing
    def _ax(self, v, log: bool) -> np.ndarray:
        """Values in axis space: log10 on a log axis (non-positive values are left out)."""
        v = np.asarray(v, float)
        if not log:
            return v
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, np.log10(v), np.nan)

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(x0, x1), (y0, y1) in axis space."""
        xs = [self._ax(it[1], self.xlog) for it in self.items if it[1] is not None]
        ys = [self._ax(it[2], self.ylog) for it in self.items
              if it[0] != "band" and it[2] is not None]
        xlim = (_widen(*self._ax(self.xlim, self.xlog)) if self.xlim else
                _limits(xs, 0.0 if any(it[0] == "line" for it in self.items) else 0.05))
        ylim = _widen(*self._ax(self.ylim, self.ylog)) if self.ylim else _limits(ys)
        return xlim, ylim

    def draw(self, out: list[str], ident: str) -> None:
        """Append the panel's SVG elements to ``out``; ``ident`` makes its element ids unique
        (several figures share one id space when a notebook shows them inline)."""
        left, top, w, h = self.box
        f = self.font
        if any(it[0] == "heatmap" for it in self.items):
            self._draw_heatmap(out, ident)
            return
        (x0, x1), (y0, y1) = self._ranges()

        def X(v, axis_space=False):
            v = v if axis_space else self._ax(v, self.xlog)
            return left + (np.asarray(v, float) - x0) / (x1 - x0) * w

        def Y(v, axis_space=False):
            v = v if axis_space else self._ax(v, self.ylog)
            return top + h - (np.asarray(v, float) - y0) / (y1 - y0) * h

        out.append(f'<g class="panel" data-xlim="{x0!r} {x1!r}" data-ylim="{y0!r} {y1!r}" '
                   f'data-xlog="{int(self.xlog)}" data-ylog="{int(self.ylog)}">')
        clip = f"clip-{ident}"
        out.append(f'<clipPath id="{clip}"><rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" '
                   f'height="{h:.1f}"/></clipPath>')
        out.append(f'<g clip-path="url(#{clip})">')
        for kind, xv, yv, color, size, _ in self.items:
            if kind == "band":
                a, b = np.clip(X(xv), left, left + w)
                out.append(f'<rect class="band" x="{a:.1f}" y="{top:.1f}" width="{b - a:.1f}" '
                           f'height="{h:.1f}" fill="{color}" fill-opacity="{size}"/>')
            elif kind == "hline":
                yy = float(Y(yv)[0])
                out.append(f'<path class="hline" d="M{left:.1f} {yy:.1f}H{left + w:.1f}" '
                           f'stroke="{color}" stroke-width="{size}"/>')
        for kind, xv, yv, color, size, _ in self.items:
            if kind == "line":
                out.append(f'<path class="line" d="{_line_path(X(xv), Y(yv), w)}" fill="none" '
                           f'stroke="{color}" stroke-width="{size}" stroke-linejoin="round"/>')
            elif kind == "dots":
                out.append(f'<path class="dots" d="{_dots_path(X(xv), Y(yv))}" '
                           f'stroke="{color}" stroke-width="{size}" stroke-linecap="round"/>')
            elif kind == "errorbar":
                # a bar reaching zero or below on a log axis ends at the box's edge
                px, py = np.nan_to_num(X(xv), nan=left), np.nan_to_num(Y(yv), nan=top + h)
                out.append(f'<path class="errorbar" d="M{px[0]:.1f} {py[1]:.1f}H{px[2]:.1f}'
                           f'M{px[1]:.1f} {py[0]:.1f}V{py[2]:.1f}" stroke="{color}" '
                           f'stroke-width="1.2"/><rect x="{px[1] - size / 2:.1f}" '
                           f'y="{py[1] - size / 2:.1f}" width="{size}" height="{size}" '
                           f'fill="{color}"/>')
        out.append("</g>")
        out.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" '
                   'fill="none" stroke="#333" stroke-width="0.8"/>')
        # ticks and their labels
        xt, xl, xp = axis_ticks(x0, x1, max(3, min(7, int(w // 55))), self.xlog)
        for v, s in zip(X(xt, True), xl):
            out.append(f'<path class="xmark" d="M{v:.1f} {top + h:.1f}v4" stroke="#333" '
                       'stroke-width="0.8"/>')
            if self.xticks_shown:
                out.append(f'<text class="xtick" x="{v:.1f}" y="{top + h + 5 + f:.1f}" '
                           f'text-anchor="middle" font-size="{f:g}">{s}</text>')
        yt, yl, yp = axis_ticks(y0, y1, max(3, min(6, int(h // 30))), self.ylog)
        for v, s in zip(Y(yt, True), yl):
            out.append(f'<path class="ymark" d="M{left:.1f} {v:.1f}h-4" stroke="#333" '
                       'stroke-width="0.8"/>')
            out.append(f'<text class="ytick" x="{left - 6:.1f}" y="{v + 0.35 * f:.1f}" '
                       f'text-anchor="end" font-size="{f:g}">{s}</text>')
        if yp:                 # the power of ten of the y tick labels, above the axis
            out.append(f'<text class="ypower" x="{left:.1f}" y="{top - 4:.1f}" '
                       f'font-size="{f:g}">×10{_superscript(yp)}</text>')
        if xp and self.xticks_shown:
            out.append(f'<text class="xpower" x="{left + w:.1f}" y="{top + h + 8 + 2.2 * f:.1f}"'
                       f' text-anchor="end" font-size="{f:g}">×10{_superscript(xp)}</text>')
        xlabel, ylabel = self.xlabel, self.ylabel
        if xlabel and self.xticks_shown:
            out.append(f'<text class="xlabel" x="{left + w / 2:.1f}" '
                       f'y="{top + h + 8 + 2.2 * f:.1f}" text-anchor="middle" '
                       f'font-size="{f + 1:g}">{escape(xlabel)}</text>')
        if ylabel:
            widest = max((len(s) for s in yl), default=0) * CHAR_W * f
            lines = ylabel.split("\n")
            xx = left - 10 - widest - 0.3 * f - (len(lines) - 1) * 1.2 * (f + 1)
            tspans = "".join(f'<tspan x="{xx:.1f}" dy="{0 if i == 0 else 1.2 * (f + 1):.1f}">'
                             f"{escape(s)}</tspan>" for i, s in enumerate(lines))
            out.append(f'<text class="ylabel" transform="rotate(-90 {xx:.1f} {top + h / 2:.1f})"'
                       f' x="{xx:.1f}" y="{top + h / 2:.1f}" text-anchor="middle" '
                       f'font-size="{f + 1:g}">{tspans}</text>')
        if self.title:
            out.append(f'<text x="{left + w / 2:.1f}" y="{top - 6:.1f}" text-anchor="middle" '
                       f'font-size="{f + 2:g}">{escape(self.title)}</text>')
        if self.legend:
            self._draw_legend(out)
        out.append("</g>")

    def _draw_legend(self, out: list[str]) -> None:
        left, top, w, _ = self.box
        entries = _entries([self])
        width = sum(_entry_width(lab, self.font) for _, _, lab in entries)
        _legend(out, entries, left + w - width, top - 0.9 * self.font, self.font, row=True)

    def _draw_heatmap(self, out: list[str], ident: str) -> None:
        left, top, w, h = self.box
        _, m, labels, vmin, vmax, _ = next(it for it in self.items if it[0] == "heatmap")
        n = m.shape[0]
        cw, ch = w / n, h / n
        f = self.font
        out.append('<g class="heatmap">')
        for i in range(n):
            for j in range(n):
                v = m[i, j]
                x, y = left + j * cw, top + i * ch
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" '
                           f'fill="{_diverging(v, vmin, vmax)}"/>')
                if math.isfinite(v):
                    ink = "white" if abs(v - (vmin + vmax) / 2) > 0.3 * (vmax - vmin) else "black"
                    out.append(f'<text x="{x + cw / 2:.1f}" y="{y + ch / 2 + 0.35 * f:.1f}" '
                               f'text-anchor="middle" font-size="{f:g}" fill="{ink}">'
                               f'{f"{v:.2f}".replace("-", "−")}</text>')
        for k, lab in enumerate(labels):
            out.append(f'<text x="{left - 6:.1f}" y="{top + (k + 0.5) * ch + 0.35 * f:.1f}" '
                       f'text-anchor="end" font-size="{f + 1:g}">{escape(lab)}</text>')
            xx, yy = left + (k + 0.5) * cw, top + h + 8
            out.append(f'<text x="{xx:.1f}" y="{yy:.1f}" text-anchor="end" font-size="{f + 1:g}" '
                       f'transform="rotate(-45 {xx:.1f} {yy:.1f})">{escape(lab)}</text>')
        # colour bar
        bx = left + w + 16
        out.append(f'<defs><linearGradient id="scale-{ident}" x1="0" y1="1" x2="0" y2="0">'
                   + "".join(f'<stop offset="{k / 4:g}" stop-color="{_diverging(vmin + k / 4 * (vmax - vmin), vmin, vmax)}"/>'  # noqa: E501
                             for k in range(5))
                   + f'</linearGradient></defs><rect x="{bx:.1f}" y="{top:.1f}" width="12" '
                     f'height="{h:.1f}" fill="url(#scale-{ident})" stroke="#333" '
                     'stroke-width="0.5"/>')
        for k in range(5):
            v = vmin + k / 4 * (vmax - vmin)
            out.append(f'<text x="{bx + 16:.1f}" y="{top + h - k / 4 * h + 0.35 * f:.1f}" '
                       f'font-size="{f:g}">{f"{v:g}".replace("-", "−")}</text>')
        if self.title:
            out.append(f'<text x="{left + w / 2:.1f}" y="{top - 8:.1f}" text-anchor="middle" '
                       f'font-size="{f + 2:g}">{escape(self.title)}</text>')
        out.append("</g>")


class Figure:
    """An SVG image of ``width`` × ``height`` px holding panels; ``save`` writes it."""

    def __init__(self, width: float, height: float, title: str = "", font: float = 10.0):
        self.width, self.height, self.title, self.font = width, height, title, font
        self.panels: list[Panel] = []
        self.legends: list[tuple[float, float, list[Panel]]] = []

    def panel(self, left: float, top: float, width: float, height: float) -> Panel:
        """A new plot box at (left, top) of size width × height [px]."""
        p = Panel(left, top, width, height, self.font)
        self.panels.append(p)
        return p

    def legend(self, x: float, y: float, panels: Sequence[Panel] | None = None) -> None:
        """A column of the labelled items of ``panels`` (all by default), each label once,
        from (x, y) [px]."""
        self.legends.append((x, y, list(panels) if panels is not None else self.panels))

    def grid(self, nrows: int, ncols: int, *, margins: tuple[float, float, float, float],
             gap: tuple[float, float] = (60.0, 30.0),
             widths: Sequence[float] | None = None) -> list[list[Panel]]:
        """Panels in rows and columns; ``margins`` (left, top, right, bottom) and ``gap``
        (between columns, between rows) in px; ``widths`` relative column widths."""
        ml, mt, mr, mb = margins
        ratios = np.asarray(widths if widths is not None else [1.0] * ncols, float)
        free_w = self.width - ml - mr - gap[0] * (ncols - 1)
        ph = (self.height - mt - mb - gap[1] * (nrows - 1)) / nrows
        col_w = free_w * ratios / ratios.sum()
        col_x = ml + np.r_[0.0, np.cumsum(col_w + gap[0])[:-1]]
        return [[self.panel(col_x[c], mt + r * (ph + gap[1]), col_w[c], ph)
                 for c in range(ncols)] for r in range(nrows)]

    def svg(self) -> str:
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:g}" '
               f'height="{self.height:g}" viewBox="0 0 {self.width:g} {self.height:g}" '
               f'font-family="{FONT}">',
               f'<rect width="{self.width:g}" height="{self.height:g}" fill="white"/>']
        if self.title:                     # <title>: what viewers and screen readers name
            out.append(f"<title>{escape(self.title)}</title>")
            out.append(f'<text x="{self.width / 2:.1f}" y="{self.font + 10:.1f}" '
                       f'text-anchor="middle" font-size="{self.font + 3:g}">'
                       f"{escape(self.title)}</text>")
        uid = uuid.uuid4().hex[:8]
        for i, p in enumerate(self.panels):
            p.draw(out, f"{uid}-{i}")
        for x, y, panels in self.legends:
            _legend(out, _entries(panels), x, y, self.font, row=False)
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def _repr_svg_(self) -> str:          # shown in notebooks
        return self.svg()

    def save(self, path: str | Path) -> None:
        """Write the SVG to ``path`` (through a temporary file, renamed on success)."""
        write_text(path, self.svg())


# ------------------------------------------------------------------------------------ helpers

def _arr(v) -> np.ndarray:
    return np.asarray(v, dtype=float).ravel()


def _runs(ok: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in ``ok``."""
    edges = np.diff(np.r_[0, ok.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _line_path(px: np.ndarray, py: np.ndarray, width: float) -> str:
    """"Mx y L x y x y ..." for each run of finite points (L repeats implicitly)."""
    parts = []
    for a, b in _runs(np.isfinite(px) & np.isfinite(py)):
        x, y = px[a:b], py[a:b]
        if len(x) > 4 * width:
            x, y = _thin(x, y)
        xy = [f"{u:g} {v:g}" for u, v in np.round(np.c_[x, y], 1)]
        parts.append("M" + xy[0] + ("L" + " ".join(xy[1:]) if len(xy) > 1 else ""))
    return "".join(parts)


def _dots_path(px: np.ndarray, py: np.ndarray) -> str:
    ok = np.isfinite(px) & np.isfinite(py)
    xy = np.unique(np.round(np.c_[px[ok], py[ok]]), axis=0)      # one dot per pixel
    return "".join(f"M{a:g} {b:g}h0" for a, b in xy)


def _entries(panels: Sequence[Panel]) -> list[tuple[str, str, str]]:
    """(kind, colour, label) of the labelled items, each label once, in order."""
    seen: dict[str, tuple[str, str, str]] = {}
    for p in panels:
        for kind, _, _, color, _, lab in p.items:
            if lab and lab not in seen:
                seen[lab] = (kind, color, lab)
    return list(seen.values())


def _entry_width(label: str, font: float) -> float:
    return 22 + len(label) * CHAR_W * font + 12


def _legend(out: list[str], entries, x: float, cy: float, f: float, row: bool) -> None:
    """Symbol and label of each entry, in a row (row=True) or a column from (x, cy)."""
    if entries:
        out.append('<g class="legend">')
    for kind, color, lab in entries:
        if kind == "line":
            sym = f'<path d="M{x:.1f} {cy:.1f}h16" stroke="{color}" stroke-width="1.5"/>'
        elif kind == "errorbar":
            sym = (f'<path d="M{x:.1f} {cy:.1f}h16M{x + 8:.1f} {cy - 6:.1f}v12" '
                   f'stroke="{color}" stroke-width="1.2"/><rect x="{x + 5.5:.1f}" '
                   f'y="{cy - 2.5:.1f}" width="5" height="5" fill="{color}"/>')
        elif kind == "band":
            sym = (f'<rect x="{x:.1f}" y="{cy - 4:.1f}" width="16" height="8" fill="{color}" '
                   'fill-opacity="0.25"/>')
        else:
            sym = f'<circle cx="{x + 8:.1f}" cy="{cy:.1f}" r="2.5" fill="{color}"/>'
        out.append(sym + f'<text x="{x + 20:.1f}" y="{cy + 0.35 * f:.1f}" '
                         f'font-size="{f:g}">{escape(lab)}</text>')
        if row:
            x += _entry_width(lab, f)
        else:
            cy += 1.6 * f
    if entries:
        out.append("</g>")


def _superscript(k: int) -> str:
    return str(k).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _diverging(v: float, vmin: float, vmax: float) -> str:
    """Blue (vmin) through white to red (vmax); grey for a missing value."""
    if not math.isfinite(v):
        return "#dddddd"
    t = min(1.0, max(0.0, (v - vmin) / (vmax - vmin))) * 2 - 1        # -1 .. 1
    end = (33, 102, 172) if t < 0 else (178, 24, 43)
    mid = (247, 247, 247)
    r, g, b = (round(m + abs(t) * (e - m)) for m, e in zip(mid, end))
    return f"#{r:02x}{g:02x}{b:02x}"
