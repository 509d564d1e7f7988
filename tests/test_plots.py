"""The figures (sebcal.plots, matplotlib): each figure's points are the data given, its value
axes span the scored windows only, its time axis is local standard time, its labels name the
site, the quantity and the unit. The report's SVG files are drawn by resvg, a renderer sebcal
does not use."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import numpy as np
import pytest

from conftest import ROOT
from sebcal.observations import Observation, Windows
from sebcal.plots import Site

pytest.importorskip("matplotlib", reason="matplotlib (a dependency) is not installed")
import matplotlib.dates as mdates  # noqa: E402

EX = ROOT / "examples"
N = 96                                            # two days of half hours
TIME = np.datetime64("2011-01-01T05:30") + np.arange(N) * np.timedelta64(30, "m")
SITE = Site("US-Test", -5.0, "utc_offset_hours")


def _windows(first_scored: int = 1) -> Windows:
    cal = np.zeros(N, bool)
    ev = np.zeros(N, bool)
    cal[first_scored:60] = True
    ev[60:] = True
    return Windows(cal, ev, ("a", "b"), ("c", "d"))


def _obs(label="LWup", variable="LWup", depth=None, values=None, fit=True):
    v = values if values is not None else 300 + 20 * np.sin(np.arange(N) / 7.6)
    return Observation(label, variable, depth, np.asarray(v, float), 6.0, fit, "test")


def _num(t):
    return mdates.date2num(np.asarray(t, dtype="datetime64[s]"))


# ----------------------------------------------------------------------------- series
def test_series_points_local_time_axis_and_scored_range():
    from sebcal import plots

    o = _obs()
    model = o.values + 2.0
    model[0] = 11000.0                # an unscored initial level (the spike of a bad start)
    fig = plots.series([o], {"LWup": model}, TIME, _windows(), SITE)
    ax, axr = fig.axes[:2]
    obs_line = next(ln for ln in ax.lines if ln.get_label() == "observed")
    mod_line = next(ln for ln in ax.lines if ln.get_label() == "model (best fit)")
    np.testing.assert_array_equal(obs_line.get_ydata(), o.values)
    np.testing.assert_array_equal(mod_line.get_ydata(), model)
    # x: local standard time, 5 h behind UTC: the first level 05:30 UTC is 00:30 local
    x0 = _num(np.datetime64("2011-01-01T00:30"))
    assert mdates.date2num(obs_line.get_xdata()[0]) == pytest.approx(x0)
    # y: the scored levels (1..N-1) only, padded by 5 % of their span
    scored = np.concatenate([o.values[1:], model[1:]])
    lo, hi = ax.get_ylim()
    span = scored.max() - scored.min()
    assert lo == pytest.approx(scored.min() - 0.05 * span)
    assert hi == pytest.approx(scored.max() + 0.05 * span)
    assert hi < 400.0                                   # not flattened by the 11000
    # residual panel: model - observed, on its own scored range
    res = next(ln for ln in axr.lines if ln.get_linestyle() == "None")
    np.testing.assert_allclose(res.get_ydata(), model - o.values)
    assert axr.get_ylim()[1] < 100
    # labels: site, quantity and unit, local time with its offset
    assert fig.get_suptitle().startswith("US-Test:")
    assert ax.get_ylabel() == "LWup [W m-2]"
    assert axr.get_ylabel() == "model − obs [W m-2]"
    assert fig.axes[0].get_xlabel() == "local standard time (UTC-5)"


def test_site_offset_from_longitude_or_utc():
    assert Site.from_config({"name": "X", "longitude": -112.1}).time_label == \
        "local standard time (UTC-7 from the longitude)"
    assert Site.from_config({"longitude": 250.0}).utc_offset_hours == -7.0
    assert Site.from_config({}).time_label == "time (UTC)"
    assert Site.from_config({"utc_offset_hours": 5.5}).time_label == \
        "local standard time (UTC+5.5)"


def test_series_into_a_users_axes():
    import matplotlib.pyplot as plt

    from sebcal import plots

    fig, axes = plt.subplots(2, 2)
    try:
        o1, o2 = _obs("A"), _obs("B", values=np.full(N, 310.0))
        out = plots.series([o1, o2], {"A": o1.values, "B": o2.values}, TIME, _windows(), SITE,
                           ax=axes[1][0], observation="B")
        assert out is fig
        ys = [ln.get_ydata() for ln in axes[1][0].lines]
        assert any(np.all(y == 310.0) for y in ys)
        assert not axes[0][0].lines                      # nothing drawn elsewhere
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------- pairs
def _starts():
    rng = np.random.default_rng(1)
    return [{"failed": False,
             "initial": {"lambda": float(a), "C": float(c)},
             "final": {"lambda": 0.8 + 0.001 * k, "C": 2.2e6}}
            for k, (a, c) in enumerate(zip(rng.uniform(0.47, 0.8, 6), rng.uniform(2e6, 2.5e6, 6)))]


def test_pairs_marks_best_bounds_plausible_and_data_only():
    from sebcal import plots

    fig = plots.pairs(["lambda", "C"], {"lambda": "W m-1 K-1", "C": "J m-3 K-1"}, _starts(),
                      {"lambda": 0.8, "C": 2.2e6}, {"lambda": 0.01, "C": 5e4},
                      bounds={"lambda": (0.45, 6.0), "C": (5e5, 5e6)},
                      plausible={"lambda": (0.1, 3.0), "C": (0.9e6, 4e6)},
                      data_only={"lambda": 0.7, "C": 2.3e6}, site=SITE)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines}
    fin = lines["final (MAP, with priors)"]
    np.testing.assert_allclose(fin.get_xdata(), [s["final"]["lambda"] for s in _starts()])
    do = lines["data-only optimum"]
    assert (do.get_xdata()[0], do.get_ydata()[0]) == (0.7, 2.3e6)
    star = [ln for ln in ax.lines if ln.get_marker() == "*"][0]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (0.8, 2.2e6)
    # the lower lambda bound (0.45) lies near the points (starts from 0.52): drawn, in view;
    # the upper one (6.0) lies far away: left out
    bound_x = [ln.get_xdata()[0] for ln in ax.lines if ln.get_label() == "calibration bound"
               and ln.get_xdata()[0] == ln.get_xdata()[1]]
    assert bound_x == [0.45]
    assert ax.get_xlim()[0] <= 0.45 and ax.get_xlim()[1] < 1.0
    # the plausible range: a rectangle from (0.1, 0.9e6) to (3.0, 4e6)
    rect = [p for p in ax.patches if p.get_label() == "plausible range"][0]
    assert rect.get_x() == 0.1 and rect.get_y() == 0.9e6
    assert rect.get_width() == pytest.approx(2.9) and rect.get_height() == pytest.approx(3.1e6)
    assert ax.get_xlabel() == "lambda [W m-1 K-1]" and ax.get_ylabel() == "C [J m-3 K-1]"
    assert fig.get_suptitle().startswith("US-Test:")
    labels = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else \
        [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == len(set(labels))               # each label once
    # without priors the finals are plain finals; with one free parameter there is no figure
    fig = plots.pairs(["lambda", "C"], {}, _starts(), {}, None)
    assert "final" in {ln.get_label() for ln in fig.axes[0].lines}
    assert plots.pairs(["lambda"], {}, _starts(), {}, None) is None


# ----------------------------------------------------------------------------- profile
def test_profile_heat_maps_show_the_scored_data_by_depth():
    from sebcal import plots

    depths = [0.05, 0.1, 0.2, 0.5]
    obs = [_obs(f"T{k}", "SoilTemp", d, 280 + k + np.sin(np.arange(N) / 7.6) / (k + 1))
           for k, d in enumerate(depths)]
    model = {o.label: o.values + 0.5 for o in obs}
    model["T0"][0] = 400.0                               # unscored
    win = _windows()
    fig = plots.profile(obs, model, TIME, win, SITE)
    meshes = [a.collections[0] for a in fig.axes if a.collections][:3]
    obs_mesh, mod_mesh, res_mesh = (np.ma.filled(m.get_array(), np.nan).reshape(len(depths), N)
                                    for m in meshes)
    for k, o in enumerate(obs):
        np.testing.assert_array_equal(obs_mesh[k, 1:], o.values[1:])
        np.testing.assert_allclose(res_mesh[k, 1:], 0.5)
    assert np.all(np.isnan(mod_mesh[:, 0]))              # the unscored level is not shown
    vmin, vmax = meshes[1].get_clim()
    assert vmax < 300 and vmin >= 279                    # colours span the scored values
    ax = fig.axes[0]
    y0, y1 = ax.get_ylim()
    assert y0 > y1 and y1 == pytest.approx(0.025)        # depth down, from the top cell edge
    assert ax.get_ylabel() == "depth [m]"
    assert fig.get_suptitle().startswith("US-Test:")
    assert plots.profile(obs[:2], model, TIME, win, SITE) is None


# ----------------------------------------------------------------------------- diurnal
def test_diurnal_composite_by_local_hour():
    from sebcal import plots

    # a value equal to the local standard hour (UTC-5) of its level, worked out by hand
    utc_hour = (TIME.astype("datetime64[h]").astype(int)) % 24
    local_hour = (utc_hour - 5) % 24
    o = _obs("X", values=local_hour.astype(float))
    fig = plots.diurnal([o], {"X": o.values + 1.0}, TIME, _windows(0), SITE)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines}
    np.testing.assert_allclose(lines["observed"].get_ydata(), np.arange(24))
    np.testing.assert_allclose(lines["model"].get_ydata(), np.arange(24) + 1.0)
    assert ax.get_xlabel() == "hour, local standard time (UTC-5)"
    assert ax.get_ylabel() == "LWup [W m-2]"


# ----------------------------------------------------------------------------- scatter
def test_observed_vs_modelled_splits_windows_and_spans_scored_data():
    from sebcal import plots

    o = _obs()
    model = o.values * 1.1
    model[0] = 11000.0
    win = _windows()
    fig = plots.observed_vs_modelled([o], {"LWup": model}, win, SITE)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines}
    np.testing.assert_array_equal(lines["calibration"].get_xdata(), o.values[1:60])
    np.testing.assert_array_equal(lines["evaluation"].get_ydata(), model[60:])
    one = lines["1:1"]
    np.testing.assert_array_equal(one.get_xdata(), one.get_ydata())
    assert ax.get_ylim()[1] < 400 and ax.get_xlim() == ax.get_ylim()
    assert ax.get_xlabel() == "observed LWup [W m-2]"


def test_correlation_shows_the_matrix():
    from sebcal import plots

    fig = plots.correlation(["a", "b"], [[1.0, -0.4], [-0.4, 1.0]])
    im = fig.axes[0].images[0]
    np.testing.assert_array_equal(im.get_array(), [[1.0, -0.4], [-0.4, 1.0]])
    assert im.get_clim() == (-1.0, 1.0)
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.00", "-0.40", "-0.40", "1.00"]


# ----------------------------------------------------------------------------- the API
@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """The two-depth synthetic case calibrated in two stages, written to a folder."""
    import sebcal

    d = tomllib.loads((EX / "paper_synthetic_2depth.toml").read_text())
    for o in d["observations"].values():
        o["file"] = str((EX / o["file"]).resolve())
    d["site"] = {"name": "Synthetic", "utc_offset_hours": 0}
    d["calibration"].pop("published", None)
    d["calibration"]["starts"] = 4
    d["calibration"]["stages"] = [
        {"name": "soil", "free": ["lambda", "C"], "fit": ["T5"]},
        {"name": "surface", "free": ["alpha", "h_eff", "T_b"], "fit": ["Ts", "T5"]}]
    out = tmp_path_factory.mktemp("staged") / "out"
    return sebcal.calibrate(d, out=out)


def test_plot_returns_a_matplotlib_figure_that_saves_pdf(staged, tmp_path):
    from matplotlib.figure import Figure

    for kind in ("series", "diurnal", "scatter", "multistart", "correlation"):
        assert isinstance(staged.plot(kind), Figure)
    fig = staged.plot()
    fig.axes[0].set_title("restyled")
    fig.savefig(tmp_path / "x.pdf")
    fig.savefig(tmp_path / "x.png")
    assert (tmp_path / "x.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    soil = staged.plot("multistart", stage="soil")
    assert soil.axes[0].get_xlabel().startswith("lambda")
    from sebcal.errors import ConfigError

    with pytest.raises(ConfigError, match="stage 'nope': the stages are soil, surface"):
        staged.plot(stage="nope")
    with pytest.raises(ConfigError, match="plot kind 'nope'"):
        staged.plot("nope")
    with pytest.raises(ConfigError, match="three or more soil-temperature depths"):
        staged.plot("profile")


def test_report_figures_per_stage_render(staged):
    """Every figure file of both stages is an SVG that an independent renderer draws."""
    resvg = pytest.importorskip("resvg_py", reason="resvg-py (a test extra) is not installed")
    image = pytest.importorskip("PIL.Image", reason="pillow (a test extra) is not installed")
    import io

    out = staged.out_dir
    report = (out / "report.md").read_text()
    assert report.startswith("# sebcal calibration report: Synthetic")
    for prefix in ("soil-", ""):
        for name in ("series", "diurnal", "scatter", "multistart", "correlation"):
            f = out / f"{prefix}{name}.svg"
            assert f"]({f.name})" in report
            png = bytes(resvg.svg_to_bytes(svg_string=f.read_text(), dpi=72.0))   # pt sizes
            px = np.asarray(image.open(io.BytesIO(png)).convert("RGB")).astype(int)
            assert px.shape[0] > 100 and px.shape[1] > 100
            assert (px.min(axis=2) < 100).mean() > 0.002      # ink: lines, dots, text


def test_calibrating_does_not_import_matplotlib():
    code = ("import sys, sebcal\n"
            f"sebcal.calibrate({str(EX / 'paper_synthetic_2depth.toml')!r}, starts=2)\n"
            "print('matplotlib' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


# ----------------------------------------------------------------------------- displays
def test_tables_print_whole_with_significant_digits(staged):
    import pandas as pd

    from sebcal.displays import significant

    assert significant(183575.597444, 4) == "183600"
    assert significant(0.012345678, 3) == "0.0123"
    assert significant(2.2e6, 4) == "2.200e+06"
    assert significant(293.0, 4) == "293.0"
    with pd.option_context("display.width", 40, "display.max_columns", 3):
        text = str(staged.metrics)
    assert "..." not in text
    for col in ("rmse", "bias", "r", "n", "unit"):
        assert col in text.splitlines()[0]
    m = staged.metrics
    rmse = float(m["rmse"].iloc[0])
    assert significant(rmse, 3) in text
    assert isinstance(m["rmse"].iloc[0], float)          # the numbers keep full precision
    p = str(staged.parameters)
    assert significant(float(staged.parameters.loc["lambda", "value"]), 4) in p
    html = staged._repr_html_()
    assert "<table" in html and significant(float(staged.parameters.loc["lambda", "value"]),
                                            4) in html
    assert type(m.reset_index()) is pd.DataFrame           # operations give plain frames
    import pickle

    again = pickle.loads(pickle.dumps(m))                    # picklable (multiprocessing)
    assert again.equals(m) and str(again) == text


def test_report_series_leaves_unfitted_profile_sensors_to_the_heat_map():
    """Nine soil depths are not nine stacked panels: with a profile figure the series keeps
    the fitted sensors and the other observations."""
    from types import SimpleNamespace

    from sebcal.calibration import report

    soil = [_obs(f"T{k}", "SoilTemp", d, np.full(N, 280.0 + k), fit=(k == 1))
            for k, d in enumerate([0.05, 0.1, 0.2, 0.5])]
    lw = _obs()
    fit = SimpleNamespace(config=SimpleNamespace(site={"name": "S", "utc_offset_hours": -5}),
                          observations=soil + [lw],
                          model_values={o.label: o.values for o in soil + [lw]},
                          windows=_windows(), forcing=SimpleNamespace(time=TIME))
    fig = report.figure("series", fit)
    assert [a.get_ylabel() for a in fig.axes[::2]] == ["SoilTemp at 0.1 m [K]", "LWup [W m-2]"]
    assert report.figure("profile", fit) is not None
    one = report.figure("series", fit, observation="T3")     # asked for: drawn
    assert one.axes[0].get_ylabel().startswith("SoilTemp at 0.5 m")
