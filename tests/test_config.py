"""Tests of sebcal.config: the TOML run configuration."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from sebcal.config import TABLES, KeyInfo, RunConfig, json_schema, keys, load_config, parse_config
from sebcal.errors import ConfigError
from sebcal.params import Params

PARAMS = """
[parameters]
alpha = 0.2
eps = 0.95
lambda = 0.8
C = 2.2e6
T_b = 293.0
h_eff = 25.0
"""

PARAMS_DICT = {"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
               "h_eff": 25.0}


def write(tmp_path: Path, text: str, params: bool = True, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text + (PARAMS if params else ""), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, params: bool = True) -> str:
    path = write(tmp_path, text, params)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert str(path) in msg, f"message does not name the file: {msg}"
    return msg


# ------------------------------------------------------------------ defaults = the paper


def test_defaults_reproduce_the_paper(tmp_path):
    cfg = load_config(write(tmp_path, ""))
    assert isinstance(cfg, RunConfig)
    assert cfg.path == tmp_path / "run.toml"
    assert cfg.uniform is True
    assert cfg.node_depths.dtype == np.float64
    assert cfg.node_depths.shape == (101,)
    assert cfg.nodes == 101
    assert cfg.dx == 0.01  # exactly: 1.0 / 100
    assert cfg.node_depths[0] == 0.0
    assert abs(cfg.node_depths[5] - 0.05) <= 1e-15
    assert cfg.node_depths[-1] == 1.0
    assert np.all(np.diff(cfg.node_depths) > 0)
    np.testing.assert_allclose(np.diff(cfg.node_depths), 0.01, rtol=0, atol=1e-15)
    assert cfg.dt == 3600.0 and isinstance(cfg.dt, float)
    assert cfg.nt == 100 and isinstance(cfg.nt, int)
    assert cfg.start == np.datetime64("2000-01-01T00:00:00", "s")
    assert cfg.start.dtype == np.dtype("datetime64[s]")
    assert (cfg.solver, cfg.tol, cfg.max_iter) == ("direct", 1e-10, 50)
    assert (cfg.longwave, cfg.bottom) == ("paper", "dirichlet")
    assert (cfg.init, cfg.init_profile) == ("uniform", None)
    assert (cfg.spinup_tol, cfg.spinup_max_cycles) == (1e-3, 365)
    assert cfg.params == Params(PARAMS_DICT)
    assert cfg.options == {"solver": "direct", "longwave": "paper", "bottom": "dirichlet",
                           "init": "uniform", "turbulence": "h_eff", "stability": "neutral",
                           "latent": "none", "surface_resistance": "constant",
                           "canopy": "none", "soil_thermal": "constant", "top": "seb",
                           "freezing": "none", "time_scheme": "backward_euler"}
    assert cfg.forcing == {"kind": "paper_synthetic", "k_peak": 800.0, "lw_down": 100.0,
                           "t_air": 296.0, "sunrise_h": 7.0, "sunset_h": 21.0}
    assert set(cfg.tables) == {"grid", "time", "solver", "physics", "initial", "parameters",
                               "forcing"}


def test_jacobi_defaults_are_the_papers():
    cfg = parse_config({"solver": {"method": "jacobi"}, "parameters": PARAMS_DICT})
    assert (cfg.solver, cfg.tol, cfg.max_iter) == ("jacobi", 1e-4, 100000)
    cfg = parse_config({"solver": {"method": "jacobi", "tol": 1e-6, "max_iter": 7},
                        "parameters": PARAMS_DICT})
    assert (cfg.tol, cfg.max_iter) == (1e-6, 7)


def test_all_keys_given(tmp_path):
    cfg = load_config(write(tmp_path, """
