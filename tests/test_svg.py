"""The SVG charts of the report, read back the way a reader reads them: through the numbers
written on their axes."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sebcal.errors import SebcalError
from sebcal.svg import Figure, nice_ticks, tick_labels

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(fig: Figure) -> ET.Element:
    root = ET.fromstring(fig.svg())                     # well-formed XML, or this raises
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def _number(text: str) -> float:
    """A tick label's value: "−0.25", or "10⁻⁵" on a log axis."""
    if text.startswith("10") and len(text) > 2 and text[2] in "⁻⁰¹²³⁴⁵⁶⁷⁸⁹":
        return 10.0 ** int(text[2:].translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")))
    return float(text.replace("−", "-"))


def _axis_maps(panel: ET.Element):
    """Pixel -> data maps of a panel, fitted through its tick marks and their labels."""
    def fit(cls, attr, power_cls):
        ticks = panel.findall(f".//s:text[@class='{cls}tick']", NS)
        marks = panel.findall(f".//s:path[@class='{cls}mark']", NS)
        assert len(marks) == len(ticks)
        pos = np.array([_path_points(m.get("d"))[0][0, 0 if cls == "x" else 1] for m in marks])
        label_pos = np.array([float(t.get(attr)) for t in ticks])
        assert np.all(np.abs(label_pos - pos) < 6), "a tick label away from its mark"
        val = np.array([_number(t.text) for t in ticks])
        pw = panel.find(f".//s:text[@class='{power_cls}']", NS)
        if pw is not None:
            sup = pw.text.removeprefix("×10").translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹",
                                                                     "-0123456789"))
            val = val * 10.0 ** int(sup)
        assert len(ticks) >= 2, f"{cls}: fewer than two tick labels"
        if panel.get(f"data-{cls}log") == "1":          # linear in log10 of the value
            slope, icpt = np.polyfit(pos, np.log10(val), 1)
            return lambda p: 10.0 ** (slope * np.asarray(p) + icpt), abs(slope)
        slope, icpt = np.polyfit(pos, val, 1)
        return lambda p: slope * np.asarray(p) + icpt, abs(slope)

    fx, sx = fit("x", "x", "xpower")
    fy, sy = fit("y", "y", "ypower")
    return fx, fy, sx, sy


def _path_points(d: str) -> list[np.ndarray]:
    """The subpaths of an SVG path made of M, L (implicit repeats), h0, v4 and h-4 commands
    (the relative moves are dropped: marks and dots are read by their start)."""
    subpaths = []
    for part in re.findall(r"M[^M]+", d):
        part = re.sub(r"[hv]-?[0-9.]+", "", part)
        nums = [float(v) for v in re.findall(r"-?[0-9.]+(?:e-?\d+)?", part)]
        subpaths.append(np.array(nums).reshape(-1, 2))
    return subpaths


# ------------------------------------------------------------------------------------ ticks

@settings(max_examples=300, deadline=None)
@given(lo=st.floats(-1e7, 1e7), span=st.floats(1e-6, 1e7), n=st.integers(3, 7))
def test_ticks_are_round_equally_spaced_and_inside_the_range(lo, span, n):
    hi = lo + span
    if hi - lo < 1e-9 * max(1.0, abs(lo)):               # below float64 resolution there
        return
    t = nice_ticks(lo, hi, n)
    assert 2 <= len(t) <= 2.5 * n + 1, t
    step = (t[1] - t[0]) if len(t) > 1 else None
    tol = 1e-9 * max(abs(lo), abs(hi), span)
    assert t[0] >= lo - tol and t[-1] <= hi + tol
    big = float(np.max(np.abs(t)))
    if step is not None:
        rel = 1e-9 + 1e-14 * big / step          # differences of large ticks lose digits
        np.testing.assert_allclose(np.diff(t), step, rtol=rel)
        mant = step / 10.0 ** math.floor(math.log10(step) + 1e-12)
        assert min(abs(mant - m) for m in (1, 2, 2.5, 5, 10)) < 10 * rel, step
    labels, power = tick_labels(t)
    assert len(set(labels)) == len(labels), labels                  # no two read the same
    back = np.array([_number(s) for s in labels]) * 10.0 ** power
    np.testing.assert_allclose(back, t, rtol=1e-12, atol=1e-9 * (step or 1.0))


def test_ticks_refuse_an_empty_range():
    with pytest.raises(ValueError, match="lo < hi"):
        nice_ticks(1.0, 1.0)


