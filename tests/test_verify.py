"""Tests of sebcal.verify: the Fortran / PyTorch cross-check behind ``sebcal verify``.

The check must pass on the published configuration (examples/paper_synthetic.toml) and on other
option combinations, and must fail when one backend is deliberately changed (lambda altered by
1e-6 relative on the torch side only, which moves temperatures by ~1e-6 K >> 1e-9 K).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sebcal.config import load_config, parse_config
from sebcal.verification import THRESHOLDS, format_table, verify

ROOT = Path(__file__).resolve().parents[1]
PAPER_TOML = ROOT / "examples" / "paper_synthetic.toml"
VARIABLES = ("SoilTemp", "AvgSurfT", "SWnet", "LWnet", "LWup", "Qh", "Qle", "Qg",
             "Qh_plus_Qle")
PARAMS = ("alpha", "eps", "lambda", "C", "T_b", "h_eff")


@pytest.fixture(scope="module")
def paper_result():
    return verify(load_config(PAPER_TOML))


def test_verify_passes_on_the_paper_config(paper_result):
    r = paper_result
    assert r["passed"] is True
    assert json.loads(json.dumps(r)) == r                    # JSON-serialisable, round trip
    assert set(VARIABLES) <= set(r["max_abs_diff"])
    for name in VARIABLES:
        d = r["max_abs_diff"][name]
        tol = THRESHOLDS["temperature_K"] if d["unit"] == "K" else THRESHOLDS["flux_W_m2"]
        assert d["passed"] and d["value"] <= tol and d["tolerance"] == tol
        assert "time_index" in d["where"]
    assert 0.0 <= r["max_abs_diff"]["SoilTemp"]["where"]["depth_m"] <= 1.0
    assert set(PARAMS) <= set(r["gradients"])      # and beta, which splits Qh and Qle
    for name, g in r["gradients"].items():
        assert g["passed"] and g["rel_error"] <= 1e-5, name
        assert g["autograd"] != 0.0 and np.isfinite(g["autograd"]), name
        assert np.sign(g["autograd"]) == np.sign(g["finite_difference"]), name
    assert r["solver"]["compared"] == "direct" and r["solver"]["tol_K"] == 1e-12
    assert r["loss"]["value"] > 0


def test_verify_fails_when_torch_lambda_is_altered():
    r = verify(load_config(PAPER_TOML), torch_scale={"lambda": 1 + 1e-6})
    assert r["passed"] is False
    assert not r["max_abs_diff"]["SoilTemp"]["passed"]
    assert 1e-8 < r["max_abs_diff"]["SoilTemp"]["value"] < 1e-4
    assert r["max_abs_diff"]["SWnet"]["passed"]              # lambda does not enter SWnet
    assert "FAILED" in format_table(r)


def test_verify_other_options_and_jacobi_config_uses_direct(tmp_path):
    cfg = parse_config({
        "grid": {"node_depths": [0.0, 0.01, 0.03, 0.06, 0.1, 0.16, 0.25, 0.4]},
        "time": {"steps": 48, "dt": 1800.0},
        "solver": {"method": "jacobi"},
        "physics": {"longwave": "kirchhoff", "bottom": "zero_flux"},
        "initial": {"kind": "profile", "profile": [291, 292, 293, 293.5, 294, 294, 294, 294]},
        "parameters": {"alpha": 0.25, "eps": 0.92, "lambda": 0.5, "C": 1.9e6, "T_b": 294.0,
                       "h_eff": 18.0},
    })
    r = verify(cfg)
    assert r["passed"], format_table(r)
    assert r["solver"]["config_solver"] == "jacobi" and "Jacobi" in r["solver"]["note"]
    # no Bowen ratio: Qh and Qle are NaN in both backends, which counts as agreement
    assert r["max_abs_diff"]["Qh"]["note"].startswith("NaN in both")
    # T_b enters neither the zero-flux bottom nor a given profile: it is not checked
    assert "T_b" not in r["gradients"] and "lambda" in r["gradients"]


def test_zero_gradients_and_zero_parameters_do_not_fail():
    """A night-only run: the albedo gradient is truly zero in both backends; alpha = 0 is a
    valid value (no division by it)."""
    cfg = parse_config({
        "grid": {"depth": 0.5, "nodes": 11}, "time": {"steps": 5},
        "parameters": {"alpha": 0.0, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
                       "h_eff": 25.0}})
    r = verify(cfg)
    assert r["passed"], format_table(r)
    assert r["gradients"]["alpha"]["note"] == "zero gradient in both backends"
    assert r["gradients"]["lambda"]["rel_error"] < 1e-5


def test_format_table_lists_everything(paper_result):
    text = format_table(paper_result)
    for name in VARIABLES + PARAMS:
        assert name in text
    assert text.rstrip().endswith("PASSED")
    assert "direct" in text


def test_unknown_torch_scale_parameter_is_an_error():
    with pytest.raises(ValueError, match="unknown parameter"):
        verify(load_config(PAPER_TOML), torch_scale={"kappa": 2.0})


def test_verify_cli_on_the_west_phoenix_example(capsys):
    """`sebcal verify` on the flux-tower example: exit 0 and a JSON object with the fields."""
    import json

    from sebcal.cli import main

    assert main(["verify", str(ROOT / "examples" / "west_phoenix_forward.toml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True
    assert out["max_abs_diff"]["SoilTemp"]["value"] <= 1e-9
    for name in ("alpha", "eps", "lambda", "C", "T_b", "h_eff"):
        g = out["gradients"][name]
        assert set(g) >= {"autograd", "finite_difference", "rel_error"}
        assert g["rel_error"] <= 1e-5


def test_verify_cli_exit_status_1_when_it_fails(monkeypatch, capsys):
    import sebcal.verification as v
    from sebcal.cli import main

    real = v.verify
    monkeypatch.setattr(v, "verify", lambda cfg, **kw: real(cfg, torch_scale={"lambda": 1 + 1e-6}))
    assert main(["verify", str(PAPER_TOML)]) == 1
    assert "FAIL" in capsys.readouterr().out