[grid]
depth = 2
nodes = 41
[time]
dt = 1800
hours = 48
start = "2012-05-01T07:00:00Z"
[solver]
method = "direct"
tol = 1e-12
max_iter = 20
[physics]
longwave = "kirchhoff"
bottom = "zero_flux"
[initial]
kind = "spinup"
spinup_tol = 1e-2
spinup_max_cycles = 30
"""))
    assert cfg.dx == 0.05 and cfg.node_depths[-1] == 2.0 and cfg.nodes == 41
    assert cfg.dt == 1800.0 and cfg.nt == 96
    assert cfg.start == np.datetime64("2012-05-01T07:00:00")
    assert (cfg.tol, cfg.max_iter, cfg.longwave, cfg.bottom) == (1e-12, 20, "kirchhoff",
                                                                 "zero_flux")
    assert (cfg.init, cfg.spinup_tol, cfg.spinup_max_cycles) == ("spinup", 1e-2, 30)
    assert cfg.tables["time"] == {"dt": 1800.0, "steps": 96, "start": "2012-05-01T07:00:00Z"}


def test_new_grid_kinds(tmp_path):
    cfg = load_config(write(tmp_path, "[grid]\ndepth = 5.0\nnodes = 41\nfirst_spacing = 0.01\n"))
    z = cfg.node_depths
    assert z[0] == 0.0 and z[1] == pytest.approx(0.01) and z[-1] == 5.0 and cfg.dx is None
    assert np.all(np.diff(np.diff(z)) > 0)                       # spacings grow
    msg = error_of(tmp_path, "[grid]\ntop_depth = 0.05\n")
    assert "[grid] top_depth" in msg and "temperature" in msg
    cfg = load_config(write(tmp_path, '[grid]\ntop_depth = 0.05\ndepth = 1.05\n'
                            '[physics]\ntop = "temperature"\n'
                            '[forcing.top]\nfile = "x.nc"\nname = "T5"\n'))
    assert cfg.node_depths[0] == 0.05 and cfg.forcing["top"]["file"] == str(tmp_path / "x.nc")


# ------------------------------------------------------------------ grid


def test_node_depths_grid(tmp_path):
    cfg = load_config(write(tmp_path, "[grid]\nnode_depths = [0, 0.01, 0.03, 0.07, 0.15]\n"))
    assert cfg.uniform is False and cfg.dx is None
    np.testing.assert_array_equal(cfg.node_depths, [0.0, 0.01, 0.03, 0.07, 0.15])
    assert cfg.node_depths.dtype == np.float64


def test_grid_arrays_are_read_only(tmp_path):
    cfg = load_config(write(tmp_path, '[initial]\nkind = "profile"\nprofile = [290, 291, 292]\n'
                            "[grid]\nnodes = 3\n"))
    with pytest.raises(ValueError):
        cfg.node_depths[0] = 1.0
    with pytest.raises(ValueError):
        cfg.init_profile[0] = 1.0
    with pytest.raises(AttributeError):
        cfg.dt = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("extra", ["depth = 1.0", "nodes = 5"])
def test_both_uniform_and_node_depths_is_an_error(tmp_path, extra):
    msg = error_of(tmp_path, f"[grid]\n{extra}\nnode_depths = [0, 0.1, 0.2]\n")
    assert "[grid]" in msg and "node_depths" in msg and "not both" in msg


def test_node_depths_must_start_at_zero(tmp_path):
    msg = error_of(tmp_path, "[grid]\nnode_depths = [0.01, 0.1, 0.2]\n")
    assert "node_depths[0]" in msg and "0.0" in msg and "surface energy balance" in msg


@pytest.mark.parametrize("depths,index", [("[0, 0.1, 0.3, 0.2, 0.5]", 3),
                                          ("[0, 0.1, 0.1, 0.2]", 2)])
def test_node_depths_must_increase_strictly(tmp_path, depths, index):
    msg = error_of(tmp_path, f"[grid]\nnode_depths = {depths}\n")
    assert f"node_depths[{index}]" in msg and "strictly increasing" in msg


def test_node_depths_need_three_nodes(tmp_path):
    assert "at least 3" in error_of(tmp_path, "[grid]\nnode_depths = [0, 0.5]\n")


@pytest.mark.parametrize("nodes", [2, 0, -5])
def test_nodes_at_least_three(tmp_path, nodes):
    msg = error_of(tmp_path, f"[grid]\nnodes = {nodes}\n")
    assert "[grid] nodes" in msg and ">= 3" in msg


@pytest.mark.parametrize("depth", ["0", "-1.0"])
def test_depth_positive(tmp_path, depth):
    msg = error_of(tmp_path, f"[grid]\ndepth = {depth}\n")
    assert "[grid] depth" in msg and "> 0" in msg and "[m]" in msg


# ------------------------------------------------------------------ time


@pytest.mark.parametrize("value", ["0", "-3600.0", "0.0"])
def test_dt_positive(tmp_path, value):
    msg = error_of(tmp_path, f"[time]\ndt = {value}\n")
    assert "[time] dt" in msg and "> 0" in msg and "[s]" in msg


def test_dt_whole_seconds(tmp_path):
    assert "whole number of seconds" in error_of(tmp_path, "[time]\ndt = 0.5\n")


def test_dt_must_be_finite(tmp_path):
    assert "finite" in error_of(tmp_path, "[time]\ndt = inf\n")


@pytest.mark.parametrize("steps", [0, -1])
def test_steps_at_least_one(tmp_path, steps):
    msg = error_of(tmp_path, f"[time]\nsteps = {steps}\n")
    assert "[time] steps" in msg and ">= 1" in msg


def test_hours_give_steps(tmp_path):
    cfg = load_config(write(tmp_path, "[time]\ndt = 1800\nhours = 10\n"))
    assert cfg.nt == 20
    cfg = load_config(write(tmp_path, "[time]\ndt = 900\nhours = 1.5\n"))
    assert cfg.nt == 6


@pytest.mark.parametrize("text", ["hours = 1.5", "hours = 100.25", "dt = 7200\nhours = 3"])
def test_hours_must_give_whole_steps(tmp_path, text):
    msg = error_of(tmp_path, f"[time]\n{text}\n")
    assert "[time] hours" in msg and "whole number" in msg


def test_steps_and_hours_together_is_an_error(tmp_path):
    msg = error_of(tmp_path, "[time]\nsteps = 10\nhours = 10\n")
    assert "steps or hours" in msg


@pytest.mark.parametrize("text,expected", [
    ('"2012-05-01T07:00:00Z"', "2012-05-01T07:00:00"),
    ('"2012-05-01T07:00:00+00:00"', "2012-05-01T07:00:00"),
    ('"2012-05-01T07:00:00"', "2012-05-01T07:00:00"),
    ('"2012-05-01T09:30:00+02:30"', "2012-05-01T07:00:00"),
    ('"2012-05-01T00:00:00-05:00"', "2012-05-01T05:00:00"),
    ('"2012-05-01"', "2012-05-01T00:00:00"),
    ("2012-05-01T07:00:00Z", "2012-05-01T07:00:00"),  # TOML date-time, not a string
    ("2012-05-01T09:00:00+02:00", "2012-05-01T07:00:00"),
    ("2012-05-01T07:00:00", "2012-05-01T07:00:00"),
])
def test_start_is_utc(tmp_path, text, expected):
    cfg = load_config(write(tmp_path, f"[time]\nstart = {text}\n"))
    assert cfg.start == np.datetime64(expected, "s")
    assert cfg.start.dtype == np.dtype("datetime64[s]")
    assert cfg.tables["time"]["start"] == expected + "Z"


@pytest.mark.parametrize("text", ['"yesterday"', '"2012-13-01T00:00:00"', "5",
                                  '"2012-05-01T07:00:00.5Z"'])
def test_bad_start(tmp_path, text):
    msg = error_of(tmp_path, f"[time]\nstart = {text}\n")
    assert "[time] start" in msg


# ------------------------------------------------------------------ solver, physics, initial


@pytest.mark.parametrize("tol", ["0", "-1e-6", "0.0"])
def test_tol_positive(tmp_path, tol):
    msg = error_of(tmp_path, f"[solver]\ntol = {tol}\n")
    assert "[solver] tol" in msg and "> 0" in msg and "[K]" in msg


def test_max_iter_positive(tmp_path):
    assert "[solver] max_iter" in error_of(tmp_path, "[solver]\nmax_iter = 0\n")


@pytest.mark.parametrize("table,key,value,near", [
    ("solver", "method", "jacobbi", "jacobi"),
    ("solver", "method", "Direct", "direct"),
    ("physics", "longwave", "kirchoff", "kirchhoff"),
    ("physics", "bottom", "zero-flux", "zero_flux"),
    ("physics", "bottom", "Dirichlet", "dirichlet"),
    ("initial", "kind", "spin-up", "spinup"),
    ("forcing", "kind", "netCDF", "netcdf"),
    ("physics", "turbulence", "Bulk", "bulk"),
    ("physics", "soil_thermal", "johanson", "johansen"),
    ("solver", "time_scheme", "crank-nicolson", "crank_nicolson"),
])
def test_unknown_option_value_suggests_near_one(tmp_path, table, key, value, near):
    msg = error_of(tmp_path, f'[{table}]\n{key} = "{value}"\n')
    assert f"[{table}] {key}" in msg
    assert f"did you mean '{near}'" in msg
    for choice in keys(TABLES[table])[key].choices:
        assert repr(choice) in msg


def test_profile(tmp_path):
    cfg = load_config(write(tmp_path, '[grid]\ndepth = 0.5\nnodes = 4\n'
                            '[initial]\nkind = "profile"\nprofile = [300, 298.5, 296, 293]\n'))
    assert cfg.init == "profile"
    np.testing.assert_array_equal(cfg.init_profile, [300.0, 298.5, 296.0, 293.0])
    assert cfg.init_profile.dtype == np.float64


def test_profile_length_must_match_nodes(tmp_path):
    msg = error_of(tmp_path, '[grid]\nnodes = 5\n[initial]\nkind = "profile"\n'
                   "profile = [300, 298, 296]\n")
    assert "[initial] profile" in msg and "3 values" in msg and "5 nodes" in msg


def test_profile_length_checked_against_node_depths(tmp_path):
    msg = error_of(tmp_path, '[grid]\nnode_depths = [0, 0.1, 0.3]\n[initial]\nkind = "profile"\n'
                   "profile = [300, 298]\n")
    assert "3 nodes" in msg


def test_profile_needed_for_kind_profile(tmp_path):
    assert "[initial] profile" in error_of(tmp_path, '[initial]\nkind = "profile"\n')


def test_profile_without_kind_profile_is_an_error(tmp_path):
    msg = error_of(tmp_path, "[grid]\nnodes = 3\n[initial]\nprofile = [1, 2, 3]\n")
    assert 'kind = "profile"' in msg


def test_profile_values_positive_kelvin(tmp_path):
    msg = error_of(tmp_path, '[grid]\nnodes = 3\n[initial]\nkind = "profile"\n'
                   "profile = [290, -1, 290]\n")
    assert "profile[1]" in msg and "[K]" in msg


@pytest.mark.parametrize("text", ["spinup_tol = 0", "spinup_max_cycles = 0"])
def test_spinup_limits(tmp_path, text):
    assert f"[initial] {text.split()[0]}" in error_of(tmp_path, f"[initial]\n{text}\n")


# ------------------------------------------------------------------ unknown names, types


def test_unknown_table_suggests_near_name(tmp_path):
    msg = error_of(tmp_path, "[solvr]\nmethod = \"direct\"\n")
    assert "unknown table [solvr]" in msg and "did you mean 'solver'" in msg
    for name in TABLES:
        assert name in msg


def test_unknown_key_suggests_near_name(tmp_path):
    msg = error_of(tmp_path, "[grid]\nnodse = 11\n")
    assert "[grid] nodse" in msg and "did you mean 'nodes'" in msg
    assert "depth, nodes, node_depths" in msg


def test_key_in_wrong_table_names_its_table(tmp_path):
    msg = error_of(tmp_path, "[grid]\ndt = 60\n")
    assert "[grid] dt" in msg and "[time]" in msg


def test_key_outside_any_table(tmp_path):
    msg = error_of(tmp_path, "dt = 60\n")
    assert "outside any table" in msg and "[time]" in msg
    msg = error_of(tmp_path, "colour = 1\n")
    assert "colour" in msg and "grid" in msg


def test_known_table_that_is_not_a_table(tmp_path):
    assert "must be a table" in error_of(tmp_path, "grid = 5\n")


def test_unknown_parameter_suggests_near_name(tmp_path):
    msg = error_of(tmp_path, PARAMS.replace("lambda", "lamda"), params=False)
    assert "[parameters] lamda" in msg and "did you mean 'lambda'" in msg


@pytest.mark.parametrize("table,text,expect", [
    ("time", 'dt = "3600"', r"expected a number \[s\] \(write dt = 3600, without quotes\)"),
    ("time", "dt = true", r"expected a number \[s\]"),
    ("time", "steps = 10.5", "expected an integer"),
    ("time", "steps = 10.0", "expected an integer"),
    ("grid", 'depth = "1 m"', r"expected a number \[m\]"),
    ("grid", "nodes = [1, 2]", "expected an integer"),
    ("grid", 'node_depths = "0, 0.1"', r"expected an array of numbers \[m\]"),
    ("grid", 'node_depths = [0, "0.1", 0.2]', r"node_depths\[1\].*not a number"),
    ("solver", "method = 1", "expected a string"),
    ("solver", 'tol = "1e-6"', r"expected a number \[K\]"),
    ("initial", "spinup_max_cycles = 1.5", r"expected an integer \[days\]"),
    ("forcing", "k_peak = \"800\"", r"expected a number \[W m-2\]"),
])
def test_wrong_types(tmp_path, table, text, expect):
    msg = error_of(tmp_path, f"[{table}]\n{text}\n")
    assert f"[{table}] {text.split()[0]}" in msg
    assert re.search(expect, msg), msg


@pytest.mark.parametrize("text,expect", [('alpha = "0.2"', r"alpha.*number \[1\]"),
                                         ('C = "2.2e6"', r"C.*number \[J m-3 K-1\]"),
                                         ("T_b = true", r"T_b.*number \[K\]")])
def test_wrong_parameter_types(tmp_path, text, expect):
    key = text.split()[0]
    body = re.sub(rf"^{key} = .*$", text, PARAMS, flags=re.M)
    msg = error_of(tmp_path, body, params=False)
    assert re.search(expect, msg), msg


def test_integers_accepted_for_float_keys(tmp_path):
    path = write(tmp_path, "[grid]\ndepth = 2\nnodes = 21\n[time]\ndt = 600\n[solver]\ntol = 1\n"
                 "[parameters]\nalpha = 0\neps = 1\nlambda = 1\nC = 2000000\nT_b = 293\n"
                 "h_eff = 25\n", params=False)
    cfg = load_config(path)
    assert cfg.dt == 600.0 and type(cfg.dt) is float
    assert cfg.dx == 0.1 and type(cfg.dx) is float
    assert cfg.tol == 1.0 and type(cfg.tol) is float
    assert cfg.params.T_b == 293.0 and type(cfg.params.T_b) is float
    assert cfg.params.alpha == 0.0


# ------------------------------------------------------------------ files


def test_malformed_toml_names_file_and_line(tmp_path):
    msg = error_of(tmp_path, "[grid]\nnodes = 11\ndepth = = 1\n")
    assert "line 3" in msg and "TOML" in msg


def test_malformed_toml_unquoted_string(tmp_path):
    msg = error_of(tmp_path, "[solver]\nmethod = direct\n")
    assert "line 2" in msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="nope.toml") as exc:
        load_config(path)
    assert "does not exist" in str(exc.value)


def test_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="not a file"):
        load_config(tmp_path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b"# caf\xe9\n" + PARAMS.encode())
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


# ------------------------------------------------------------------ parameters


def test_missing_parameters_table(tmp_path):
    msg = error_of(tmp_path, "[grid]\nnodes = 11\n", params=False)
    assert "[parameters]" in msg
    for key in ("alpha", "eps", "lambda", "C", "T_b", "h_eff"):
        assert key in msg


def test_missing_parameter_key(tmp_path):
    msg = error_of(tmp_path, PARAMS.replace("T_b = 293.0\n", ""), params=False)
    assert "[parameters] T_b" in msg and "missing" in msg


def test_parameters_with_h_and_beta(tmp_path):
    body = PARAMS.replace("h_eff = 25.0", "h = 15\nbeta = 1.5")
    cfg = load_config(write(tmp_path, body, params=False))
    assert cfg.params.h_eff == pytest.approx(25.0, rel=1e-15)
    assert cfg.params.beta == 1.5
    assert cfg.tables["parameters"]["h_eff"] == cfg.params.h_eff


def test_h_without_beta(tmp_path):
    msg = error_of(tmp_path, PARAMS.replace("h_eff = 25.0", "h = 15"), params=False)
    assert "h_eff" in msg


def test_parameter_aliases(tmp_path):
    body = PARAMS.replace("eps =", "emissivity =").replace("T_b =", "Tb =")
    cfg = load_config(write(tmp_path, body, params=False))
    assert cfg.params.eps == 0.95 and cfg.params.T_b == 293.0
    assert "eps" in cfg.tables["parameters"] and "emissivity" not in cfg.tables["parameters"]


@pytest.mark.parametrize("name,value", [("alpha", "1.2"), ("lambda", "0"), ("C", "-1"),
                                        ("eps", "0"), ("T_b", "-3.0"), ("h_eff", "0")])
def test_parameter_out_of_bounds_names_file_and_parameter(tmp_path, name, value):
    body = re.sub(rf"^{name} = .*$", f"{name} = {value}", PARAMS, flags=re.M)
    msg = error_of(tmp_path, body, params=False)
    assert "[parameters]" in msg and f"'{name}'" in msg and "bounds" in msg


def test_parameters_without_file():
    bad = dict(PARAMS_DICT, alpha=1.2)
    with pytest.raises(ConfigError, match=r"^\[parameters\].*'alpha'"):
        parse_config({"parameters": bad})


# ------------------------------------------------------------------ forcing


def test_relative_forcing_path_resolves_against_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "case"
    folder.mkdir()
    other = tmp_path / "elsewhere"
    other.mkdir()
    path = write(folder, '[forcing]\nkind = "netcdf"\npath = "data/site.nc"\n')
    monkeypatch.chdir(other)
    cfg = load_config(path)
    assert cfg.forcing["path"] == str(folder / "data" / "site.nc")
    assert os.path.isabs(cfg.forcing["path"])
    # a relative config path, loaded from its own folder's parent
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path("case") / "run.toml")
    assert cfg.forcing["path"] == str(folder / "data" / "site.nc")


def test_forcing_path_from_dict_uses_base_dir(tmp_path):
    data = {"parameters": PARAMS_DICT, "forcing": {"kind": "netcdf", "path": "a/b.nc"}}
    cfg = parse_config(data, base_dir=tmp_path)
    assert cfg.forcing["path"] == str(tmp_path / "a" / "b.nc")
    data["forcing"]["path"] = str(tmp_path / "abs.nc")
    assert parse_config(data, base_dir="/").forcing["path"] == str(tmp_path / "abs.nc")


def test_netcdf_forcing_defaults(tmp_path):
    cfg = load_config(write(tmp_path, '[forcing]\nkind = "netcdf"\npath = "x.nc"\n'
                            'variables = {SWdown = "SW_IN_F"}\n'))
    assert cfg.forcing == {"kind": "netcdf", "path": str(tmp_path / "x.nc"),
                           "gap_policy": "error", "max_gap_hours": 6.0, "resample": "sample",
                           "qc": "observed", "variables": {"SWdown": "SW_IN_F"}}


def test_netcdf_forcing_needs_path(tmp_path):
    assert "[forcing] path" in error_of(tmp_path, '[forcing]\nkind = "netcdf"\n')


@pytest.mark.parametrize("text,expect", [
    ('kind = "netcdf"\npath = "x.nc"\nk_peak = 700', "only used with kind"),
    ('path = "x.nc"', "only used with kind"),
    ('kind = "netcdf"\npath = "x.nc"\ngap_policy = "interpolat"', "did you mean 'interpolate'"),
    ('kind = "netcdf"\npath = "x.nc"\nresample = "average"', "'sample', 'mean'"),
    ('kind = "netcdf"\npath = "x.nc"\nvariables = {SWdwn = "SW"}', "did you mean 'SWdown'"),
    ('kind = "netcdf"\npath = "x.nc"\nvariables = {Tair = 3}', "non-empty string"),
    ('kind = "netcdf"\npath = "x.nc"\nmax_gap_hours = -1', ">= 0"),
    ("sunrise_h = 22", "sunrise_h < sunset_h"),
    ("sunset_h = 25", "sunset_h <= 24"),
    ("t_air = 0", "> 0"),
    ("kpeak = 3", "did you mean 'k_peak'"),
])
def test_forcing_errors(tmp_path, text, expect):
    msg = error_of(tmp_path, f"[forcing]\n{text}\n")
    assert "[forcing]" in msg and expect in msg, msg


def test_forcing_schema_matches_forcing_module():
    import inspect

    from sebcal.forcing import paper_synthetic
    from sebcal.forcing.load import SYNTHETIC_KEYS

    sig = inspect.signature(paper_synthetic)
    info = keys(TABLES["forcing"])
    for key in ("k_peak", "lw_down", "t_air", "sunrise_h", "sunset_h"):
        assert sig.parameters[key].default == info[key].default, key
    assert set(SYNTHETIC_KEYS) <= set(info)


def test_default_forcing_is_loadable():
    forcing = pytest.importorskip("sebcal.forcing")
    cfg = parse_config({"parameters": PARAMS_DICT, "time": {"steps": 48}})
    f = forcing.load_forcing(cfg.forcing, cfg.start, cfg.nt, cfg.dt)
    assert f.sw_down.shape == (49,)


# ------------------------------------------------------------------ every table validated


def test_calibration_and_observation_tables_are_validated(tmp_path):
    """No table is accepted and ignored: unknown keys and tables are errors."""
    msg = error_of(tmp_path, '[calibration]\nmethod = "adam"\n')
    assert "[calibration] method" in msg and "'lm', 'adam_lbfgs'" in msg
    msg = error_of(tmp_path, '[calibration]\ntime_scheme = "crank_nicolson"\n')
    assert "does not belong in [calibration]" in msg and "[solver]" in msg
    msg = error_of(tmp_path, '[calibration]\noptimiser = "adam"\n')
    assert "[calibration] optimiser" in msg and "unknown key" in msg
    msg = error_of(tmp_path, "[export]\nfolder = 1\n")
    assert "unknown table [export]" in msg
    msg = error_of(tmp_path, "[evaluation]\n")
    assert "unknown table [evaluation]" in msg
    msg = error_of(tmp_path, '[observations.T5]\nvariable = "SoilTemp"\nfile = "x.txt"\n'
                             'sigmaa = 1\n')
    assert "[observations.T5] sigmaa" in msg and "did you mean 'sigma'" in msg
    msg = error_of(tmp_path, '[observations.T5]\nvariable = "SoilTmp"\nfile = "x.txt"\n'
                             "depth = 0.05\n")
    assert "did you mean 'SoilTemp'" in msg
    msg = error_of(tmp_path, '[calibration]\nfree = ["lamda"]\n')
    assert "[calibration] free" in msg and "did you mean 'lambda'" in msg
    msg = error_of(tmp_path, '[calibration]\nfree = ["lambda"]\n[calibration.bounds]\n'
                             "lamda = [0.1, 2]\n")
    assert "[calibration.bounds] lamda" in msg and "did you mean 'lambda'" in msg
    msg = error_of(tmp_path, '[calibration]\nfree = ["lambda"]\n[calibration.start_range]\n'
                             'lambda = "wide"\n')
    assert "[calibration] start_range" in msg or "[calibration.start_range]" in msg
    msg = error_of(tmp_path, '[calibration]\nfree = ["lambda"]\n[calibration.bounds]\n'
                             "C = [1e6, 3e6]\n")
    assert "not free" in msg


def test_parameters_needed_by_the_options(tmp_path):
    msg = error_of(tmp_path, '[physics]\nturbulence = "bulk"\n')
    assert "z0m" in msg and "missing" in msg
    msg = error_of(tmp_path, '[physics]\nturbulence = "bulk"\n[parameters]\nalpha = 0.2\n'
                   "lambda = 0.8\nC = 2e6\nT_b = 290\nz0m = 0.05\n", params=False)
    assert "[site] measurement_height" in msg
    cfg = load_config(write(tmp_path, '[physics]\nturbulence = "bulk"\nlatent = "resistance"\n'
                            "[site]\nmeasurement_height = 10\n"
                            "[forcing]\nwind = 2.0\npsurf = 1e5\nqair = 0.008\n"
                            "[parameters]\nalpha = 0.2\nlambda = 0.8\nC = 2e6\nT_b = 290\n"
                            "z0m = 0.05\nr_s = 100\n", params=False))
    full = cfg.full_params()
    assert full["z_ref"] == 10.0 and full["z0h_ratio"] == 0.1 and full["eps"] == 0.95
    msg = error_of(tmp_path, '[physics]\nturbulence = "bulk"\n[site]\nmeasurement_height = 10\n'
                   "[parameters]\nalpha = 0.2\nlambda = 0.8\nC = 2e6\nT_b = 290\n"
                   "z0m = 0.05\n", params=False)
    assert "[forcing] wind" in msg and "synthetic" in msg


def test_layered_soil_parameters(tmp_path):
    cfg = load_config(write(tmp_path, "[soil]\nlayer_bottoms = [0.1, 0.5, 1.0]\n"
                            "[parameters]\nalpha = 0.2\nlambda = [0.5, 0.8, 1.2]\nC = 2e6\n"
                            "T_b = 290\nh_eff = 20\n", params=False))
    assert cfg.spec.nlayers == 3 and cfg.params["lambda"] == (0.5, 0.8, 1.2)
    msg = error_of(tmp_path, "[soil]\nlayer_bottoms = [0.1, 1.0]\n[parameters]\nalpha = 0.2\n"
                   "lambda = [0.5, 0.8, 1.2]\nC = 2e6\nT_b = 290\nh_eff = 20\n", params=False)
    assert "lambda" in msg and "3 values" in msg and "2 layers" in msg
    msg = error_of(tmp_path, "[soil]\nlayer_bottoms = [0.1, 0.05]\n")
    assert "layer_bottoms[1]" in msg
    msg = error_of(tmp_path, "[soil]\nlayer_bottoms = [0.1, 0.5]\n")
    assert "reach the bottom" in msg
    msg = error_of(tmp_path, "[parameters]\nalpha = [0.2, 0.3]\nlambda = 0.8\nC = 2e6\n"
                   "T_b = 290\nh_eff = 20\n", params=False)
    assert "alpha" in msg and "one number" in msg


def test_celsius_temperature_parameter_is_named(tmp_path):
    msg = error_of(tmp_path, PARAMS.replace("T_b = 293.0", "T_b = 20.0"), params=False)
    assert "T_b" in msg and "Celsius" in msg and "293.15" in msg


def test_json_schema_for_editors():
    s = json_schema()
    props = s["properties"]
    assert set(props) == set(TABLES)
    import json

    text = json.dumps(s)
    assert "measurement_height" in text and "layer_bottoms" in text and "time_scheme" in text


ROUND_TRIP_CASES = {
    "defaults": "",
    "full": """
