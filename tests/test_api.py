"""The Python API (sebcal.run / calibrate / verify / export / validate, docs/api.md) and the
command line's habits (-v/-q, --json, validate)."""
from __future__ import annotations

import json
import logging
import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sebcal
from conftest import ROOT
from sebcal.cli import main
from sebcal.errors import ConfigError, SebcalError

EX = ROOT / "examples"
WP = EX / "west_phoenix_forward.toml"
NC = EX / "data" / "US-WestPhoenix_clean_observations_v1.nc"


def test_run_returns_the_dataset_the_netcdf_file_holds(tmp_path):
    ds = sebcal.run(WP, out=tmp_path / "wp.nc")
    assert isinstance(ds, xr.Dataset)
    assert ds.SoilTemp.dims == ("time", "soil_depth") and ds.SoilTemp.attrs["units"] == "K"
    assert ds.soil_depth.attrs["positive"] == "down" and ds.Qg.attrs["positive"] == "down"
    assert ds.Qh.attrs["positive"] == "up"
    # the site, from the Urban-PLUMBER site data file the config names
    assert float(ds.latitude) == 33.4839 and float(ds.longitude) == -112.1426
    assert ds.latitude.attrs["units"] == "degrees_north"
    assert ds.attrs["site_name"] == "US-WestPhoenix"
    with xr.open_dataset(tmp_path / "wp.nc") as f:
        assert set(f.data_vars) == set(ds.data_vars)
        for v in ds.data_vars:
            assert np.array_equal(f[v].values, ds[v].values, equal_nan=True), v
            assert {k: a for k, a in f[v].attrs.items()} == dict(ds[v].attrs), v
        assert np.array_equal(f.time.values, ds.time.values)
        assert {k: v for k, v in f.attrs.items() if k != "history"} == \
            {k: v for k, v in ds.attrs.items() if k != "history"}


def test_run_takes_xarray_and_pandas_forcing():
    ref = sebcal.run(WP)
    with xr.open_dataset(NC) as raw:
        ds = raw.load()
    a = sebcal.run(WP, forcing=ds)
    assert np.array_equal(a.SoilTemp.values, ref.SoilTemp.values)
    # a DataFrame with ALMA names (SI units) and a UTC DatetimeIndex
    df = ds[["SWdown", "LWdown", "Tair"]].to_dataframe()
    b = sebcal.run(WP, forcing=df)
    assert np.array_equal(b.SoilTemp.values, ref.SoilTemp.values)
    # FLUXNET names and units: TA_F in degC, time-zone aware index
    fx = pd.DataFrame({"SW_IN_F": df.SWdown.values, "LW_IN_F": df.LWdown.values,
                       "TA_F": df.Tair.values.astype(np.float64) - 273.15},
                      index=df.index.tz_localize("UTC").tz_convert("America/Phoenix"))
    c = sebcal.run(WP, forcing=fx)
    assert np.abs(c.SoilTemp.values - ref.SoilTemp.values).max() < 1e-9
    # Celsius under an ALMA name is refused, naming the variable
    bad = df.assign(Tair=df.Tair - 273.15)
    with pytest.raises(SebcalError, match="Tair"):
        sebcal.run(WP, forcing=bad)


@pytest.fixture(scope="module")
def cal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        res = sebcal.calibrate(EX / "paper_synthetic_2depth.toml", starts=8)
    finally:
        os.chdir(cwd)
    assert list(tmp.iterdir()) == []          # nothing written without out=
    return res


def test_calibrate_in_memory_returns_tables_a_dataset_and_figures(cal):
    assert cal.out_dir is None and cal.verdict["status"] == "usable"
    p = cal.parameters
    assert p.loc["lambda", "unit"] == "W m-1 K-1" and p.loc["lambda", "fitted"]
    assert abs(p.loc["lambda", "value"] - 0.8) < 0.008 and p.loc["lambda", "std"] > 0
    assert not p.loc["eps", "fitted"]
    m = cal.metrics
    assert m.loc[("calibration", "T5 (SoilTemp at 0.05 m)"), "unit"] == "K"
    assert m.loc[("calibration", "T5 (SoilTemp at 0.05 m)"), "rmse"] < 0.01
    assert len(cal.starts) == 8 and "final_lambda" in cal.starts.columns
    ds = cal.simulation
    assert "obs_T5" in ds and ds.obs_T5.attrs["units"] == "K"
    fig = cal.plot()
    assert len(fig.axes) == 4                    # 2 observations: series and residuals
    assert "<table" in cal._repr_html_()         # notebooks show the tables
    assert cal.plot("correlation") is not None and cal.plot("multistart") is not None
    r = repr(cal)
    assert r.startswith("<sebcal Calibration: usable;") and "lambda 0.79" in r and len(r) < 400
    with pytest.raises(ConfigError, match="plot kind"):
        cal.plot("nope")


