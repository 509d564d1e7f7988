"""Prediction with calibrated parameters (`sebcal run CONFIG --params PARAMS.json`).

The skill a prediction reports is checked against the calibration's own skill table on the same
window, and against RMSEs computed here directly from the published target files.
"""

from __future__ import annotations

import csv
import json
import tomllib

import numpy as np
import pytest

from conftest import PAPER, ROOT

EXAMPLE = ROOT / "examples" / "paper_synthetic_2depth.toml"


def _config(**calibration):
    from sebcal.config import parse_config

    d = tomllib.loads(EXAMPLE.read_text())
    d["calibration"].update(calibration)
    d["calibration"].pop("published", None)
    if calibration.get("drop"):
        del d["calibration"]
    return parse_config(d, path=EXAMPLE)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A calibration on hours 0-60 evaluated on 60-100, written to a folder."""
    from sebcal.calibration import calibrate

    out = tmp_path_factory.mktemp("cal")
    cfg = _config(calibration_hours=[0, 60], evaluation_hours=[60, 100], starts=6)
    res = calibrate(cfg, out, progress=False, figures=False, log=lambda *a: None)
    return cfg, out, res


def _observed(name: str) -> np.ndarray:
    return np.array([float(x) for x in (PAPER / f"Target_{name}.txt").read_text().split()])


def test_prediction_on_the_calibration_config_reproduces_its_skill_table(calibrated):
    from sebcal.calibration.predict import predict

    cfg, out, res = calibrated
    pred = predict(cfg, out / "params.json")
    want = res.params["metrics"]
    assert set(pred.metrics) == {"calibration", "evaluation"}
    for wname in ("calibration", "evaluation"):
        assert set(pred.metrics[wname]) == set(want[wname])
        for key, m in want[wname].items():
            got = pred.metrics[wname][key]
            assert got["n"] == m["n"] > 0
            for k in ("rmse", "bias", "r"):
                assert got[k] == pytest.approx(m[k], rel=1e-12, abs=1e-15), (wname, key, k)


def test_prediction_skill_agrees_with_the_targets_themselves(calibrated):
    """RMSE over hours 60-100 from the published target files and the predicted profile."""
    from sebcal.calibration.predict import predict

    cfg, out, _ = calibrated
    pred = predict(cfg, out / "params.json")
    z = pred.sim.z
    k5 = int(np.argmin(abs(z - 0.05)))
    assert abs(z[k5] - 0.05) < 1e-12
    t = np.arange(101)                               # hours of the levels
    ev = (t > 60) & (t <= 100)
    for name, model in (("T1", pred.sim.T[:, 0]), ("T2", pred.sim.T[:, k5])):
        obs = _observed(name)
        rmse = float(np.sqrt(np.mean((model[ev] - obs[ev]) ** 2)))
        label = "Ts (AvgSurfT)" if name == "T1" else "T5 (SoilTemp at 0.05 m)"
        assert pred.metrics["evaluation"][label]["rmse"] == pytest.approx(rmse, rel=1e-12)
        assert pred.metrics["evaluation"][label]["n"] == 40
        # the fit recovers the synthetic truth, so the prediction is good to a few mK
        assert rmse < 0.05


def _write_toml(path, d):
    lines = []

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    def table(prefix, t):
        scalars = {k: v for k, v in t.items() if not isinstance(v, dict)}
        subs = {k: v for k, v in t.items() if isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {val(v)}" for k, v in scalars.items())
        for k, v in subs.items():
            table(f"{prefix}.{k}" if prefix else k, v)

    table("", d)
    path.write_text("\n".join(lines) + "\n")


def test_cli_run_with_params_scores_the_whole_run_without_a_calibration_table(calibrated,
                                                                             tmp_path):
    from sebcal.cli import main

    _, out, _ = calibrated
    d = tomllib.loads(EXAMPLE.read_text())
    del d["calibration"]
    d["time"]["steps"] = 80                       # another (shorter) period of the forcing
    for o in d["observations"].values():          # text files hold one value per level
        src = EXAMPLE.parent / o["file"]
        short = tmp_path / src.name
        short.write_text("\n".join(src.read_text().split()[:81]) + "\n")
        o["file"] = str(short)
    cfg = tmp_path / "predict.toml"
    _write_toml(cfg, d)
    nc = tmp_path / "pred.nc"
    assert main(["run", str(cfg), "--params", str(out / "params.json"), "--out", str(nc)]) == 0
    rows = list(csv.DictReader((tmp_path / "pred_skill.csv").open()))
    assert {r["window"] for r in rows} == {"run"}
    by = {r["series"]: r for r in rows}
    import netCDF4

    with netCDF4.Dataset(nc) as ds:
        ts = np.asarray(ds["AvgSurfT"][:], dtype=float)
        obs = np.asarray(ds["obs_Ts"][:], dtype=float)
    assert len(ts) == 81
    want = float(np.sqrt(np.mean((ts[1:] - _observed("T1")[1:81]) ** 2)))
    assert np.allclose(obs, _observed("T1")[:81])
    assert float(by["Ts (AvgSurfT)"]["rmse"]) == pytest.approx(want, rel=1e-9)
    assert int(by["Ts (AvgSurfT)"]["n"]) == 80
    # the outputs are kept unless --force
    before = (tmp_path / "pred_skill.csv").read_text()
    nc.unlink()                                   # the skill table alone also blocks
    assert main(["run", str(cfg), "--params", str(out / "params.json"), "--out", str(nc)]) == 2
    assert not nc.exists() and (tmp_path / "pred_skill.csv").read_text() == before
    assert main(["run", str(cfg), "--params", str(out / "params.json"), "--out", str(nc),
                 "--force"]) == 0


def test_prediction_reports_unused_parameters_and_changed_options(calibrated):
    from sebcal.calibration.predict import predict
    from sebcal.config import parse_config

    _, out, _ = calibrated
    d = tomllib.loads(EXAMPLE.read_text())
    del d["calibration"]
    d["physics"] = {"turbulence": "bulk"}          # bulk transfer: h_eff is not used
    d["forcing"].update(wind=3.0, psurf=1.0e5, qair=0.008)
    d["parameters"]["z0m"] = 0.01
    d["site"] = {"measurement_height": 2.0}
    cfg = parse_config(d, path=EXAMPLE)
    pred = predict(cfg, out / "params.json")
    assert pred.ignored == ["h_eff"]
    assert pred.option_changes == {"turbulence": ("h_eff", "bulk")}
    assert pred.applied["lambda"] == pytest.approx(0.8, rel=0.01)
    assert pred.config.full_params()["lambda"] == pred.applied["lambda"]
    m = pred.metrics["run"]["T5 (SoilTemp at 0.05 m)"]
    assert m["n"] == 100 and np.isfinite(m["rmse"])


def test_prediction_needs_observations_and_a_params_file(calibrated, tmp_path):
    from sebcal.calibration.predict import predict
    from sebcal.config import parse_config
    from sebcal.errors import ConfigError

    cfg, out, _ = calibrated
    with pytest.raises(ConfigError, match="does not exist"):
        predict(cfg, tmp_path / "nope.json")
    d = tomllib.loads(EXAMPLE.read_text())
    del d["calibration"], d["observations"]
    with pytest.raises(ConfigError, match="nothing to score"):
        predict(parse_config(d, path=EXAMPLE), out / "params.json")


# ---------------------------------------------------------------- empirical benchmarks


def test_benchmark_regression_equals_a_straight_line_fit():
    """One predictor, no lags: the OLS benchmark is numpy's polyfit of degree 1."""
    from types import SimpleNamespace

    from sebcal.calibration.benchmarks import train

    rng = np.random.default_rng(3)
    sw = np.clip(800 * np.sin(np.arange(200) / 7.0), 0, None)
    y = 0.31 * sw - 4.0 + rng.normal(0, 5, 200)
    y[17] = np.nan
    forcing = SimpleNamespace(data={"SWdown": sw}, dt=3600.0)
    levels = np.arange(200) < 120
    reg = train(y, "Qh", forcing, {}, levels)
    ok = levels & np.isfinite(y)
    slope, icpt = np.polyfit(sw[ok], y[ok], 1)
    assert reg.predictors == ("SWdown",) and reg.n == int(ok.sum())
    assert np.allclose(reg.predict(forcing, {}), slope * sw + icpt, rtol=0, atol=1e-9)