[grid]
node_depths = [0, 0.02, 0.05, 0.1, 0.2, 0.5]
[time]
dt = 1800
hours = 24
start = 2012-05-01T09:00:00+02:00
[solver]
method = "jacobi"
[physics]
longwave = "kirchhoff"
bottom = "zero_flux"
[initial]
kind = "profile"
profile = [300, 299, 298, 297, 295, 293]
[forcing]
kind = "netcdf"
path = "obs/site.nc"
gap_policy = "interpolate"
variables = {SWdown = "SW_IN_F", Tair = "TA_F"}
[observations.T5]
variable = "SoilTemp"
depth = 0.05
file = "obs.txt"
sigma = 0.2
[calibration]
free = ["lambda", "C"]
calibration_window = [2012-05-01T09:00:00Z, "2012-05-01T20:00:00Z"]
[calibration.bounds]
lambda = [0.1, 3.0]
""",
}


@pytest.mark.parametrize("case", list(ROUND_TRIP_CASES))
def test_to_dict_round_trips(tmp_path, case, monkeypatch):
    cfg = load_config(write(tmp_path, ROUND_TRIP_CASES[case]))
    d = cfg.to_dict()
    json.loads(json.dumps(d))  # JSON-serialisable
    monkeypatch.chdir("/")  # no dependence on the CWD: paths are absolute already
    again = parse_config(d, path=cfg.path)
    assert again == cfg
    assert again.to_dict() == d
    # to_dict is a copy: changing it leaves the config untouched
    d["grid"]["nodes"] = 7
    assert cfg.to_dict() != d


def test_round_trip_with_h_and_beta():
    body = dict(PARAMS_DICT)
    del body["h_eff"]
    cfg = parse_config({"parameters": dict(body, h=15.0, beta=1.5)})
    again = parse_config(cfg.to_dict())
    assert again == cfg and again.params.beta == 1.5


def test_equality_sees_differences():
    a = parse_config({"parameters": PARAMS_DICT})
    b = parse_config({"parameters": PARAMS_DICT, "grid": {"nodes": 51}})
    c = parse_config({"parameters": dict(PARAMS_DICT, alpha=0.3)})
    assert a == parse_config({"parameters": PARAMS_DICT})
    assert a != b and a != c and a != "config"


def test_parse_config_from_dict_has_no_file():
    cfg = parse_config({"parameters": PARAMS_DICT})
    assert cfg.path is None
    with pytest.raises(ConfigError, match=r"^\[grid\] nodes"):
        parse_config({"parameters": PARAMS_DICT, "grid": {"nodes": 1}})
    with pytest.raises(ConfigError, match="mapping"):
        parse_config([1, 2])  # type: ignore[arg-type]


def test_parse_config_accepts_numpy_values():
    cfg = parse_config({"parameters": PARAMS_DICT,
                        "grid": {"node_depths": np.array([0.0, 0.1, 0.3])},
                        "time": {"dt": np.float64(60), "steps": np.int64(3),
                                 "start": np.datetime64("2001-02-03T04:05:06")}})
    assert cfg.nt == 3 and cfg.dt == 60.0
    assert cfg.start == np.datetime64("2001-02-03T04:05:06")


# ------------------------------------------------------------------ schema and docs


def test_schema_entries_are_well_formed():
    for table, model in TABLES.items():
        for name, info in keys(model).items():
            assert isinstance(info, KeyInfo)
            assert info.description, (table, name)
            if info.choices and isinstance(info.default, str):
                assert info.default in info.choices
    # option choices and defaults come from the vocabulary
    from sebcal.vocabulary import OPTIONS

    for name, o in OPTIONS.items():
        key = {"solver": "method", "init": "kind"}.get(name, name)
        info = keys(TABLES[o.table])[key]
        # [initial] kind adds "observed": a given profile built from the observations
        extra = ("observed",) if name == "init" else ()
        assert info.choices == o.choices + extra and info.default == o.default, name


def test_docs_are_generated_from_the_schema_and_vocabulary():
    """docs/config.md and docs/parameters.md carry the tables the code generates (make docs)."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gen_docs", root / "tools" / "gen_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for path, text in gen.generated().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run make docs"