def test_calibrate_with_out_writes_the_same_result(cal, tmp_path):
    res = sebcal.calibrate(EX / "paper_synthetic_2depth.toml", starts=8, out=tmp_path / "c",
                           figures=False)
    written = json.loads((tmp_path / "c" / "params.json").read_text())
    assert written["parameters"]["lambda"]["value"] == cal.best["lambda"]
    assert res.best == cal.best
    out = sebcal.export(cal, "sebcal", tmp_path / "s.nml")
    assert (tmp_path / "s.nml").exists() and out.host == "sebcal"


def test_seed_changes_the_starts_only(cal):
    other = sebcal.calibrate(EX / "paper_synthetic_2depth.toml", starts=8, seed=5)
    assert not np.array_equal(other.starts.filter(like="initial_").values,
                              cal.starts.filter(like="initial_").values)
    assert abs(other.best["lambda"] - cal.best["lambda"]) < 1e-3


def test_progress_lines_reach_the_log(caplog, monkeypatch):
    import sebcal.calibration.run as run_mod

    monkeypatch.setattr(run_mod, "PROGRESS_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="sebcal"):
        sebcal.calibrate(EX / "paper_synthetic_2depth.toml", starts=4)
    lines = [r.getMessage() for r in caplog.records if "iteration" in r.getMessage()]
    assert lines and "starts active" in lines[0] and "s left" in lines[0]


def test_validate_says_what_would_run(capsys):
    d = sebcal.validate(EX / "dugout_ranch.toml")
    assert d["time"]["steps"] == 1392 and d["calibration"]["stages"][0]["name"] == "soil"
    assert "GiB" in d["calibration"]["estimate"]["memory"] or \
        "MiB" in d["calibration"]["estimate"]["memory"]
    # the QC policy of each observation is reported: the default counts measured values only
    qc = {o["label"]: o["qc"] for o in d["observations"]}
    assert qc["T10"] == "observed" and qc["Qh"] == "gapfilled"      # as dugout_ranch.toml says
    assert main(["validate", str(EX / "paper_synthetic_2depth.toml")]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out and "estimate" in out
    assert main(["validate", str(EX / "paper_synthetic_2depth.toml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["grid"]["nodes"] == 101


def test_verify_through_the_api():
    assert sebcal.verify(EX / "paper_synthetic.toml")["passed"]


@pytest.mark.parametrize("verb", ["run", "calibrate", "validate"])
def test_json_summaries(tmp_path, capsys, verb):
    cfg = str(EX / ("paper_synthetic.toml" if verb == "run" else "paper_synthetic_2depth.toml"))
    args = {"run": ["run", cfg, "--out", str(tmp_path / "r.nc")],
            "calibrate": ["calibrate", cfg, "--out", str(tmp_path / "c"), "--starts", "3",
                          "--no-figures"],
            "validate": ["validate", cfg]}[verb]
    assert main(["-q", *args, "--json"]) in (0, 3)
    doc = json.loads(capsys.readouterr().out)
    assert isinstance(doc, dict) and doc


def test_quiet_and_verbose(tmp_path, capsys):
    cfg = str(EX / "paper_synthetic_2depth.toml")
    main(["calibrate", cfg, "--out", str(tmp_path / "a"), "--starts", "3", "--no-figures",
          "--seed", "1"])
    loud = capsys.readouterr().err
    main(["-q", "calibrate", cfg, "--out", str(tmp_path / "b"), "--starts", "3",
          "--no-figures", "--seed", "1"])
    quiet = capsys.readouterr().err
    assert quiet == "" and len(loud) >= len(quiet)


def test_api_verbs_are_not_shadowed_by_modules():
    """Importing every submodule must leave sebcal.verify etc. the API functions (a module
    named like a verb would replace the attribute on import)."""
    import importlib
    import pkgutil

    for mod in pkgutil.walk_packages(sebcal.__path__, "sebcal."):
        if mod.name.endswith("__main__"):
            continue
        importlib.import_module(mod.name)
    for verb in ("run", "calibrate", "verify", "export", "validate"):
        assert callable(getattr(sebcal, verb)) and not isinstance(getattr(sebcal, verb),
                                                                   type(sebcal)), verb


@pytest.mark.slow
def test_dugout_ranch_api_example(tmp_path):
    """examples/dugout_ranch_api.py calibrates the station from its AmeriFlux files through
    the API and plots from the returned object; the fitted soil is physically plausible."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(EX / "dugout_ranch_api.py")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("series.svg", "multistart.svg"):
        root = ET.parse(tmp_path / "dugout_ranch_api" / name).getroot()
        axes = [g for g in root.iter("{http://www.w3.org/2000/svg}g")
                if g.get("id", "").startswith("axes_")]
        assert len(axes) >= 6
    assert (tmp_path / "dugout_ranch_api" / "profile.pdf").read_bytes()[:5] == b"%PDF-"
    m = re.search(r"lambda\s+([0-9.e+-]+)\s+([0-9.e+-]+)\s+W m-1 K-1\s+True", r.stdout)
    assert m, r.stdout
    lam, std = float(m[1]), float(m[2])
    assert 0.1 <= lam <= 3.0 and 0 < std < lam      # soils: 0.1-3 W m-1 K-1
    assert "<sebcal Calibration: " in r.stdout and "SoilTemp" in r.stdout


def test_a_result_folder_can_be_moved(tmp_path):
    """params.json holds the config's file paths relative to its folder: a project folder
    (data and results) moved elsewhere still exports and transfers."""
    import shutil

    proj = tmp_path / "proj"
    (proj / "data" / "paper").mkdir(parents=True)
    for f in ("US-WestPhoenix_clean_observations_v1.nc", "US-WestPhoenix_sitedata_v1.csv"):
        shutil.copy(EX / "data" / f, proj / "data" / f)
    for f in (EX / "data" / "paper").glob("final_parameter_values_WP_T5T15_*.txt"):
        shutil.copy(f, proj / "data" / "paper" / f.name)
    text = (EX / "west_phoenix.toml").read_text().replace("starts = 50", "starts = 2") \
        .replace("baseline = true", "baseline = false")
    (proj / "wp.toml").write_text(text)
    sebcal.calibrate(proj / "wp.toml", out=proj / "cal", figures=False)
    saved = json.loads((proj / "cal" / "params.json").read_text())
    paths = [saved["config"]["forcing"]["path"]] + [o["file"] for o in
                                                    saved["config"]["observations"].values()]
    assert all(not os.path.isabs(p) and p.startswith("../data/") for p in paths), paths
    # the file follows the published JSON Schema (`sebcal schema params`), by a validator
    # sebcal did not write
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (make "
                                     "test installs it)")
    from sebcal.paramsfile import json_schema

    jsonschema.Draft202012Validator(json_schema()).validate(saved)
    for window in saved["metrics"].values():          # metrics keyed by variable, with units
        assert all(m["unit"] in ("K", "W m-2") for m in window.values()), window
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    shutil.move(proj, moved)
    from sebcal.cli import main

    assert main(["transfer", str(moved / "cal" / "params.json"), "--grid", "jules",
                 "--out", str(tmp_path / "tr")]) == 0
    res = sebcal.export(moved / "cal" / "params.json", "sebcal", tmp_path / "sebcal.nml",
                        allow_implausible=True)
    assert (tmp_path / "sebcal.nml").is_file() and res is not None


def test_a_year_long_calibration_states_its_estimate_before_it_starts(caplog, monkeypatch):
    """A year of half-hourly West Phoenix data with a spun-up initial state: the time and
    memory estimate reaches the log before any data are read (the fit is stopped there)."""
    import sebcal.calibration.run as crun
    from sebcal.config import load_config, parse_config

    d = load_config(EX / "west_phoenix.toml").to_dict()
    d["time"] = {"dt": 1800.0, "start": "2012-01-01T07:00:00Z", "hours": 8760}
    d["calibration"].update(calibration_hours=[0, 4380], evaluation_hours=[4380, 8760])
    assert d["initial"]["kind"] == "spinup"
    cfg = parse_config(d, path=EX / "west_phoenix.toml")

    class Stop(Exception):
        pass

    def stop(*a, **k):
        raise Stop

    monkeypatch.setattr(crun, "load_observations", stop)
    with caplog.at_level(logging.INFO, logger="sebcal"), pytest.raises(Stop):
        sebcal.calibrate(cfg)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("estimate:")]
    assert lines, [r.getMessage() for r in caplog.records]
    assert "17,520 steps" in lines[0] and re.search(r"\d+(\.\d+)? (min|h)", lines[0]), lines