# ------------------------------------------------------------------------------------ charts

@pytest.mark.parametrize("offset,scale", [(0.0, 1.0), (293.0, 5.0), (2.2e6, 1e5),
                                          (0.0, 3e-4)])
def test_data_drawn_where_the_axis_labels_say(offset, scale):
    """Points read back through the tick labels (as a reader would) are the data, to the
    0.1 px the coordinates are rounded to."""
    x = np.linspace(0.0, 100.0, 41)
    y = offset + scale * np.sin(x / 7.0)
    fig = Figure(640, 360, title="t")
    ax = fig.panel(80, 40, 520, 260)
    ax.line(x, y, color="red", label="model")
    ax.dots(x[::4], y[::4] + 0.1 * scale, color="black", label="obs")
    ax.labels(x="hours", y="T [K]")
    root = _parse(fig)
    panel = root.find(".//s:g[@class='panel']", NS)
    fx, fy, sx, sy = _axis_maps(panel)
    (line,) = _path_points(panel.find(".//s:path[@class='line']", NS).get("d"))
    # the points and the tick marks are each rounded to 0.1 px (± 0.05 px)
    np.testing.assert_allclose(fx(line[:, 0]), x, atol=0.11 * sx)
    np.testing.assert_allclose(fy(line[:, 1]), y, atol=0.11 * sy + 1e-9 * abs(offset))
    dots = np.vstack(_path_points(panel.find(".//s:path[@class='dots']", NS).get("d")))
    order = np.argsort(dots[:, 0])
    np.testing.assert_allclose(fx(dots[order, 0]), x[::4], atol=0.56 * sx)
    np.testing.assert_allclose(fy(dots[order, 1]), y[::4] + 0.1 * scale,
                               atol=0.56 * sy + 1e-9 * abs(offset))


@pytest.mark.parametrize("lo,hi", [(1e-6, 0.3), (0.4, 6.5), (2.0, 9.0), (50.0, 1e5)])
def test_log_axes_put_data_where_their_labels_say(lo, hi):
    """On log axes (values over decades, or within one) points read back through the labels
    are the data, to the 0.1 px rounding in log10 of the value."""
    rng = np.random.default_rng(3)
    x = np.exp(rng.uniform(np.log(lo), np.log(hi), 30))
    y = np.exp(rng.uniform(np.log(lo), np.log(hi), 30))
    fig = Figure(400, 400)
    ax = fig.panel(70, 30, 300, 300)
    ax.xlog = ax.ylog = True
    ax.dots(x, y, color="red")
    ax.errorbar(float(np.median(x)), float(np.median(y)), 2 * hi, 2 * hi, color="green")
    root = _parse(fig)
    assert "nan" not in fig.svg().lower()           # the bars below zero end at the edge
    panel = root.find(".//s:g[@class='panel']", NS)
    fx, fy, sx, sy = _axis_maps(panel)
    dots = np.vstack(_path_points(panel.find(".//s:path[@class='dots']", NS).get("d")))
    order, want = np.argsort(dots[:, 0]), np.argsort(x)
    np.testing.assert_allclose(np.log10(fx(dots[order, 0])), np.log10(x[want]),
                               atol=0.56 * sx)
    if hi / lo >= 10:                                # labelled at powers of ten
        labels = [t.text for t in panel.findall(".//s:text[@class='xtick']", NS)]
        assert all(t.startswith("10") for t in labels), labels


def test_a_figure_legend_lists_each_label_of_its_panels_once():
    fig = Figure(500, 300)
    a = fig.panel(50, 20, 150, 200)
    b = fig.panel(250, 20, 150, 200)
    a.dots([1, 2], [1, 2], color="grey", label="start")
    b.dots([1, 2], [1, 2], color="grey", label="start")
    b.errorbar(1.5, 1.5, 0.1, 0.1, color="green", label="published")
    fig.legend(420, 40)
    root = _parse(fig)
    texts = [t.text for t in root.findall(".//s:g[@class='legend']/s:text", NS)]
    assert texts == ["start", "published"]


def test_gaps_break_the_line_and_nothing_non_finite_is_written():
    x = np.arange(20.0)
    y = np.sin(x)
    y[[7, 8, 15]] = np.nan
    fig = Figure(400, 300)
    ax = fig.panel(60, 20, 320, 240)
    ax.line(x, y, color="red")
    ax.dots(x, y, color="black")
    text = fig.svg()
    assert "nan" not in text.lower() and "inf" not in text.lower()
    root = _parse(fig)
    sub = _path_points(root.find(".//s:path[@class='line']", NS).get("d"))
    assert [len(s) for s in sub] == [7, 6, 4]
    dots = _path_points(root.find(".//s:path[@class='dots']", NS).get("d"))
    assert len(dots) == 17