def test_soil_benchmark_lags_reach_back_only_to_the_first_level():
    from types import SimpleNamespace

    from sebcal.calibration.benchmarks import LAGS_H, MEANS_H, design

    x = np.arange(200, dtype=float)
    forcing = SimpleNamespace(data={"Ttop": 280 + x}, dt=1800.0)
    X, names = design("SoilTemp", forcing, {"top": "temperature"})
    assert names == ("Ttop",) and X.shape == (200, len(LAGS_H) + len(MEANS_H) - 1)
    k = LAGS_H.index(3.0)                         # 3 h = 6 half-hour levels
    assert np.all(np.isnan(X[:6, k])) and np.allclose(X[6:, k], 280 + x[:-6])
    # the 72 h mean (144 levels) reaches back more than a third of the record: left out
    m = len(LAGS_H)                               # the 24 h trailing mean: 48 levels
    assert np.all(np.isnan(X[:47, m])) and X[47, m] == pytest.approx(280 + np.mean(x[:48]))


def test_benchmarks_say_where_a_regression_wins_and_where_the_physics_does(calibrated,
                                                                          tmp_path):
    """Sensible heat made a straight line of SWdown: the regression must win it exactly. The
    5 cm temperature of the synthetic truth: the calibrated physics must win it."""
    from sebcal.calibration.benchmarks import not_beaten
    from sebcal.calibration.predict import predict
    from sebcal.config import parse_config
    from sebcal.forcing import paper_synthetic

    cfg0, out, _ = calibrated
    sw = paper_synthetic(nt=100, dt=3600.0).data["SWdown"]
    qh = tmp_path / "qh.txt"
    qh.write_text("\n".join(f"{v:.12g}" for v in 0.3 * sw + 5.0) + "\n")
    d = cfg0.to_dict()
    d["observations"]["H"] = {"variable": "Qh_plus_Qle", "file": str(qh), "sigma": 10.0,
                              "fit": False}      # h_eff lumps H and LE
    pred = predict(parse_config(d, path=EXAMPLE), out / "params.json")
    ev = pred.benchmarks["evaluation"]
    h = "H (Qh_plus_Qle)"
    assert ev[h]["rmse"] < 1e-9 and ev[h]["predictors"] == ["SWdown"]   # Tair is constant
    lost = {k for k, _, _ in not_beaten(pred.metrics, pred.benchmarks, "evaluation")}
    assert lost == {h}
    t5 = "T5 (SoilTemp at 0.05 m)"
    assert pred.metrics["evaluation"][t5]["rmse"] < ev[t5]["rmse"] / 10


