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


# ------------------------------------------------------------------------------ pinned parameters


def _pinned_C(tmp_path, extra=""):
    """The two-depth synthetic case with C capped at 1.6e6 (the truth is 2.2e6): the data push
    C onto its upper bound."""
    return _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=4,
                  edits=[("C = [2.0e6, 2.5e6]", "C = [1.1e6, 1.5e6]")],
                  extra="bounds = {C = [1.0e6, 1.6e6]}\n" + extra)


def test_identifiability_names_a_parameter_pinned_on_a_bound(tmp_path, capsys):
    """C on its bound: the terminal, report.md and params.json name C as pinned, and no
    finding explains another parameter by the Hessian's null direction (which is C alone)."""
    from sebcal.cli import main

    code = main(["calibrate", str(_pinned_C(tmp_path)), "--out", str(tmp_path / "out"),
                 "--no-progress", "--no-figures"])
    out = capsys.readouterr().out
    p = json.loads((tmp_path / "out" / "params.json").read_text())
    assert p["parameters"]["C"]["at_bound"] == "upper", p["parameters"]["C"]
    ident = p["identifiability"]
    assert ident["pinned"] == {"C": "upper"}
    assert ident["status"]["C"] == "on its bound"
    assert ident["summary"].startswith("C is on its calibration bound"), ident["summary"]
    assert "identifiability: C is on its calibration bound" in out, out
    assert any(f.startswith("C is on its upper calibration bound (1.6e+06 J m-3 K-1)")
               for f in ident["findings"]), ident["findings"]
    assert not any("Hessian eigenvalue" in f for f in ident["findings"]), ident["findings"]
    assert p["parameters"]["C"]["constrained_by"] == "bound"
    report = (tmp_path / "out" / "report.md").read_text()
    ident_md = report[report.index("## Identifiability"):report.index("## Skill")]
    assert "C is on its upper calibration bound" in ident_md
    assert any("C = 1.6e+06 J m-3 K-1 ended on its upper calibration bound" in r
               for r in p["verdict"]["reasons"]), p["verdict"]["reasons"]
    assert code in (0, 3)


def test_identifiability_of_pinned_and_free_directions():
    """A precision with a zero row for a pinned C and a lambda-T_b valley among the others:
    C is reported on its bound, the valley names lambda and T_b, not C. Without the pin the
    same analysis reports no bound."""
    from sebcal.calibration.analysis import identifiability, laplace_gn
    from sebcal.params import Params

    fixed = Params({"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
                    "h_eff": 25.0})
    sp = Space.build(["lambda", "C", "T_b"], fixed)
    for C, pinned in ((5.9e6, True), (2.2e6, False)):     # calibration bounds of C: to 6e6
        best = {"lambda": 0.8, "C": C, "T_b": 293.0}
        c = sp.coords[1]
        side = c.at_bound(C)
        assert (side == "upper") == pinned
        v = np.array([1.0, 0.0, 1.0]) / np.sqrt(2)     # lambda and T_b together: a valley
        w = np.array([1.0, 0.0, -1.0]) / np.sqrt(2)
        A = 1e4 * np.outer(w, w) + 1e-3 * np.outer(v, v)
        if not pinned:
            A += 5e3 * np.outer([0, 1, 0], [0, 1, 0])
        lap = laplace_gn(sp, best, A, np.zeros((3, 3)), 1.0, 100.0, 100)
        ident = identifiability(sp, best, lap, [best], [1.0])
        if pinned:
            assert ident["status"]["C"] == "on its bound" and ident["pinned"] == {"C": "upper"}
            assert ident["findings"][0].startswith("C is on its upper calibration bound")
        else:
            assert ident["pinned"] == {} and ident["status"]["C"] != "on its bound"
        valley = [f for f in ident["findings"] if "Hessian eigenvalue" in f]
        assert len(valley) == 1 and "lambda" in valley[0] and "T_b" in valley[0], valley
        assert "C" not in valley[0].replace("C^", "").split(":")[0], valley
        assert ident["status"]["lambda"] == ident["status"]["T_b"] == "not identifiable"