def test_docs_describe_every_key():
    doc = Path(__file__).resolve().parents[1] / "docs" / "config.md"
    text = doc.read_text(encoding="utf-8")
    for table, model in TABLES.items():
        assert f"[{table}" in text, table
        for name in keys(model):
            assert f"`{name}`" in text, f"docs/config.md does not describe [{table}] {name}"


def test_a_table_added_to_tables_is_validated(monkeypatch):
    """How later features extend the config: a pydantic model in TABLES is all it needs."""
    from typing import Literal

    from pydantic import Field

    from sebcal.config import _Table

    class ExportTable(_Table):
        format: Literal["netcdf", "csv"] = Field("netcdf", description="output format")
        folder: str = Field(..., description="output folder")
        every: int = Field(1, ge=1, description="write every n-th level")

    monkeypatch.setitem(TABLES, "export", ExportTable)
    assert "export" not in parse_config({"parameters": PARAMS_DICT}).tables
    cfg = parse_config({"parameters": PARAMS_DICT, "export": {"folder": "out"}})
    assert cfg.tables["export"] == {"format": "netcdf", "folder": "out", "every": 1}
    assert parse_config(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"\[export\] folder.*required"):
        parse_config({"parameters": PARAMS_DICT, "export": {}})
    with pytest.raises(ConfigError, match=r"\[export\] format.*did you mean 'csv'"):
        parse_config({"parameters": PARAMS_DICT, "export": {"folder": "o", "format": "cvs"}})
    with pytest.raises(ConfigError, match=r"\[export\] evry.*did you mean 'every'"):
        parse_config({"parameters": PARAMS_DICT, "export": {"folder": "o", "evry": 2}})


#: the run configurations among the examples (sites.toml is a multi-site file, tested in
#: tests/test_multisite.py)
EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[1] / "examples").glob("*.toml")
                  if p.name != "sites.toml")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configs_load(path):
    cfg = load_config(path)
    assert parse_config(cfg.to_dict(), path=cfg.path) == cfg
    if cfg.forcing["kind"] != "paper_synthetic":
        assert cfg.forcing["path"].startswith(str(path.parent))
