"""`sebcal run` end to end: both examples, the NetCDF it writes, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import netCDF4
import numpy as np
import pytest

from conftest import ROOT
from sebcal.cli import main

EXAMPLES = ROOT / "examples"


def _sebcal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sebcal.cli", *args], capture_output=True,
                          text=True)


def test_version_and_help():
    import sebcal

    out = _sebcal("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"sebcal {sebcal.__version__}"
    out = _sebcal("--help")
    assert out.returncode == 0 and "run" in out.stdout and "verify" in out.stdout
    out = _sebcal("run", "--help")
    assert out.returncode == 0 and "--backend" in out.stdout


def test_entry_point_is_installed():
    exe = ROOT / ".venv" / "bin" / "sebcal"
    if not exe.exists():
        pytest.skip(f"no console script at {exe}: the package was installed elsewhere")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("sebcal ")


def test_run_paper_example_writes_cf_alma_file(tmp_path, paper_targets):
    out = tmp_path / "paper.nc"
    assert main(["run", str(EXAMPLES / "paper_synthetic.toml"), "--out", str(out)]) == 0
    with netCDF4.Dataset(out) as ds:
        assert ds.dimensions["time"].size == 101 and ds.dimensions["soil_depth"].size == 101
        for name in ("SoilTemp", "AvgSurfT", "SWnet", "LWdown", "LWup", "Qh", "Qle", "Qg"):
            assert name in ds.variables, name
        for name, var in ds.variables.items():
            assert getattr(var, "units", None), f"{name} has no units"
            assert getattr(var, "long_name", None), f"{name} has no long_name"
        assert ds["SoilTemp"].dimensions == ("time", "soil_depth")
        assert ds["time"].units.startswith("seconds since 2000-01-01")
        config = json.loads(ds.config)
        assert config["parameters"]["lambda"] == 0.8 and config["solver"]["method"] == "direct"
        import sebcal

        assert ds.sebcal_version == sebcal.__version__
        z = ds["soil_depth"][:]
        T = ds["SoilTemp"][:]
        assert abs(z[5] - 0.05) < 1e-15
        # the direct solution is within 0.011 K of the published (Jacobi) targets
        assert np.abs(T[:, 5] - np.array(paper_targets["T2"], float)).max() < 0.011
        assert np.allclose(ds["AvgSurfT"][:], T[:, 0])


def test_run_jacobi_config_reproduces_targets_through_the_cli(tmp_path, paper_targets):
    cfg = (EXAMPLES / "paper_synthetic.toml").read_text().replace('method = "direct"',
                                                                  'method = "jacobi"')
    path = tmp_path / "jacobi.toml"
    path.write_text(cfg)
    out = tmp_path / "jacobi.nc"
    assert main(["run", str(path), "--out", str(out)]) == 0
    with netCDF4.Dataset(out) as ds:
        T = ds["SoilTemp"][:]
    assert [f"{v:<7.6e}" for v in T[:, 0]] == paper_targets["T1"]
    assert [f"{v:<7.6e}" for v in T[:, 5]] == paper_targets["T2"]


def test_run_west_phoenix_example(tmp_path, capsys):
    out = tmp_path / "wp.nc"
    assert main(["run", str(EXAMPLES / "west_phoenix_forward.toml"), "--out", str(out)]) == 0
    with netCDF4.Dataset(out) as ds:
        assert ds.dimensions["time"].size == 201
        assert ds["time"].units.replace("T", " ") == "seconds since 2012-05-01 07:00:00"
        Ts = ds["AvgSurfT"][:]
        T5 = ds["SoilTemp"][:, 5]
        # Qh and Qle are fill values with a comment (beta unknown); their sum is there
        assert np.ma.getmaskarray(ds["Qh"][:]).all() and "Bowen" in ds["Qh"].comment
        assert np.isfinite(ds["Qh_plus_Qle"][:]).all()
    # the paper's Fig. 5 shows modelled T5 between about 298 and 317 K over hours 0-150
    assert 296 < T5[:151].min() < 300 and 314 < T5[:151].max() < 319
    assert Ts.max() > T5.max()          # the surface is hotter than 5 cm at midday
    assert "wrote" in capsys.readouterr().out


def test_existing_output_is_kept_without_force(tmp_path, capsys):
    out = tmp_path / "p.nc"
    out.write_text("precious")
    assert main(["run", str(EXAMPLES / "paper_synthetic.toml"), "--out", str(out)]) == 2
    assert out.read_text() == "precious"
    assert "--force" in capsys.readouterr().err


def _config(tmp_path, text: str, name="bad.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


WP_BASE = (EXAMPLES / "west_phoenix_forward.toml").read_text().replace(
    '"data/', f'"{EXAMPLES / "data"}/')


@pytest.mark.parametrize("edit,words", [
    (("lambda = 0.82610288", "lamda = 0.82610288"), ["lamda", "did you mean 'lambda'"]),
    (("alpha = 0.172", "alpha = 1.172"), ["alpha", "bounds"]),
    (("lambda = 0.82610288", "lambda = 0.0"), ["lambda", "bounds"]),
    (("C = 2446546.0", "C = -5.0"), ["'C'", "bounds"]),
    (("h_eff = 19.654346", "h_eff = 0"), ["h_eff", "bounds"]),
    (("eps = 0.95", "eps = 1.5"), ["eps", "bounds"]),
    (("US-WestPhoenix_clean_observations_v1.nc", "nothere.nc"), ["nothere.nc"]),
    (('start = "2012-05-01T07:00:00Z"', 'start = "2014-05-01T07:00:00Z"'), ["window", "2013"]),
    (('start = "2012-05-01T07:00:00Z"', 'start = "2012-01-14T20:00:00Z"'),
     ["SWdown", "2012-01-15T01:00", "gap_policy"]),
    (('resample = "sample"', 'resample = "sample"\nvariables = {Tair = "Tmissing"}'),
     ["Tmissing"]),
    (('method = "direct"', 'method = "direct"\ntol = 1e-15\nmax_iter = 1'),
     ["Fortran", "max_iter"]),
])
def test_bad_input_gives_a_clear_error(tmp_path, capsys, edit, words):
    path = _config(tmp_path, WP_BASE.replace(*edit))
    out = tmp_path / "out.nc"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, (w, err)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.nc*"))      # no temporary file left behind


def test_gap_policy_interpolate_fills_a_short_gap(tmp_path):
    text = WP_BASE.replace('start = "2012-05-01T07:00:00Z"', 'start = "2012-01-14T20:00:00Z"')
    text = text.replace('resample = "sample"', 'resample = "sample"\ngap_policy = "interpolate"')
    path = _config(tmp_path, text, "gap.toml")
    assert main(["run", str(path), "--out", str(tmp_path / "gap.nc")]) == 0


def test_celsius_looking_air_temperature_is_refused(tmp_path, capsys):
    src = EXAMPLES / "data" / "US-WestPhoenix_clean_observations_v1.nc"
    nc = tmp_path / "celsius.nc"
    nc.write_bytes(src.read_bytes())
    with netCDF4.Dataset(nc, "a") as ds:
        ds["Tair"][:] = ds["Tair"][:] - 273.15          # values in degC, units still say K
    text = WP_BASE.replace(str(src), str(nc))
    path = _config(tmp_path, text)
    assert main(["run", str(path), "--out", str(tmp_path / "o.nc")]) == 2
    err = capsys.readouterr().err
    assert "Tair" in err and "Celsius" in err


def test_run_torch_backend_matches_fortran(tmp_path):
    outs = {}
    for backend in ("fortran", "torch"):
        out = tmp_path / f"{backend}.nc"
        assert main(["run", str(EXAMPLES / "west_phoenix_forward.toml"), "--out", str(out),
                     "--backend", backend]) == 0
        with netCDF4.Dataset(out) as ds:
            outs[backend] = (ds["SoilTemp"][:], ds["Qg"][:], json.loads(ds.config)["backend"])
    assert outs["torch"][2] == "torch"
    assert np.abs(outs["torch"][0] - outs["fortran"][0]).max() < 1e-9
    assert np.abs(outs["torch"][1] - outs["fortran"][1]).max() < 1e-7


def test_calibrate_and_run_do_not_import_torch(tmp_path):
    """The Levenberg-Marquardt calibration and forward runs use the Fortran only: importing
    torch (over a second) would be most of their time (docs/performance.md)."""
    code = (
        "import sys\n"
        "from sebcal.cli import main\n"
        f"rc = main(['calibrate', r'{ROOT / 'examples' / 'paper_synthetic_2depth.toml'}', "
        f"'--out', r'{tmp_path / 'cal'}', '--no-progress'])\n"
        f"rc2 = main(['run', r'{ROOT / 'examples' / 'paper_synthetic.toml'}', "
        f"'--out', r'{tmp_path / 'run.nc'}'])\n"
        "print(rc, rc2, 'torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 0 False"


def test_version_agrees_with_the_package_metadata():
    import re
    from importlib import metadata

    import sebcal

    meson = (ROOT / "meson.build").read_text()
    assert sebcal.__version__ == metadata.version("sebcal")
    assert re.search(rf"version: '{re.escape(sebcal.__version__)}'", meson)