def test_multistart_names_the_other_optima():
    """Finals in two clusters: the finding counts the starts at the best optimum and names the
    other one, with its loss."""
    from sebcal.calibration.analysis import identifiability, laplace_gn
    from sebcal.params import Params

    sp = Space.build(["lambda", "C"], Params({"alpha": 0.2, "eps": 0.95, "lambda": 0.8,
                                              "C": 2.2e6, "T_b": 293.0, "h_eff": 25.0}))
    best = {"lambda": 0.8, "C": 2.2e6}
    lap = laplace_gn(sp, best, np.diag([1e4, 1e4]), np.zeros((2, 2)), 1.0, 100.0, 100)
    finals = [best] * 5 + [{"lambda": 1.5, "C": 3.0e6}] * 3
    ident = identifiability(sp, best, lap, finals, [1.0] * 5 + [2.5] * 3)
    ms = [f for f in ident["findings"] if f.startswith("multi-start")][0]
    assert "5 of 8 starts reach the best optimum" in ms
    assert "the other 3 end in 1 other optimum with a loss up to 2.5 times the best" in ms
    ident = identifiability(sp, best, lap, [best] * 8, [1.0] * 8)
    ms = [f for f in ident["findings"] if f.startswith("multi-start")][0]
    assert ms.startswith("multi-start: 8 of 8 starts reach the best optimum") and "other" not in ms


# ------------------------------------------------------------------------------ misfit rule


def _mets(rmse, bias, sigma=0.3, n=100, n_eff=50.0, fitted=True, window="calibration"):
    m = {"rmse": rmse, "bias": bias, "n": n, "unit": "K", "fitted": fitted, "sigma": sigma,
         "n_eff": n_eff, "chi2": (rmse / sigma) ** 2}
    return {"calibration": {}, "evaluation": {}, window: {"T64 (SoilTemp at 0.64 m)": m}}


def test_absolute_misfit_rule_fires_and_holds_back():
    from sebcal.calibration.verdict import assess

    good = {"lambda": {"value": 0.8, "fitted": True, "plausible": [0.1, 3.0], "unit": "W m-1 K-1",
                       "at_bound": None}}
    ident = {"status": {"lambda": "identifiable"}, "findings": []}
    # 6 sigma with a -1.7 K bias on a fitted sensor: not usable as is
    v = assess(good, ident, _mets(1.8, -1.7), {})
    assert v["status"] == "usable with caveats", v
    assert "is missed by 6.0 sigma in the calibration window (RMSE 1.8 K, bias -1.7 K" in \
        v["reasons"][0]
    # an evaluated-only depth bad in both windows is named once, with both numbers
    both = _mets(1.45, 0.2, sigma=0.3, fitted=False)
    both["evaluation"] = _mets(2.15, 0.5, fitted=False, window="evaluation")["evaluation"]
    v = assess(good, ident, both, {})
    assert len(v["reasons"]) == 1 and "evaluated only" in v["reasons"][0]
    assert "4.8 sigma in the calibration window" in v["reasons"][0]
    assert "7.2 sigma in the evaluation window" in v["reasons"][0]
    # a bias beyond 2 sigma alone fires
    assert assess(good, ident, _mets(0.75, 0.7), {})["status"] == "usable with caveats"
    # within the rule: 2 sigma RMSE, 1 sigma bias
    assert assess(good, ident, _mets(0.6, 0.3), {})["status"] == "usable"
    # 3.5 sigma over a single effective value: chance (1 + 3 sqrt(2) = 5.2 > 12.25? no) fires
    assert assess(good, ident, _mets(1.05, 0.0, n_eff=1.0), {})["status"] == \
        "usable with caveats"
    # 3.1 sigma over one effective value: chi2 9.6 > 5.24 fires; 2.2 sigma does not
    assert assess(good, ident, _mets(0.66, 0.0, n_eff=1.0), {})["status"] == "usable"
    # boundaries are given, not fitted: never judged
    bnd = _mets(3.0, 2.0)
    bnd["calibration"]["T64 (SoilTemp at 0.64 m)"]["role"] = "prescribed (bottom boundary)"
    assert assess(good, ident, bnd, {})["status"] == "usable"


def test_a_fit_several_sigma_off_its_own_sensor_is_not_usable(tmp_path):
    """The two-depth synthetic case with its 5 cm series shifted by +1 K (sigma 0.1 K): no
    parameters fit both sensors, and the verdict says by how many sigma."""
    shifted = tmp_path / "T2_shifted.txt"
    shifted.write_text("\n".join(f"{x + 1.0:.6f}" for x in
                                 np.loadtxt(EX / "data" / "paper" / "Target_T2.txt")))
    cfg = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=4,
                 edits=[(f'"{EX}/data/paper/Target_T2.txt"', f'"{shifted}"')])
    p = calibrate(cfg, tmp_path / "out", progress=False, figures=False).params
    assert p["verdict"]["status"] != "usable", p["verdict"]
    hits = [r for r in p["verdict"]["reasons"] if "is missed by" in r]
    assert hits, p["verdict"]["reasons"]
    m = p["metrics"]["calibration"]
    worst = max(v["rmse"] / v["sigma"] for v in m.values())
    assert worst > 3.0
    assert any(f"{worst:.1f} sigma" in r for r in hits), (worst, hits)


