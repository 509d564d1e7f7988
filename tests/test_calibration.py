"""Calibration: transforms, batched optimisers, error bars, identifiability, and the paper's
synthetic experiments at reduced size (the full 50-start runs are in bench/)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from conftest import ROOT
from sebcal.calibration import Space, calibrate
from sebcal.calibration.analysis import identifiability, laplace
from sebcal.calibration.optimize import OptimState, adam, hessian, lbfgs
from sebcal.config import load_config
from sebcal.errors import ConfigError, SebcalError
from sebcal.params import Params

EX = ROOT / "examples"
TRUTH = {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}
PAPER = Params({"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
                "h_eff": 25.0})


# ------------------------------------------------------------------------------ the space

def test_space_round_trip_bounds_and_range_scaling():
    sp = Space.build(["alpha", "lambda", "C", "T_b"], PAPER)
    phys = sp.draw(200, seed=3)
    for c in sp.coords:
        lo, hi = c.start
        assert phys[c.label].min() >= lo and phys[c.label].max() <= hi
    u = sp.to_u(phys)
    back = sp.to_phys_np(u)
    for name in sp.free:
        assert np.allclose(back[name], phys[name], rtol=1e-12)
    # the start range has width 1 in u for every parameter
    ends = sp.to_u({c.label: np.array(c.start) for c in sp.coords})
    assert np.allclose(ends[1] - ends[0], 1.0)
    # no step in u leaves the calibration bounds, however large
    for big in (5.0, 50.0, -50.0):
        far = sp.to_phys_np(np.full((1, 4), big))
        for c in sp.coords:
            assert c.bounds[0] <= far[c.label][0] <= c.bounds[1], (c.label, big)
    # dp/du matches a finite difference
    d = sp.dphys_du({n: v[:1] for n, v in phys.items()})[0]
    for k, name in enumerate(sp.free):
        e = np.zeros((1, 4))
        e[0, k] = 1e-6
        fd = (sp.to_phys_np(u[:1] + e)[name] - sp.to_phys_np(u[:1] - e)[name]) / 2e-6
        assert abs(fd[0] - d[k]) < 1e-6 * abs(d[k])
    # the same seed gives the same starts
    assert np.array_equal(sp.draw(5, 7)["C"], sp.draw(5, 7)["C"])


def test_layered_parameters_give_one_coordinate_per_layer():
    sp = Space.build(["lambda", "T_b"], PAPER.replace(**{"lambda": (0.5, 0.9)}), nlayers=2)
    assert sp.free == ("lambda_1", "lambda_2", "T_b")
    mp = sp.model_params(sp.to_phys(torch.zeros(3, 3)), 3)
    assert mp["lambda"].shape == (3, 2) and mp["C"].shape == (3, 2) and mp["T_b"].shape == (3,)
    full = sp.params_at({"lambda_1": 0.4, "lambda_2": 1.1, "T_b": 290.0})
    assert full["lambda"] == (0.4, 1.1) and full["C"] == 2.2e6


@pytest.mark.parametrize("free,match", [(["lamda"], "did you mean 'lambda'"),
                                        (["h_eff", "h", "beta"], "not both"),
                                        (["h"], "goes with beta"), ([], "empty"),
                                        (["C", "C"], "twice")])
def test_space_rejects_bad_free_lists(free, match):
    with pytest.raises(ConfigError, match=match):
        Space.build(free, PAPER)


def test_space_rejects_ranges_outside_the_bounds():
    with pytest.raises(ConfigError, match="start_range"):
        Space.build(["lambda"], PAPER, start_range={"lambda": [0.01, 0.5]})
    with pytest.raises(ConfigError, match="physical bounds"):
        Space.build(["alpha"], PAPER, bounds={"alpha": [0.0, 1.5]})


# ------------------------------------------------------------------------------ optimisers

def test_batched_lbfgs_keeps_starts_independent_and_converges():
    B, P = 8, 3
    rng = np.random.default_rng(1)
    centres = torch.tensor(rng.normal(size=(B, P)))
    scales = torch.tensor([1.0, 30.0, 900.0])              # badly scaled on purpose

    def fun(u):
        d = u - centres
        return (scales * d**2).sum(1) + 0.3 * (d**4).sum(1)

    st = OptimState(np.zeros((B, P)), np.full(B, np.nan), np.zeros(B, bool), np.zeros(B, bool))
    st = adam(fun, st, 20, 0.1)
    st = lbfgs(fun, st, 200, ftol=0.0, gtol=1e-9)
    assert np.abs(st.u - centres.numpy()).max() < 1e-8
    assert all(r == "gradient below gtol" for r in st.reason)
    H = hessian(fun, st.u)
    assert np.allclose(H[3], np.diag(2 * scales.numpy()), rtol=1e-6, atol=1e-4)


def test_a_start_that_goes_to_nan_is_dropped_not_fatal():
    B = 4

    room = torch.tensor([10.0, 10.0, -1.0, 10.0])     # start 2: sqrt of a negative number

    def fun(u):
        return ((u - 1.0) ** 2).sum(1) + 1e-3 * torch.sqrt(room - u[:, 0])

    st = OptimState(np.zeros((B, 2)), np.full(B, np.nan), np.zeros(B, bool), np.zeros(B, bool))
    st = adam(fun, st, 5, 0.1)
    st = lbfgs(fun, st, 50)
    assert st.failed.tolist() == [False, False, True, False]
    assert np.allclose(st.u[[0, 1, 3]], 1.0, atol=1e-3)
    assert "failed" in st.reason[2]


# ------------------------------------------------------------------------------ analysis

def _analyse(H, free=("lambda", "C"), best=None, loss=1e-2, n=200, finals=None, losses=None):
    sp = Space.build(list(free), PAPER)
    best = best or {"lambda": 0.8, "C": 2.2e6}
    lap = laplace(sp, best, np.array(H, float), loss, n)
    return sp, lap, identifiability(sp, best, lap, finals or [best], losses or [loss])


def test_laplace_standard_errors_match_a_linear_least_squares_problem():
    """For a linear model r = J u - y the Laplace covariance is s^2 (J^T J)^-1 exactly."""
    rng = np.random.default_rng(0)
    J = rng.normal(size=(50, 2))
    y = rng.normal(size=50)
    u_hat = np.linalg.lstsq(J, y, rcond=None)[0]
    S = float(((J @ u_hat - y) ** 2).sum())
    H_L = 2 * J.T @ J / 50                      # Hessian of L = S/N
    sp = Space.build(["lambda", "C"], PAPER)
    best = {"lambda": 0.8, "C": 2.2e6}
    lap = laplace(sp, best, H_L, S / 50, 50)
    cov_u = S / (50 - 2) * np.linalg.inv(J.T @ J)
    assert np.allclose(np.array(lap["cov_u"]), cov_u, rtol=1e-10)
    d = sp.dphys_du({k: np.array([v]) for k, v in best.items()})[0]
    assert abs(lap["std"]["C"] - np.sqrt(cov_u[1, 1]) * d[1]) < 1e-9 * d[1]


def test_identifiability_names_a_lambda_C_valley():
    # a Hessian whose weak direction moves ln(lambda) and ln(C) together (lambda/C constant)
    sp = Space.build(["lambda", "C"], PAPER)
    d = sp.dphys_du({"lambda": np.array([0.8]), "C": np.array([2.2e6])})[0]
    v = np.array([0.8 / d[0], 2.2e6 / d[1]])          # d ln lambda = d ln C
    v /= np.linalg.norm(v)
    w = np.array([-v[1], v[0]])
    H = 1e2 * np.outer(w, w) + 1e-5 * np.outer(v, v)
    _, _, ident = _analyse(H)
    assert not ident["ok"]
    assert any("lambda/C" in f and "diffusivity" in f for f in ident["findings"]), ident
    H = 1e2 * np.outer(w, w) + 1e1 * np.outer(v, v)
    _, _, ident = _analyse(H, loss=1e-8)
    assert ident["ok"], ident["findings"]


def test_identifiability_flags_h_and_beta():
    sp = Space.build(["h", "beta"], PAPER.replace(beta=1.5))
    best = {"h": 15.0, "beta": 1.5}
    d = sp.dphys_du({k: np.array([v]) for k, v in best.items()})[0]
    # h(1+1/beta) constant: d ln h = d ln(beta+1)... any singular direction will do
    v = np.array([1.0 / d[0] * 15.0, 1.5 * 2.5 / d[1]])
    v /= np.linalg.norm(v)
    w = np.array([-v[1], v[0]])
    H = np.outer(w, w) * 10.0
    lap = laplace(sp, best, H, 1e-3, 100)
    ident = identifiability(sp, best, lap, [best], [1e-3])
    assert not ident["ok"]
    assert any("only h(1+1/beta) is constrained" in f for f in ident["findings"])
    assert lap["std"]["h"] is None and lap["std"]["beta"] is None


# ------------------------------------------------------------------------------ end to end

def _small(path, tmp_path, starts=6, extra=""):
    text = path.read_text().replace('"data/', f'"{EX}/data/')
    text = text.replace("starts = 50", f"starts = {starts}")
    text = text.replace("[calibration]\n", "[calibration]\n" + extra, 1)
    p = tmp_path / path.name
    p.write_text(text)
    return p


@pytest.mark.slow
def test_two_depth_synthetic_recovers_the_truth(tmp_path):
    cfg = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=8)
    res = calibrate(cfg, tmp_path / "out", progress=False)
    p = res.params
    ok = [s for s in p["starts"] if not s["failed"]]
    within = [all(abs(s["final"][k] - v) <= 0.01 * abs(v) for k, v in TRUTH.items()) for s in ok]
    assert sum(within) >= 0.95 * len(ok), [s["final"] for s in ok]
    for k, v in TRUTH.items():
        assert abs(p["parameters"][k]["value"] - v) <= 0.01 * abs(v)
        assert p["parameters"][k]["std"] is not None and p["parameters"][k]["std"] > 0
    assert p["identifiability"]["ok"], p["identifiability"]["findings"]
    for f in ("params.json", "simulation.nc", "report.md", "series.svg", "multistart.svg",
              "correlation.svg"):
        assert (tmp_path / "out" / f).exists(), f
        if f.endswith(".svg"):                   # well-formed, and linked from the report
            ET.parse(tmp_path / "out" / f)
            assert f"]({f})" in (tmp_path / "out" / "report.md").read_text()
    saved = json.loads((tmp_path / "out" / "params.json").read_text())
    assert set(saved) >= {"parameters", "correlation", "identifiability", "metrics", "starts",
                          "config", "sebcal_version"}
    assert saved["published"]["n"] == 50
    report = (tmp_path / "out" / "report.md").read_text()
    assert "published" in report and "Identifiability" in report
    assert not (tmp_path / "out" / "checkpoint.json").exists()


@pytest.mark.slow
def test_one_depth_synthetic_flags_lambda_and_C(tmp_path):
    cfg = _small(EX / "paper_synthetic_1depth.toml", tmp_path, starts=8)
    res = calibrate(cfg, tmp_path / "out", progress=False, figures=False)
    ident = res.params["identifiability"]
    assert not ident["ok"]
    assert any("lambda" in f and "C" in f for f in ident["findings"]), ident["findings"]
    # alpha and T_b are still recovered (the published finding)
    assert abs(res.params["parameters"]["alpha"]["value"] - 0.2) < 0.01
    assert abs(res.params["parameters"]["T_b"]["value"] - 293.0) < 0.5


@pytest.mark.slow
def test_west_phoenix_calibration_small(tmp_path):
    cfg = _small(EX / "west_phoenix_published.toml", tmp_path, starts=4)
    res = calibrate(cfg, tmp_path / "out", progress=False, figures=False)
    p = res.params
    for k in ("h_eff", "lambda", "C", "T_b"):
        assert p["parameters"][k]["fitted"] and np.isfinite(p["parameters"][k]["value"])
    m = p["metrics"]
    assert set(m) == {"calibration", "evaluation"}
    keys = " ".join(m["evaluation"])
    assert "SoilTemp" in keys and "LWup" in keys and "Qh_plus_Qle" in keys
    # a physically sensible fit: 2 cm soil temperature within a few K
    t2 = next(v for k, v in m["calibration"].items() if "SoilTemp" in k)
    assert t2["rmse"] < 4.0


def _interrupt_lm_after(n, monkeypatch):
    """Make the LM loop raise KeyboardInterrupt after n completed iterations."""
    from sebcal.calibration import lm

    real = lm.levenberg_marquardt

    def interrupted(problem, state, r, J, callback=None, **kw):
        def cb(st):
            callback(st)
            if st.iteration == n:
                raise KeyboardInterrupt
        return real(problem, state, r, J, callback=cb, **kw)

    monkeypatch.setattr(lm, "levenberg_marquardt", interrupted)
    return real


def test_interrupt_leaves_a_checkpoint_and_resume_is_bit_identical(tmp_path, monkeypatch):
    cfg = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=5)
    straight = calibrate(cfg, tmp_path / "ref", progress=False, figures=False).params
    from sebcal.calibration import lm

    real = _interrupt_lm_after(3, monkeypatch)
    with pytest.raises(SebcalError, match="--resume"):
        calibrate(cfg, tmp_path / "out", progress=False, figures=False)
    ck = json.loads((tmp_path / "out" / "checkpoint.json").read_text())
    assert ck["state"]["iteration"] == 3
    assert not (tmp_path / "out" / "params.json").exists()
    monkeypatch.setattr(lm, "levenberg_marquardt", real)
    res = calibrate(cfg, tmp_path / "out", resume=True, progress=False, figures=False).params
    for name, e in straight["parameters"].items():
        assert res["parameters"][name]["value"] == e["value"], name        # bit for bit
    assert [s["final"] for s in res["starts"]] == [s["final"] for s in straight["starts"]]
    # a checkpoint from other settings is refused
    (tmp_path / "out" / "checkpoint.json").write_text(json.dumps(ck))
    cfg2 = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=4)
    with pytest.raises(SebcalError, match="different configuration"):
        calibrate(cfg2, tmp_path / "out", resume=True, progress=False, figures=False)


def test_torch_path_interrupt_and_resume(tmp_path, monkeypatch):
    cfg = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=3,
                 extra='method = "adam_lbfgs"\nadam_iterations = 6\nlbfgs_iterations = 4\n')
    from sebcal.calibration import optimize

    real_adam = optimize.adam
    calls = {"n": 0}

    def interrupted(fun, state, iterations, lr, callback=None):
        def cb(st):
            callback(st)
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
        return real_adam(fun, state, iterations, lr, callback=cb)

    monkeypatch.setattr(optimize, "adam", interrupted)
    with pytest.raises(SebcalError, match="--resume"):
        calibrate(cfg, tmp_path / "out", progress=False, figures=False)
    ck = json.loads((tmp_path / "out" / "checkpoint.json").read_text())
    assert ck["state"]["stage"] == "adam" and ck["state"]["iteration"] == 3
    monkeypatch.setattr(optimize, "adam", real_adam)
    res = calibrate(cfg, tmp_path / "out", resume=True, progress=False, figures=False)
    assert (tmp_path / "out" / "params.json").exists() and res.params["fit"]["starts"] == 3
    assert res.params["fit"]["method"] == "adam_lbfgs"


def test_an_earlier_result_needs_force_and_a_busy_folder_is_refused(tmp_path):
    cfg = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=2)
    calibrate(cfg, tmp_path / "out", progress=False, figures=False)
    before = (tmp_path / "out" / "params.json").read_bytes()
    with pytest.raises(SebcalError, match="--force"):
        calibrate(cfg, tmp_path / "out", progress=False, figures=False)
    assert (tmp_path / "out" / "params.json").read_bytes() == before
    calibrate(cfg, tmp_path / "out", progress=False, figures=False, force=True)
    import fcntl
    import os

    fd = os.open(tmp_path / "out" / ".sebcal-calibrate.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(SebcalError, match="another sebcal calibrate"):
            calibrate(cfg, tmp_path / "out", progress=False, figures=False, force=True)
    finally:
        os.close(fd)
    with pytest.raises(SebcalError, match="holds an input"):
        calibrate(cfg, tmp_path, progress=False, figures=False, force=True)


def test_bad_calibration_tables_are_reported(tmp_path):
    base = _small(EX / "paper_synthetic_2depth.toml", tmp_path).read_text()
    sigma_line = "sigma = 0.1            # K\n\n[calibration]"
    for edit, match in [(("starts = 6", "strats = 6"), "did you mean 'starts'"),
                        (('variable = "SoilTemp"', 'variable = "SoilTmp"'),
                         "did you mean 'SoilTemp'"),
                        (("depth = 0.05", "depth = 5.0"), "within the column"),
                        ((sigma_line, "sigma = -1\n\n[calibration]"),
                         "sigma.*> 0")]:
        p = tmp_path / "bad.toml"
        p.write_text(base.replace(*edit))
        with pytest.raises((ConfigError, SebcalError), match=match):
            calibrate(p, tmp_path / "o", progress=False, figures=False)


def test_observation_text_file_of_wrong_length(tmp_path):
    from sebcal.errors import ForcingError
    from sebcal.observations import load_observations

    short = tmp_path / "short.txt"
    short.write_text("\n".join(["293.0"] * 50))
    cfg = load_config(_small(EX / "paper_synthetic_2depth.toml", tmp_path))
    tables = {"T5": {"variable": "SoilTemp", "depth": 0.05, "file": str(short)}}
    with pytest.raises(ForcingError, match="50 values, but the run has 101"):
        load_observations(cfg, tables)


def test_initial_temperature_can_be_fitted_apart_from_T_b(tmp_path):
    cfg = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=3).read_text().replace(
        'free = ["alpha", "h_eff", "lambda", "C", "T_b"]',
        'free = ["alpha", "h_eff", "lambda", "C", "T_b", "T_init"]')
    path = tmp_path / "tinit.toml"
    path.write_text(cfg)
    res = calibrate(path, tmp_path / "out", progress=False, figures=False)
    p = res.params
    assert abs(p["parameters"]["T_init"]["value"] - 293.0) < 0.05       # the true initial state
    assert p["parameters"]["T_init"]["unit"] == "K" and p["parameters"]["T_init"]["std"] > 0
    assert p["config"]["initial"]["kind"] == "profile"
    assert p["config"]["initial"]["profile"] == [p["parameters"]["T_init"]["value"]] * 101
    from sebcal.bridge import load_params

    assert load_params(tmp_path / "out" / "params.json").config.init == "profile"
    spun = path.read_text().replace("[forcing]", "[initial]\nkind = \"spinup\"\n\n[forcing]")
    path.write_text(spun)
    with pytest.raises(ConfigError, match="T_init"):
        calibrate(path, tmp_path / "out2", progress=False, figures=False)


def test_objective_keeps_starts_inside_the_bounds_and_marks_non_finite_ones(tmp_path):
    from sebcal.calibration.objective import Objective
    from sebcal.observations import load_observations, windows
    from sebcal.runner import forcing_for

    cfg = load_config(_small(EX / "paper_synthetic_2depth.toml", tmp_path))
    sp = Space.build(["lambda", "C"], cfg.full_params())
    obj = Objective(cfg.spec, forcing_for(cfg), load_observations(cfg),
                    windows(cfg).calibration, sp)
    u = torch.tensor([[0.0, 0.0], [1e4, 0.0], [float("inf"), -0.1], [0.1, -0.1]],
                     requires_grad=True)
    loss = obj(u)
    # an adversarial start lands on the bound (a valid, finite model), a non-finite one is NaN
    assert torch.isfinite(loss[[0, 1, 3]]).all() and torch.isnan(loss[2])
    assert sp.to_phys_np(u.detach().numpy()[1:2])["lambda"][0] == pytest.approx(
        sp.coords[0].bounds[1])
    loss[[0, 1, 3]].sum().backward()
    assert torch.isfinite(u.grad).all() and (u.grad[2] == 0).all()


def test_h_and_beta_fitted_separately_are_flagged_end_to_end(tmp_path):
    text = _small(EX / "paper_synthetic_2depth.toml", tmp_path, starts=4).read_text()
    text = text.replace('free = ["alpha", "h_eff", "lambda", "C", "T_b"]',
                        'free = ["alpha", "h", "beta", "lambda", "C", "T_b"]')
    text = text.replace("h_eff = [6.45, 30.35]\n", "")
    text = text.replace("[parameters]", "[parameters]\nbeta = 1.5")
    path = tmp_path / "hb.toml"
    path.write_text(text)
    p = calibrate(path, tmp_path / "out", progress=False, figures=False).params
    assert not p["identifiability"]["ok"]
    assert any("only h(1+1/beta) is constrained" in f for f in p["identifiability"]["findings"])
    # h_eff itself is still recovered, and is reported as derived
    assert abs(p["parameters"]["h_eff"]["value"] - 25.0) < 0.25
    assert p["parameters"]["h_eff"]["derived"] == "h (1 + 1/beta)"