def test_a_dense_series_keeps_its_envelope_in_every_pixel_column():
    """A half-hourly year (17,520 values) in a 500 px panel: a few points per pixel column
    are written, and each column's lowest and highest value are among them."""
    rng = np.random.default_rng(1)
    x = np.arange(17_520.0)
    y = np.sin(x / 48 * 2 * np.pi) + 0.3 * rng.standard_normal(x.size)
    fig = Figure(600, 300)
    ax = fig.panel(60, 20, 500, 240)
    ax.xlim = (0.0, 17_520.0)
    ax.line(x, y, color="red")
    root = _parse(fig)
    (pts,) = _path_points(root.find(".//s:path[@class='line']", NS).get("d"))
    assert len(pts) <= 4 * 501
    # the same columns computed from every value
    px = 60 + x / 17_520.0 * 500
    col = np.floor(px).astype(int)
    panel = root.find(".//s:g[@class='panel']", NS)
    y0, y1 = (float(v) for v in panel.get("data-ylim").split())
    py = 20 + 240 - (y - y0) / (y1 - y0) * 240
    for c in np.unique(col)[::10]:
        sel = py[col == c]
        near = pts[(pts[:, 0] >= c - 0.051) & (pts[:, 0] <= c + 1.051), 1]   # 0.1 px rounding
        for extreme in (sel.min(), sel.max()):
            assert np.min(np.abs(near - extreme)) <= 0.051, (c, extreme, near)


@pytest.mark.parametrize("y", [[293.0, 293.0, 293.0], [293.0, 293.0 + 1e-12, 293.0],
                               [0.0, 0.0, 0.0], [np.nan, np.nan, np.nan]])
def test_constant_or_empty_series_still_get_a_readable_axis(y):
    fig = Figure(400, 300)
    ax = fig.panel(60, 20, 320, 240)
    ax.line([0.0, 1.0, 2.0], y, color="red")
    root = _parse(fig)
    fx, fy, sx, sy = _axis_maps(root.find(".//s:g[@class='panel']", NS))
    finite = np.isfinite(y)
    if finite.any():
        (pts,) = _path_points(root.find(".//s:path[@class='line']", NS).get("d"))
        np.testing.assert_allclose(fy(pts[:, 1]), np.asarray(y)[finite], atol=0.11 * sy)


def test_labels_are_escaped_and_read_back():
    fig = Figure(400, 300, title="a < b & c > d")
    ax = fig.panel(60, 30, 320, 230)
    ax.line([0, 1], [0, 1], color="red", label='"quoted" <label>')
    ax.labels(x="x & y", y="first line\nsecond <line>")
    ax.legend = True
    root = _parse(fig)
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "a < b & c > d" in texts and '"quoted" <label>' in texts
    assert "first linesecond <line>" in texts and "x & y" in texts


def test_heatmap_colours_run_from_blue_through_white_to_red():
    m = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, np.nan], [0.0, np.nan, 1.0]])
    fig = Figure(400, 400)
    ax = fig.panel(80, 40, 240, 240)
    ax.heatmap(m, ["a", "b", "c"])
    root = _parse(fig)
    cells = root.findall(".//s:g[@class='heatmap']/s:rect", NS)[:9]
    fills = [c.get("fill") for c in cells]

    def rgb(h):
        return tuple(int(h[k:k + 2], 16) for k in (1, 3, 5))
    assert rgb(fills[0])[0] > 150 and rgb(fills[0])[2] < 80          # +1: red
    assert rgb(fills[1])[2] > 150 and rgb(fills[1])[0] < 80          # -1: blue
    assert min(rgb(fills[2])) > 240                                   # 0: near white
    assert fills[5] == fills[7] == "#dddddd"                          # missing: grey
    values = [_number(t.text) for t in root.findall(".//s:g[@class='heatmap']/s:text", NS)
              if re.fullmatch(r"−?\d\.\d\d", t.text or "")]
    assert sorted(values) == sorted(v for v in m.ravel() if np.isfinite(v))