# ------------------------------------------------------------------------------ site rules


def _tb(value, **ctx):
    from sebcal.calibration.verdict import assess

    parameters = {"T_b": {"value": value, "fitted": True, "plausible": [220.0, 330.0],
                          "unit": "K", "at_bound": None}}
    ident = {"status": {"T_b": "identifiable"}, "findings": []}
    return assess(parameters, ident, {"calibration": {}, "evaluation": {}}, {},
                  context={"bottom": "dirichlet", **ctx})


def test_t_b_against_the_site_climate():
    # 257 K in a midsummer cropland with a mean air temperature of 297 K: not usable
    v = _tb(257.0, t_air_mean=297.0, land_cover="CRO")
    assert v["status"] == "not usable for a host"
    assert "T_b = 257.0 K is 40.0 K colder than the mean air temperature of the forcing, 297.0 K" \
        in v["reasons"][0]
    assert _tb(276.5, t_air_mean=297.0)["status"] == "not usable for a host"    # 20.5 K
    assert _tb(285.0, t_air_mean=297.0)["status"] == "usable with caveats"      # 12 K
    assert _tb(290.0, t_air_mean=297.0)["status"] == "usable"                   # 7 K
    # an observed deep soil temperature is a reference too (and the further one decides)
    deep = {"label": "T50", "depth": 0.5, "mean": 284.0}
    v = _tb(296.0, t_air_mean=297.0, t_deep=deep)
    assert v["status"] == "usable with caveats" and "at 0.5 m (T50)" in v["reasons"][0]
    # a shallow sensor is no reference for the deep temperature
    assert _tb(296.0, t_air_mean=297.0, t_deep={**deep, "depth": 0.05})["status"] == "usable"
    # T_b is not used with a prescribed bottom series
    assert _tb(257.0, t_air_mean=297.0, bottom="series")["status"] == "usable"


def test_z0m_against_the_measurement_height():
    from sebcal.calibration.verdict import assess

    def v(z0):
        p = {"z0m": {"value": z0, "fitted": True, "plausible": [1e-4, 5.0], "unit": "m",
                     "at_bound": None}}
        return assess(p, {"status": {}, "findings": []}, {"calibration": {}, "evaluation": {}},
                      {}, context={"z_ref": 2.594, "d0": 0.0})

    assert v(1.64)["status"] == "not usable for a host"      # 2.59 m < 2 z0m
    assert "less than 2 z0m" in v(1.64)["reasons"][0]
    assert v(0.5)["status"] == "usable with caveats"         # 5.2 z0m: roughness sublayer
    assert "5.2 z0m" in v(0.5)["reasons"][0]
    assert v(0.024)["status"] == "usable"                    # 108 z0m


def test_record_length_against_the_sensor_depths():
    from sebcal.calibration.verdict import assess

    def v(depth, hours):
        return assess({}, {"status": {}, "findings": []}, {"calibration": {}, "evaluation": {}},
                      {}, context={"diffusivity": 5e-7, "window_hours": hours,
                                   "soil_sensors": [("T", depth, True), ("U", 2.0, False)]})

    # 2 sqrt(kappa t) over 24 h: 2 sqrt(5e-7 * 86400) = 0.416 m
    r = v(0.6, 24.0)
    assert r["status"] == "usable with caveats" and "0.42 m" in r["reasons"][0]
    assert "longer record" in r["reasons"][0]
    assert v(0.3, 24.0)["status"] == "usable"
    assert v(0.6, 336.0)["status"] == "usable"                 # 1.56 m over two weeks


