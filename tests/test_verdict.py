"""Calibration that cannot return nonsense silently: bounds, priors, the verdict, the exit
status, the export's refusal, and the real-site examples (docs/calibration.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT
from sebcal.calibration import Space, calibrate
from sebcal.calibration.priors import literature, moisture_prior, texture_values
from sebcal.config import load_config
from sebcal.errors import SebcalError
from sebcal.observations import load_observations, windows
from sebcal.runner import forcing_for

EX = ROOT / "examples"


def _small(path, tmp_path, starts=6, extra="", edits=()):
    text = path.read_text().replace('"data/', f'"{EX}/data/')
    text = text.replace("starts = 50", f"starts = {starts}").replace("starts = 20",
                                                                     f"starts = {starts}")
    text = text.replace("[calibration]\n", "[calibration]\n" + extra, 1)
    for a, b in edits:
        assert a in text, a
        text = text.replace(a, b)
    p = tmp_path / path.name
    p.write_text(text)
    return p


# ------------------------------------------------------------------------------ bounds


def test_bounds_hold_under_adversarial_starts(tmp_path):
    """Starts far outside every range end inside the calibration bounds, with a finite fit."""
    from sebcal.calibration import lm
    from sebcal.calibration.problem import Problem

    cfg = load_config(_small(EX / "paper_synthetic_2depth.toml", tmp_path))
    sp = Space.build(["alpha", "h_eff", "lambda", "C", "T_b"], cfg.full_params())
    prob = Problem(cfg.spec, forcing_for(cfg), load_observations(cfg),
                   windows(cfg).calibration, sp)
    u0 = np.array([[40.0, -40.0, 40.0, -40.0, 40.0], [-1e3, 1e3, -1e3, 1e3, -1e3],
                   [0.0, 0.0, 0.0, 0.0, 0.0]])
    state, r, J = lm.start(prob, u0)
    state, r, J = lm.levenberg_marquardt(prob, state, r, J, max_iterations=30)
    phys = sp.to_phys_np(state.u)
    for c in sp.coords:     # inside, up to the round-off of the transform at its ends
        lo, hi = c.bounds[0] * (1 - 1e-12), c.bounds[1] * (1 + 1e-12)
        assert np.all(phys[c.label] >= lo) and np.all(phys[c.label] <= hi), c.label
    assert np.isfinite(state.cost[~state.failed]).all()
    # the start at the range centre converges to the truth
    assert abs(phys["lambda"][2] - 0.8) < 0.01 and abs(phys["alpha"][2] - 0.2) < 0.002


# ------------------------------------------------------------------------------ priors


def test_literature_and_texture_priors():
    p = literature("lambda")
    lo, hi = 0.1, 3.0
    assert np.exp(p.center) == pytest.approx(np.sqrt(lo * hi))
    assert p.residual(hi) == pytest.approx(1.959963984540054)          # 97.5 % point
    # CLM5's pedotransfer functions at a known texture (sand 40 %, clay 20 %, rho_b 1500)
    t = texture_values({"sand_fraction": 0.4, "clay_fraction": 0.2, "bulk_density": 1500.0},
                       theta_mean=0.2)
    assert t["porosity"] == pytest.approx(1 - 1500 / 2700)
    assert t["lambda_solids"] == pytest.approx((8.80 * 40 + 2.92 * 20) / 60)
    assert t["lambda_dry"] == pytest.approx((0.135 * 1500 + 64.7) / (2700 - 0.947 * 1500))
    assert t["C_dry"] == pytest.approx((1 - t["porosity"]) * (2.128 * 40 + 2.385 * 20) / 60 * 1e6)
    assert t["C"] == pytest.approx(t["C_dry"] + 0.2 * 4.188e6)
    m = moisture_prior("C", None, 0.1)
    assert np.exp(m.center) == pytest.approx(0.6 * 2.0e6 + 0.1 * 4.188e6)


def _dugout_soil(tmp_path, prior: str, name: str):
    """The soil stage of the Dugout Ranch example as a one-stage calibration."""
    text = (EX / "dugout_ranch.toml").read_text().replace('"data/', f'"{EX}/data/')
    head = text[:text.index("[calibration]")]
    head = head.replace('turbulence = "bulk"', 'turbulence = "h_eff"').replace(
        'latent = "resistance"\nsurface_resistance = "soil_moisture"\n', "")
    head = head.replace('bottom = "series"', 'bottom = "series"\ntop = "temperature"')
    head = head.replace("depth = 1.0                   # m: the 1 m sensor is the bottom\n"
                        "nodes = 101", "top_depth = 0.05\ndepth = 1.0\nnodes = 96")
    keep = [blk for blk in head.split("\n[observations.")]
    obs = "\n".join("[observations." + blk for blk in keep[1:]
                    if blk.startswith("T") and 'variable = "SoilTemp"' in blk)
    top = ('[forcing.top]\nfile = "' + str(EX) + '/data/US-UTD_DugoutRanch/'
           '21031_Statistics_AmeriFlux*.dat"\nname = "T_1_1_1"\n\n')
    body = keep[0].replace("[forcing.bottom]", top + "[forcing.bottom]")
    body = "\n".join(line for line in body.splitlines()
                     if not line.startswith(("z0m", "z0h_ratio", "rs_a", "rs_b", "porosity",
                                             "alpha", "eps")))
    cal = ('\n[calibration]\nfree = ["lambda", "C"]\nstarts = 3\ncalibration_hours = [0, 336]\n'
           'evaluation_hours = [336, 696]\n\n[calibration.prior]\n' + prior + "\n")
    path = tmp_path / f"{name}.toml"
    path.write_text(body + "\n" + obs + cal)
    return path


def test_a_prior_moves_a_weak_parameter_and_not_a_well_identified_one(tmp_path):
    """Dugout Ranch soil: with the top temperature prescribed the sensors fix the diffusivity
    lambda/C, not C. A prior on C moves C (lambda follows at fixed lambda/C). A wrong prior
    on the well-identified albedo of the two-depth synthetic case does not move it."""
    a = calibrate(_dugout_soil(tmp_path, 'C = {median = 1.5e6, factor = 1.05}', "a"),
                  tmp_path / "a", progress=False, figures=False).params
    b = calibrate(_dugout_soil(tmp_path, 'C = {median = 2.5e6, factor = 1.05}', "b"),
                  tmp_path / "b", progress=False, figures=False).params
    va = {k: e["value"] for k, e in a["parameters"].items()}
    vb = {k: e["value"] for k, e in b["parameters"].items()}
    assert va["C"] == pytest.approx(1.5e6, rel=0.05) and vb["C"] == pytest.approx(2.5e6, rel=0.05)
    assert va["lambda"] / va["C"] == pytest.approx(vb["lambda"] / vb["C"], rel=0.01)
    assert a["parameters"]["C"]["constrained_by"] == "prior"

    syn = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=4)
    text = syn.read_text() + "\n[calibration.prior]\nalpha = {mean = 0.3, sd = 0.05}\n"
    syn.write_text(text)
    p = calibrate(syn, tmp_path / "syn", progress=False, figures=False).params
    assert p["parameters"]["alpha"]["value"] == pytest.approx(0.2, abs=0.002)
    assert p["parameters"]["alpha"]["constrained_by"] == "data"
    assert p["priors"]["alpha"]["kind"] == "normal"


# ------------------------------------------------------------------------------ the verdict


def test_two_depth_synthetic_is_usable(tmp_path):
    p = calibrate(_small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=6),
                  tmp_path / "out", progress=False, figures=False).params
    assert p["verdict"]["status"] == "usable", p["verdict"]
    assert p["verdict"]["exit_status"] == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.index("Verdict: **usable**") < report.index("## Parameters")


def _mismatched(tmp_path):
    """The 5 cm synthetic series declared to be at 30 cm: no real soil fits it."""
    return _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=4,
                  edits=[("depth = 0.05", "depth = 0.30")])


def test_a_mismatched_case_is_not_usable_and_exits_3(tmp_path, capsys):
    from sebcal.cli import main

    cfg = _mismatched(tmp_path)
    code = main(["calibrate", str(cfg), "--out", str(tmp_path / "out"), "--no-progress",
                 "--no-figures"])
    out = capsys.readouterr().out
    assert code == 3, out
    p = json.loads((tmp_path / "out" / "params.json").read_text())
    assert p["verdict"]["status"] == "not usable for a host"
    assert p["verdict"]["exit_status"] == 3
    assert any("outside the range of real soils" in r for r in p["verdict"]["reasons"])
    assert "verdict: not usable for a host" in out
    for f in ("params.json", "simulation.nc", "report.md"):          # still written
        assert (tmp_path / "out" / f).exists()
    # every fitted value stays inside its calibration bounds
    for name, e in p["parameters"].items():
        if e.get("fitted"):
            lo, hi = e["bounds"]
            assert lo <= e["value"] <= hi, name
    # the export refuses it, and says why and how to override
    with pytest.raises(SebcalError, match="not usable for a host.*--allow-implausible"):
        from sebcal.bridge import export

        export(tmp_path / "out" / "params.json", "sebcal", tmp_path / "x.nml")
    assert not (tmp_path / "x.nml").exists()
    assert main(["export", str(tmp_path / "out" / "params.json"), "--host", "sebcal", "--out",
                 str(tmp_path / "x.nml")]) == 2
    assert "--allow-implausible" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "out" / "params.json"), "--host", "sebcal", "--out",
                 str(tmp_path / "x.nml"), "--allow-implausible"]) == 0


def test_verdict_rules():
    from sebcal.calibration.verdict import assess

    good = {"lambda": {"value": 0.8, "fitted": True, "plausible": [0.1, 3.0], "unit": "W m-1 K-1",
                       "at_bound": None}}
    ident = {"status": {"lambda": "identifiable"}, "findings": []}
    mets = {"calibration": {"T5": {"rmse": 0.2, "n": 10, "unit": "K"}},
            "evaluation": {"T5": {"rmse": 0.3, "n": 10, "unit": "K", "sigma": 0.3}}}
    assert assess(good, ident, mets, {})["status"] == "usable"
    bound = {"lambda": {**good["lambda"], "at_bound": "upper", "bounds": [0.05, 6]}}
    assert assess(bound, ident, mets, {})["status"] == "usable with caveats"
    worse = {**mets, "evaluation": {"T5": {"rmse": 0.7, "n": 10, "unit": "K", "sigma": 0.3}}}
    v = assess(good, ident, worse, {})
    assert v["status"] == "usable with caveats" and "3.5 times" in v["reasons"][0]
    collapse = {**mets, "evaluation": {"T5": {"rmse": 2.0, "n": 10, "unit": "K", "sigma": 0.3}}}
    assert assess(good, ident, collapse, {})["status"] == "not usable for a host"
    v = assess(good, ident, mets, {}, closure={"ratio": 0.5, "n": 100})
    assert v["status"] == "usable with caveats" and "50 %" in v["reasons"][0]
    v = assess(good, ident, mets, {"inflation": 4.0, "n_eff": 12})
    assert v["status"] == "usable" and "widened by a factor 4.0" in v["notes"][0]


# ------------------------------------------------------------------------------ real sites


def test_dugout_ranch_soil_stage_predicts_every_depth(tmp_path):
    """Dugout Ranch: lambda and C from 10 and 20 cm over the first two weeks predict every
    depth to 1 m over the rest of the record within 1 K (the prescribed top and bottom are
    reported as boundaries), with plausible values."""
    cfg = _small(EX / "dugout_ranch.toml", tmp_path, starts=3,
                 edits=[('free = ["alpha", "z0m", "z0h_ratio", "rs_a", "rs_b"]\nfit = ["LWup", '
                         '"Qh", "Qle", "T5"]\nprior = {alpha = {mean = 0.197, sd = 0.02}, z0m = '
                         '{median = 0.024, factor = 2.0}}\n', 'free = ["rs_a"]\nfit = ["LWup"]\n'),
                        ("baseline = true", "baseline = false")])
    p = calibrate(cfg, tmp_path / "out", progress=False, figures=False).params
    soil = p["stages"][0]
    assert soil["name"] == "soil"
    lam, C = soil["values"]["lambda"], soil["values"]["C"]
    assert 0.1 <= lam <= 3.0 and 0.9e6 <= C <= 4e6
    ev = soil["metrics"]["evaluation"]
    depths = {}
    for key, m in ev.items():
        d = float(key.split("at ")[1].split(" m")[0])
        depths[d] = m
    assert sorted(depths) == [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0]    # all nine
    for d, m in depths.items():
        if m.get("role"):
            assert d in (0.05, 1.0)
        elif d <= 0.5:
            assert m["rmse"] <= 1.0, (d, m["rmse"])
    assert p["parameters"]["lambda"]["fitted"] and p["parameters"]["lambda"]["value"] == lam


def test_every_example_config_is_valid():
    for path in sorted(EX.glob("*.toml")):
        if path.name == "sites.toml":      # a multi-site file (tests/test_multisite.py)
            continue
        cfg = load_config(path)
        assert cfg.nt > 0, path