# ---------------------------------------------------------------- compare


def _richer_config():
    """Bulk transfer with Monin-Obukhov stability: one more parameter than the published
    model, which generated the data."""
    from sebcal.config import parse_config

    d = tomllib.loads(EXAMPLE.read_text())
    d["calibration"].update(calibration_hours=[0, 60], evaluation_hours=[60, 100], starts=6)
    d["calibration"].pop("published")
    d["physics"] = {"turbulence": "bulk", "stability": "most"}
    d["forcing"].update(wind=3.0, psurf=1.0e5, qair=0.008)
    d["parameters"].update(z0m=0.01, z0h_ratio=0.1)
    del d["parameters"]["h_eff"], d["calibration"]["start_range"]["h_eff"]
    d["site"] = {"measurement_height": 2.0}
    d["calibration"]["free"] = ["alpha", "z0m", "z0h_ratio", "lambda", "C", "T_b"]
    return parse_config(d, path=EXAMPLE)


def test_compare_ranks_the_model_that_made_the_data_first(calibrated):
    """Data made by the published model: the richer option set must not predict better, and
    the ranking must say so with the numbers."""
    from sebcal.calibration.compare import compare, format_comparison

    simple, _, res = calibrated
    cmp = compare([_richer_config(), simple], log=lambda *_: None)
    assert cmp.window == "evaluation"
    assert cmp.series == ["T5 (SoilTemp at 0.05 m)", "Ts (AvgSurfT)"]
    best, other = cmp.ranked
    assert best.name.endswith("#2") and best.free == 5 and other.free == 6
    # the score is the mean evaluation RMSE/sigma of the calibration's own skill table
    ev = res.params["metrics"]["evaluation"]
    assert best.score == pytest.approx(np.mean([ev[s]["rmse"] / 0.1 for s in cmp.series]),
                                       rel=1e-6)
    assert best.score < other.score
    # rolling-origin cross-validation over the record's 4 days: 3 folds of one day each
    assert cmp.ranked_by == "cross-validation"
    assert cmp.folds == [(0.0, 24.0, 48.0), (0.0, 48.0, 72.0), (0.0, 72.0, 96.0)]
    assert len(best.folds) == 3 and best.cv_score == pytest.approx(np.mean(best.folds))
    assert best.cv_score < other.cv_score
    assert best.aic < other.aic and best.bic < other.bic      # same observations and sigmas
    assert "does not predict better" in cmp.why and f"{best.score:.3g}" in cmp.why
    # the regression on the forcing is far from the synthetic truth's model
    assert cmp.benchmark_score > 10 * best.score
    text = format_comparison(cmp)
    assert "linear regression (benchmark)" in text and "why:" in text


def test_compare_needs_two_configurations_with_common_series(calibrated):
    from sebcal.calibration.compare import compare
    from sebcal.cli import main
    from sebcal.errors import ConfigError

    simple, _, _ = calibrated
    with pytest.raises(ConfigError, match="at least two"):
        compare([simple])
    assert main(["compare", str(EXAMPLE)]) == 2


def test_cross_validation_folds_are_whole_days_that_roll_forward():
    from sebcal.calibration.compare import folds_of
    from sebcal.config import parse_config

    d = tomllib.loads(EXAMPLE.read_text())
    d["time"]["steps"] = 100                       # 100 h: four whole days
    cfg = parse_config(d, path=EXAMPLE)
    assert folds_of(cfg, 3) == [(0.0, 24.0, 48.0), (0.0, 48.0, 72.0), (0.0, 72.0, 96.0)]
    assert folds_of(cfg, 1) == [(0.0, 48.0, 96.0)]
    assert folds_of(cfg, 4) == [] and folds_of(cfg, 0) == []     # too short; none asked