def test_causes_follow_the_land_cover_and_freezing():
    from sebcal.calibration.verdict import assess, cover_group, hint

    assert cover_group("GRA") == cover_group("cropland") == "vegetated"
    assert cover_group("URB") == cover_group("suburban") == "urban"
    assert cover_group("OSH") == "arid" and cover_group(None) is None
    assert "urban" in hint("C", "high", "urban")
    assert "urban" not in hint("C", "high", "vegetated")
    assert "too short" in hint("C", "high", "vegetated")
    fz = hint("C", "high", "vegetated", [("T5", 0.05, 0.4)])
    assert fz.startswith("freezing and thawing: 40 % of the soil temperatures at 0.05 m")
    p = {"C": {"value": 6e6, "fitted": True, "plausible": [0.9e6, 4.2e6], "unit": "J m-3 K-1",
               "at_bound": None}}
    v = assess(p, {"status": {}, "findings": []}, {"calibration": {}, "evaluation": {}}, {},
               context={"land_cover": "GRA", "freezing": [("T5", 0.05, 0.4)]})
    assert "freezing and thawing" in v["reasons"][0] and "urban" not in v["reasons"][0]
    assert any("within 2 K of 0 degC" in r for r in v["reasons"])


def test_near_freezing_soil():
    from sebcal.observations import Observation, near_freezing

    cold = Observation("T5", "SoilTemp", 0.05, 273.15 + 1.5 * np.sin(np.arange(48) / 4))
    warm = Observation("T6", "SoilTemp", 0.05, 290.0 + 3.0 * np.sin(np.arange(48) / 4))
    got = near_freezing([cold, warm])
    assert [g[0] for g in got] == ["T5"] and got[0][2] == pytest.approx(1.0)


# ------------------------------------------------------------------------------ observation checks


def test_observation_checks_fire_on_made_faults_and_not_on_clean_series():
    from sebcal.observations import Observation, check_series

    t = np.arange(97) * 0.5                                   # half-hourly, two days
    sun = np.clip(np.sin((t % 24 - 6) / 12 * np.pi), 0, None)
    rn = Observation("Rn", "Rnet", None, 600 * sun - 60)
    g = Observation("G", "Qg", None, 0.2 * (600 * sun - 60))
    ts = Observation("T5", "SoilTemp", 0.05, 295 + 5 * np.sin((t % 24 - 9) / 12 * np.pi))
    assert check_series([rn, g, ts]) == {}
    # a spike, a value out of range, a flipped sign
    x = ts.values.copy()
    x[40] += 8.0
    spiky = Observation("T5", "SoilTemp", 0.05, x)
    flipped = Observation("G", "Qg", None, -g.values)
    y = rn.values.copy()
    y[30] = 1500.0
    high = Observation("Rn", "Rnet", None, y)
    got = check_series([high, flipped, spiky])
    assert "1 one-level spike larger than" in got["T5"].problems[0] and got["T5"].bad[40]
    assert not got["T5"].whole                                # one glitch: not the series
    assert "1 value of 97 outside -250 to 1100 W m-2" in got["Rn"].problems[0]
    assert got["Rn"].bad[30] and got["Rn"].bad.sum() >= 1
    gp = got["G"]
    day = y > 50
    ratio = np.mean(-g.values[day]) / np.mean(y[day])             # about -0.2
    assert gp.whole and f"G/Rn = {ratio:.2f}" in gp.problems[-1] and ratio < 0
    assert "plate depth" in gp.problems[-1]


def test_dugout_ranch_plate_flux_is_flagged(tmp_path):
    """The Dugout Ranch ground heat flux column (G plus storage) runs from about -875 to +566
    W m-2 with a negative daytime mean: flagged as a whole and kept out of the closure; its
    net radiation, H and LE pass the checks but for one LE value."""
    from sebcal.calibration.verdict import closure_of
    from sebcal.observations import check_series, load_observations
    from sebcal.observations import windows as make_windows

    cfg = load_config(EX / "dugout_ranch.toml")
    obs = load_observations(cfg)
    win = make_windows(cfg)
    both = win.calibration | win.evaluation
    checks = check_series(obs, both)
    g = next(o for o in obs if o.variable == "Qg")
    rn = next(o for o in obs if o.variable == "Rnet")
    assert checks[g.label].whole
    # the numbers, computed here from the data without the checks' code
    day = both & np.isfinite(g.values) & np.isfinite(rn.values) & (rn.values > 50)
    assert np.mean(g.values[day]) < 0 < np.mean(rn.values[day])
    assert f"{np.nanmin(np.where(both, g.values, np.nan)):.4g}" in checks[g.label].problems[0]
    assert rn.label not in checks
    assert closure_of(obs, both, exclude=[g.label]) is None
    assert closure_of(obs, both) is not None


