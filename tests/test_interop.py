"""The field's calibration frameworks on sebcal's forward model: a SPOTPY sampler recovers the
truth of the published two-depth synthetic case, and the PEST++ files `sebcal pest` writes are
read by pyEMU's own Pst, which fills the template, lets `sebcal run` compute the equivalents and
reads them back through the instruction file."""

from __future__ import annotations

import shlex
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

EX = ROOT / "examples"
CONFIG = EX / "paper_synthetic_2depth.toml"
#: the published truth of the two-depth case (examples/paper_synthetic_2depth.toml)
TRUTH = {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}


def test_forward_problem_matches_the_data_at_the_truth_and_a_forward_run():
    from sebcal.calibration.interop import ForwardProblem
    from sebcal.config import load_config
    from sebcal.runner import run

    config = load_config(CONFIG)              # its [parameters] are the truth
    p = ForwardProblem(config)
    # the batched calibration path and a plain `sebcal run` give the same equivalents
    np.testing.assert_allclose(p.simulate(TRUTH), p.equivalents_of_run(run(config)),
                               rtol=0, atol=1e-8)
    assert p.names == ["alpha", "h_eff", "lambda", "C", "T_b"]
    assert p.observed.size == 200 and len(p.rows) == 200
    # the targets are the published run at the truth, printed to 0.01 K or so
    m = p.simulate(TRUTH)
    assert np.max(np.abs(m - p.observed)) < 0.02
    # a batch gives the same rows; outside the bounds gives NaN
    batch = p.simulate(np.array([[TRUTH[k] for k in p.names]] * 2))
    np.testing.assert_allclose(batch[1], m, rtol=0, atol=1e-12)
    bad = dict(TRUTH, **{"lambda": 1e3})
    assert np.all(np.isnan(p.simulate(bad)))
    assert p.cost(p.simulate(bad)) == np.inf


def test_spotpy_sceua_recovers_the_truth():
    spotpy = pytest.importorskip("spotpy", reason="spotpy (a test extra) is not installed")
    from sebcal.calibration.interop import SpotpySetup

    setup = SpotpySetup(CONFIG)
    sampler = spotpy.algorithms.sceua(setup, dbformat="ram", random_state=1,
                                      save_sim=False)
    sampler.sample(20000, ngs=10, kstop=5, peps=1e-6, pcento=1e-6)
    best = setup.best(sampler.getdata())
    for k, v in TRUTH.items():
        assert best[k] == pytest.approx(v, rel=0.01), (k, best)


def test_pest_files_read_by_pyemu_and_run_through_sebcal_run(tmp_path):
    pyemu = pytest.importorskip("pyemu", reason="pyemu (a test extra) is not installed")
    out = tmp_path / "pest"
    cmd = f"{shlex.quote(sys.executable)} -m sebcal"
    r = subprocess.run([sys.executable, "-m", "sebcal", "pest", str(CONFIG), "--out", str(out),
                        "--command", cmd], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pst = pyemu.Pst(str(out / "sebcal.pst"))
    par = pst.parameter_data
    assert list(par.parnme) == ["alpha", "h_eff", "lambda", "c", "t_b"]
    assert par.loc["lambda", "parval1"] == 0.8 and par.loc["c", "parval1"] == 2.2e6
    assert set(par.partrans) <= {"log", "none"}
    lo_hi = par.loc["t_b", ["parlbnd", "parubnd"]].tolist()
    assert lo_hi[0] < 293.0 < lo_hi[1]
    obs = pst.observation_data
    assert len(obs) == 200 and sorted(set(obs.obgnme)) == ["t5", "ts"]
    assert np.allclose(obs.weight, 1.0 / 0.1)               # 1/sigma, sigma = 0.1 K
    target = [float(x) for x in (EX / "data/paper/Target_T1.txt").read_text().split()]
    assert obs.loc["ts_000001", "obsval"] == pytest.approx(target[1])
    assert pst.template_files == ["parameters.toml.tpl"]
    assert pst.instruction_files == ["equivalents.txt.ins"]
    # what PEST++ does for one run: fill the template at the truth, run the command line,
    # read the outputs through the instruction file
    for k, v in {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "c": 2.2e6, "t_b": 293.0}.items():
        pst.parameter_data.loc[k, "parval1"] = v
    pst.write_input_files(pst_path=str(out))
    run = subprocess.run(pst.model_command[0], shell=True, cwd=out, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    sim = pst.process_output_files(pst_path=str(out))["obsval"]
    res = sim.loc[obs.index] - obs.obsval
    assert np.max(np.abs(res)) < 0.02                       # the data at the truth
    # and away from the truth the same run says so
    pst.parameter_data.loc["lambda", "parval1"] = 1.2
    pst.write_input_files(pst_path=str(out))
    subprocess.run(pst.model_command[0], shell=True, cwd=out, check=True, capture_output=True)
    sim2 = pst.process_output_files(pst_path=str(out))["obsval"]
    assert np.max(np.abs(sim2.loc[obs.index] - obs.obsval)) > 0.1


def test_pest_and_spotpy_refuse_a_staged_configuration(tmp_path):
    from sebcal.calibration.interop import ForwardProblem
    from sebcal.config import load_config
    from sebcal.errors import ConfigError

    with pytest.raises(ConfigError, match="calibration.stages"):
        ForwardProblem(load_config(EX / "dugout_ranch.toml"))