def test_figures_shown_together_share_no_element_id():
    """A notebook puts every inline SVG in one page: a clip path or colour scale of one figure
    must not be found under the id of another's."""
    ids = []
    for _ in range(3):
        fig = Figure(300, 300)
        fig.panel(40, 20, 200, 200).line([0, 1], [0, 1], color="red")
        fig.panel(40, 20, 200, 200).heatmap([[1.0, 0.5], [0.5, 1.0]], ["a", "b"])
        ids += [e.get("id") for e in _parse(fig).iter() if e.get("id")]
        del fig                                        # its memory may be reused
    assert len(ids) == 6 and len(set(ids)) == 6, ids


def test_save_writes_through_a_temporary_file(tmp_path):
    fig = Figure(200, 100)
    fig.panel(40, 10, 150, 70).line([0, 1], [1, 2], color="red")
    fig.save(tmp_path / "f.svg")
    assert ET.parse(tmp_path / "f.svg").getroot().get("width") == "200"
    assert [p.name for p in tmp_path.iterdir()] == ["f.svg"]
    with pytest.raises(SebcalError, match="does not exist"):
        fig.save(tmp_path / "missing" / "f.svg")


def _render(svg: str):
    """RGB pixels of ``svg`` drawn by resvg, a renderer sebcal does not use."""
    resvg = pytest.importorskip("resvg_py", reason="resvg-py (a test extra) is not installed")
    image = pytest.importorskip("PIL.Image", reason="pillow (a test extra) is not installed")
    import io

    png = bytes(resvg.svg_to_bytes(svg_string=svg))
    return np.asarray(image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_an_independent_renderer_draws_what_the_data_say():
    """resvg draws the line, the dots and the shaded band where their data put them: the box
    spans x, y in [0, 10] exactly, so a data point (x, y) is at pixel (50 + 30 x, 330 - 30 y)."""
    fig = Figure(400, 380)
    ax = fig.panel(50, 30, 300, 300)
    ax.xlim, ax.ylim = (0.0, 10.0), (0.0, 10.0)
    ax.band(6.0, 8.0, color="#1f77b4", opacity=0.3)
    ax.line([0.0, 10.0], [0.0, 10.0], color="#d62728", width=3)
    ax.dots([2.0], [8.0], color="#000000", size=8)
    px = _render(fig.svg())
    assert px.shape == (380, 400, 3)

    def at(x, y):
        return px[round(330 - 30 * y), round(50 + 30 * x)]

    for t in (1.0, 3.3, 5.0, 9.0):                      # on the diagonal: red
        r, g, b = at(t, t)
        assert r > 180 and g < 90 and b < 90, (t, at(t, t))
    assert at(2.0, 8.0).max() < 60                       # the dot: black
    r, g, b = at(7.0, 2.0)                               # inside the band: blue tint
    assert b > r + 40, at(7.0, 2.0)
    assert at(4.0, 2.0).min() > 240                      # elsewhere in the box: white


def test_the_report_figures_render(tmp_path):
    """The three figures of a calibration report, drawn by resvg at their declared size, are
    not blank."""
    from sebcal.calibration import report

    class Obs:
        label, units, fit = "T5", "K", True
        values = 290 + np.sin(np.arange(48) / 4.0)

        def describe(self):
            return "SoilTemp at 0.05 m"

    class Forcing:
        time = np.datetime64("2000-01-01T00:00") + np.arange(48) * np.timedelta64(1, "h")

    class Windows:
        calibration = np.arange(48) < 30
        evaluation = ~calibration

    class Coord:
        def __init__(self, label, unit, log):
            self.label, self.unit, self.log = label, unit, log

    class Space:
        free = ["lambda", "r_s"]
        coords = [Coord("lambda", "W m-1 K-1", True), Coord("r_s", "s m-1", True)]

    rng = np.random.default_rng(0)
    starts = [{"failed": False, "initial": {"lambda": float(a), "r_s": float(b)},
               "final": {"lambda": 0.8, "r_s": 120.0}}
              for a, b in zip(rng.uniform(0.3, 3, 10), 10 ** rng.uniform(1, 4, 10))]
    figs = [report.series_figure([Obs()], {"T5": Obs.values + 0.1}, Forcing, Windows),
            report.multistart_figure(Space, starts, None),
            report.correlation_figure(Space, {"correlation": [[1.0, -0.4], [-0.4, 1.0]]})]
    for fig in figs:
        px = _render(fig.svg())
        assert px.shape == (int(fig.height), int(fig.width), 3)
        assert (px.min(axis=2) < 100).mean() > 0.002     # ink: lines, dots, text