def test_closure_reason_carries_its_numbers():
    from sebcal.calibration.verdict import assess

    clo = {"ratio": 0.3, "n": 388, "turbulent": 90.0, "available": 300.0,
           "terms": {"Qh": "H", "Qle": "LE", "Rnet": "Rn", "Qg": "G"}}
    v = assess({}, {"status": {}, "findings": []}, {"calibration": {}, "evaluation": {}}, {},
               closure=clo)
    assert "(H + LE)/(Rn - G) over 388 daytime values" in v["reasons"][0]
    assert "mean H + LE 90 W m-2 against Rn - G 300 W m-2" in v["reasons"][0]


# ------------------------------------------------------------------------------ MAP pass


def test_map_pass_leaves_a_bound_the_data_pinned(tmp_path):
    """C capped at 1.6e6 pins the data-only fit on the bound, where the logit transform gives
    the prior no gradient; a strong prior at 1.3e6 must still bring the MAP estimate inside
    (the MAP pass also starts from the prior's median)."""
    cfg = _pinned_C(tmp_path)
    cfg.write_text(cfg.read_text() + "\n[calibration.prior]\nC = {median = 1.3e6, factor = "
                   "1.02}\n")
    p = calibrate(cfg, tmp_path / "out", progress=False, figures=False).params
    do = p["fit"]["data_only"]["values"]["C"]
    assert do == pytest.approx(1.6e6, rel=1e-3)                # the data alone: on the bound
    C = p["parameters"]["C"]
    assert C["at_bound"] is None and C["value"] < 1.55e6, C
    assert C["value"] == pytest.approx(1.3e6, rel=0.1)


def test_t_b_starts_around_the_site_data(tmp_path):
    from sebcal.calibration.run import _t_b_start_range

    cfg = load_config(EX / "baltimore.toml")
    f = forcing_for(cfg)
    rng = _t_b_start_range(cfg, f, load_observations(cfg), {"free": ["T_b"], "bounds": {}})
    ta = float(np.nanmean(f.data["Tair"]))               # no soil sensor at 0.3 m or deeper
    assert rng == pytest.approx([ta - 5.0, ta + 5.0])
    assert _t_b_start_range(cfg, f, [], {"free": ["lambda"], "bounds": {}}) is None


def test_starts_are_drawn_around_the_first_guess(tmp_path):
    """A first guess of lambda = 2.5 (outside the default start range): every start is drawn
    within the default range's width of it (in ln lambda), the first start at it; a start
    range the config gives wins over the guess."""
    import math
    import tomllib

    from sebcal.calibration import calibrate
    from sebcal.config import parse_config
    from sebcal.vocabulary import PARAMETERS

    ex = EX / "paper_synthetic_2depth.toml"
    d = tomllib.loads(ex.read_text())
    d["calibration"].update(starts=8)
    d["calibration"].pop("published")
    del d["calibration"]["start_range"]["lambda"]
    d["parameters"]["lambda"] = 2.5
    res = calibrate(parse_config(d, path=ex), None, figures=False, progress=False,
                    log=lambda *_: None)
    lo, hi = PARAMETERS["lambda"].prior
    assert not lo < 2.5 < hi                            # the default range misses the guess
    half = 0.5 * math.log(hi / lo)
    first = [s["initial"]["lambda"] for s in res.params["starts"]]
    assert first[0] == pytest.approx(2.5)
    assert all(abs(math.log(v / 2.5)) <= half + 1e-12 for v in first)
    from sebcal.calibration.run import _guess_start_ranges

    cfg = parse_config(d, path=ex)
    got = _guess_start_ranges(cfg, {"free": ["lambda", "C"], "bounds": {}},
                              {"C": [2.0e6, 2.5e6]})
    assert set(got) == {"lambda"}                       # C's range is the config's
    assert math.log(got["lambda"][1] / got["lambda"][0]) == pytest.approx(2 * half)


def test_site_context_from_the_site_data():
    """The site's climate and heights as the verdict sees them, against the data file read
    here with xarray: mean air temperature over the run, z_ref and d0 from the site file."""
    import xarray as xr

    from sebcal.calibration.run import site_context

    cfg = load_config(EX / "west_phoenix.toml")
    f = forcing_for(cfg)
    obs = load_observations(cfg)
    ctx = site_context(cfg, f, obs, windows(cfg), cfg.full_params())
    raw = xr.open_dataset(EX / "data" / "US-WestPhoenix_clean_observations_v1.nc")
    t0 = np.datetime64("2012-05-01T07:00")
    run = (raw.time.values >= t0) & (raw.time.values <= t0 + np.timedelta64(200, "h"))
    on_hour = run & ((raw.time.values - t0) % np.timedelta64(1, "h") == np.timedelta64(0))
    ta = raw["Tair"].values.squeeze()[on_hour]
    assert ctx["t_air_mean"] == pytest.approx(float(np.mean(ta)), abs=0.05)
    assert ctx["z_ref"] == 22.1 and ctx["d0"] == 3.0 and ctx["land_cover"] == "URB"
    assert ctx["t_deep"]["depth"] == pytest.approx(0.02)
    assert ctx["window_hours"] == pytest.approx(150.0)
    assert ctx["diffusivity"] == pytest.approx(0.8 / 2.2e6)


def test_prior_notes_say_what_the_priors_did():
    from sebcal.calibration.verdict import assess

    par = {"lambda": {"value": 2.23, "fitted": True, "plausible": [0.1, 3.0], "unit": "W m-1 K-1",
                      "at_bound": None, "constrained_by": "data"}}
    ident = {"status": {"lambda": "identifiable"}, "findings": []}
    mets = {"calibration": {}, "evaluation": {}}
    v = assess(par, ident, mets, {}, conflict={"delta_chi2": 1.3, "data_only": {"lambda": 5.9},
                                               "with_prior": ["lambda"], "map": {"lambda": 2.23}})
    assert v["status"] == "usable"
    assert "the priors move it inside" in v["notes"][0]
    assert "the data, not the priors, determine lambda" in v["notes"][0]
    v = assess(par, ident, mets, {}, conflict={"delta_chi2": 1.3, "data_only": {"lambda": 5.9},
                                               "with_prior": ["lambda"], "map": {"lambda": 5.9}})
    assert "the priors do not move it" in v["notes"][0]


def test_a_cold_t_b_fit_is_not_usable(tmp_path):
    """The two-depth synthetic case with T_b held to 250-268 K: the fit ends far below the
    forcing's mean air temperature (computed here from the forcing), and the verdict refuses
    it with the numbers."""
    cfg = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=4,
                 edits=[("T_b = [290.0, 303.0]", "T_b = [255.0, 265.0]")],
                 extra="bounds = {T_b = [250.0, 268.0]}\n")
    res = calibrate(cfg, tmp_path / "out", progress=False, figures=False)
    p = res.params
    ta = float(np.mean(forcing_for(load_config(cfg)).data["Tair"]))
    tb = p["parameters"]["T_b"]["value"]
    assert ta - tb > 20.0, (ta, tb)
    assert p["verdict"]["status"] == "not usable for a host" and res.exit_status == 3
    hit = [r for r in p["verdict"]["reasons"] if r.startswith("T_b = ")]
    assert hit and f"{ta - tb:.1f} K colder than the mean air temperature of the forcing, " \
        f"{ta:.1f} K" in hit[0], (hit, ta, tb)


def test_a_suspect_series_stays_out_of_the_figures_unless_kept(tmp_path):
    """A ground heat flux that runs to 2000 W m-2 (beyond any soil) is flagged as a whole: it
    is left out of the report's series figure; with keep = true it is drawn."""
    import tomllib

    from sebcal.calibration import calibrate
    from sebcal.config import parse_config

    ex = EX / "paper_synthetic_2depth.toml"
    g = tmp_path / "g.txt"
    g.write_text("\n".join(f"{2000.0 * np.sin(k / 4.0):.3f}" for k in range(101)) + "\n")
    for keep in (False, True):
        d = tomllib.loads(ex.read_text())
        d["calibration"].update(starts=3)
        d["calibration"].pop("published")
        d["observations"]["Gplate"] = {"variable": "Qg", "file": str(g), "sigma": 20.0,
                                       "fit": False, "keep": keep}
        out = tmp_path / f"out-{keep}"
        res = calibrate(parse_config(d, path=ex), out, progress=False, log=lambda *_: None)
        checks = res.params["fit"]["observation_checks"]["Gplate"]
        assert checks["series_suspect"] and checks["kept"] == keep
        svg = (out / "series.svg").read_text()      # text stays text in the SVG
        assert ("Qg" in svg) == keep                  # the flagged series' panel
        assert "SoilTemp at 0.05 m" in svg
