"""The Fortran tangent-linear model (fortran/sebcal_tangent.f90) against finite differences of
the Fortran forward model, for every option.

The tangents are exact derivatives of the discrete solution (complex step through the step
residual, the step Jacobian solved exactly); central differences of the forward model with
relative step 1e-6 and a solver tolerance of 1e-13 K agree with them to about 1e-7 (the
differences' own truncation and round-off), so a tolerance of 2e-6 fails on any missing term
(a wrong sign or a dropped dependence is an O(1) error).
"""

from __future__ import annotations

import numpy as np
import pytest

from sebcal import fortran
from sebcal.forcing import paper_synthetic
from sebcal.forcing.core import SoilMoisture
from sebcal.params import Params
from sebcal.spec import ModelSpec, paper_spec, uniform_grid
from sebcal.vocabulary import NPSOIL, NPSURF, PARAMETERS

TOL = 2e-6
NT = 48


def _forcing(nt=NT):
    f0 = paper_synthetic(nt, 3600.0, "2000-01-01T00:00:00")
    rng = np.random.default_rng(1)
    hours = np.arange(nt + 1)
    sm = SoilMoisture(np.array([0.0, 0.3, 1.0]),
                      np.stack([0.2 + 0.05 * np.sin(hours / 10), np.full(nt + 1, 0.25),
                                np.full(nt + 1, 0.3)], 1))
    return f0.replace(Wind=2 + 3 * rng.random(nt + 1), PSurf=np.full(nt + 1, 95000.0),
                      Qair=0.008 + 0.001 * rng.random(nt + 1), LAI=np.full(nt + 1, 1.5),
                      Ttop=290 + 5 * np.sin(hours / 24 * 2 * np.pi),
                      Gtop=30 * np.sin(hours / 24 * 2 * np.pi),
                      Tbottom=np.full(nt + 1, 291.0), soil_moisture=sm)


def _seeds(spec, names):
    P = len(names)
    dps = np.zeros((1, P, NPSURF))
    dso = np.zeros((1, P, NPSOIL, spec.nz))
    dti = np.zeros((1, P, spec.nz))
    for k, n in enumerate(names):
        p = PARAMETERS[n]
        if p.group in ("surface", "site"):
            dps[0, k, p.slot - 1] = 1.0
        else:
            dso[0, k, p.slot - 1, :] = 1.0
    return dps, dso, dti


def _check(spec, forcing, params, names, probes=(0, 5, 20)):
    full = spec.check_params(params)
    ps, so = spec.psurf(full)[None], spec.psoil(full)[None]
    ti = (spec.init_profile[None].copy() if spec.init_profile is not None
          else np.full((1, spec.nz), float(full.get("T_b", 290.0))))
    seeds = _seeds(spec, names)
    out = fortran.probe_batch(spec, forcing, ps, so, ti, probes, seeds)
    assert out.errflg[0] == 0, out.message
    for k, n in enumerate(names):
        v = full[n]
        h = 1e-6 * abs(v[0] if isinstance(v, tuple) else v)
        runs = [fortran.probe_batch(spec, forcing, ps + s * h * seeds[0][:, k],
                                    so + s * h * seeds[1][:, k], ti, probes) for s in (1, -1)]
        for got, a, b, what in ((out.dT[:, :, k], runs[0].T, runs[1].T, "T"),
                                (out.dfluxes[:, :, k], runs[0].fluxes, runs[1].fluxes, "fluxes")):
            fd = (a - b) / (2 * h)
            scale = np.nanmax(np.abs(fd))
            if not scale > 0:
                assert np.nanmax(np.abs(got)) == 0.0, (n, what)
                continue
            err = np.nanmax(np.abs(fd - got)) / scale
            assert err < TOL, f"{n}: tangent of {what} differs from finite differences by {err:.2e}"


def test_published_model():
    spec = paper_spec().replace(tol=1e-13)
    p = Params.from_dict({"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
                          "h_eff": 25.0})
    _check(spec, paper_synthetic(NT, 3600.0), p, ["alpha", "eps", "h_eff", "T_b", "lambda", "C"])


@pytest.mark.parametrize("options", [
    {"time_scheme": "crank_nicolson", "longwave": "kirchhoff"},
    {"bottom": "zero_flux"},
])
def test_published_surface_other_schemes(options):
    spec = paper_spec().replace(tol=1e-13, **options)
    p = Params.from_dict({"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
                          "h_eff": 25.0})
    _check(spec, paper_synthetic(NT, 3600.0), p, ["alpha", "eps", "h_eff", "T_b", "lambda", "C"])


def test_bulk_most_latent_johansen_layers_lai():
    z, dx = uniform_grid(1.0, 41)
    opts = dict(turbulence="bulk", stability="most", latent="resistance",
                surface_resistance="soil_moisture", soil_thermal="johansen", canopy="lai",
                longwave="kirchhoff")
    spec = ModelSpec(z, dx=dx, dt=3600.0, options=opts, tol=1e-13, layer_bottoms=(0.2, 1.0))
    p = Params.from_dict({"alpha": 0.2, "eps": 0.95, "T_b": 293.0, "z0m": 0.05,
                          "z0h_ratio": 0.1, "z_ref": 10.0, "d0": 0.5, "rs_a": 8.0, "rs_b": 4.0,
                          "k_ext": 0.5, "porosity": (0.45, 0.4), "lambda_dry": (0.25, 0.3),
                          "lambda_solids": (3.0, 2.5), "C_dry": (1.2e6, 1.3e6)})
    _check(spec, _forcing(), p, ["alpha", "eps", "z0m", "z0h_ratio", "rs_a", "rs_b", "k_ext",
                                 "T_b", "porosity", "lambda_dry", "lambda_solids", "C_dry"])


def test_neutral_resistance_transmission_cn_spinup():
    z, dx = uniform_grid(1.0, 41)
    opts = dict(turbulence="bulk", latent="resistance", canopy="transmission",
                time_scheme="crank_nicolson", init="spinup")
    spec = ModelSpec(z, dx=dx, dt=3600.0, options=opts, tol=1e-13)
    p = Params.from_dict({"alpha": 0.2, "eps": 0.95, "T_b": 293.0, "z0m": 0.05,
                          "z0h_ratio": 0.1, "z_ref": 10.0, "r_s": 100.0, "tau_sw": 0.6,
                          "tau_lw": 0.8, "lambda": 0.8, "C": 2.2e6})
    _check(spec, _forcing(), p, ["alpha", "z0m", "r_s", "tau_sw", "tau_lw", "T_b", "lambda", "C"])


def test_prescribed_top_temperature_series_bottom_layers():
    z = np.linspace(0.05, 1.0, 40)
    spec = ModelSpec(z, dt=3600.0, options=dict(top="temperature", bottom="series",
                                                init="profile"),
                     tol=1e-13, init_profile=np.linspace(290, 291, 40), layer_bottoms=(0.3, 1.0))
    p = Params.from_dict({"lambda": (0.8, 1.2), "C": (2.2e6, 1.8e6)})
    _check(spec, _forcing(), p, ["lambda", "C"], probes=(0, 3, 10, 39))


def test_prescribed_flux_zero_flux_bottom():
    z, dx = uniform_grid(1.0, 41)
    spec = ModelSpec(z, dx=dx, dt=3600.0, options=dict(top="flux", bottom="zero_flux",
                                                       time_scheme="crank_nicolson"), tol=1e-13)
    _check(spec, _forcing(), Params.from_dict({"lambda": 0.8, "C": 2.2e6, "T_b": 291.0}),
           ["lambda", "C", "T_b"])


def test_batch_runs_are_independent_and_failures_are_per_set():
    """Each set of a batch gives what it gives alone; a bad set fails alone, with a message."""
    spec = paper_spec()
    f = paper_synthetic(NT, 3600.0)
    good = spec.check_params(Params.from_dict({"alpha": 0.2, "eps": 0.95, "lambda": 0.8,
                                               "C": 2.2e6, "T_b": 293.0, "h_eff": 25.0}))
    ps = np.stack([spec.psurf(good)] * 3)
    ps[1, PARAMETERS["alpha"].slot - 1] = 1.5          # outside [0, 1]
    ps[2, PARAMETERS["h_eff"].slot - 1] = 10.0
    so = np.stack([spec.psoil(good)] * 3)
    out = fortran.probe_batch(spec, f, ps, so, np.full((3, spec.nz), 293.0), [0, 5])
    assert out.errflg.tolist()[0] == 0 and out.errflg[1] == 2 and out.errflg[2] == 0
    assert "alpha" in out.message
    alone = fortran.simulate(spec, f, good.replace(h_eff=10.0))
    assert np.array_equal(out.T[2][:, 1], alone.T[:, 5])
    ref = fortran.simulate(spec, f, good)
    assert np.array_equal(out.T[0][:, 0], ref.T[:, 0])


@pytest.mark.parametrize("directions", [False, True])
def test_threaded_batch_equals_the_serial_batch_bit_for_bit(directions):
    """The columns of a batch run on OpenMP threads: each set is computed alone, so 1 and 3
    threads give identical arrays, and the message is the lowest failing set's whatever the
    threads' order."""
    spec = paper_spec()
    f = paper_synthetic(NT, 3600.0)
    good = spec.check_params(Params.from_dict({"alpha": 0.2, "eps": 0.95, "lambda": 0.8,
                                               "C": 2.2e6, "T_b": 293.0, "h_eff": 25.0}))
    B = 13
    rng = np.random.default_rng(3)
    ps = np.stack([spec.psurf(good)] * B)
    ps[:, PARAMETERS["h_eff"].slot - 1] = rng.uniform(10.0, 30.0, B)
    ps[[4, 9], PARAMETERS["alpha"].slot - 1] = [1.5, 2.5]         # two bad sets
    so = np.stack([spec.psoil(good)] * B)
    so[:, PARAMETERS["lambda"].slot - 1] = rng.uniform(0.4, 1.2, B)[:, None]
    seeds = None
    if directions:
        dps = np.zeros((B, 2, NPSURF))
        dso = np.zeros((B, 2, NPSOIL, spec.nz))
        dps[:, 0, PARAMETERS["h_eff"].slot - 1] = 1.0
        dso[:, 1, PARAMETERS["lambda"].slot - 1] = 1.0
        seeds = (dps, dso, np.zeros((B, 2, spec.nz)))
    before = fortran.threads()
    try:
        out = {}
        for n in (1, 3):
            fortran.set_threads(n)
            out[n] = fortran.probe_batch(spec, f, ps, so, np.full((B, spec.nz), 293.0), [0, 5],
                                         seeds)
    finally:
        fortran.set_threads(before)
    ok = out[1].errflg == 0
    assert ok.sum() == B - 2 and np.array_equal(out[1].errflg, out[3].errflg)
    assert out[1].message == out[3].message and "alpha" in out[1].message
    assert "1.5" in out[3].message or "1.50" in out[3].message      # set 4, not set 9
    for name in ("T", "fluxes") + (("dT", "dfluxes") if directions else ()):
        a, b = getattr(out[1], name)[ok], getattr(out[3], name)[ok]
        assert np.array_equal(a, b, equal_nan=True), name


def test_lm_residuals_use_the_one_observation_operator(tmp_path):
    """The Levenberg-Marquardt problem's model equivalents equal observe.equivalent applied to
    a Fortran run, for every observable, and its Jacobian equals central differences."""
    from sebcal import observations as O
    from sebcal.calibration.problem import Problem
    from sebcal.calibration.space import Space
    from sebcal.config import parse_config
    from sebcal.runner import forcing_for

    nt = 30
    f = tmp_path / "zeros.txt"
    f.write_text("\n".join(["300.0"] * (nt + 1)))
    obs = {"Ts": ("AvgSurfT", None), "T3": ("SoilTemp", 0.033), "Tn": ("SoilTemp", 0.05),
           "LWup": ("LWup", None), "G0": ("Qg", None), "G10": ("Qg", 0.104),
           "Qh": ("Qh", None), "Qle": ("Qle", None), "QT": ("Qh_plus_Qle", None),
           "LWnet": ("LWnet", None), "SWnet": ("SWnet", None), "Rnet": ("Rnet", None)}
    tables = {k: {"variable": v, "file": str(f), **({"depth": d} if d is not None else {})}
              for k, (v, d) in obs.items()}
    cfg = parse_config({"time": {"steps": nt}, "observations": tables,
                        "parameters": {"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6,
                                       "T_b": 293.0, "h_eff": 25.0, "beta": 1.5},
                        "solver": {"tol": 1e-13}})
    forcing = forcing_for(cfg)
    ob = O.load_observations(cfg)
    sp = Space.build(["alpha", "h_eff", "lambda", "C", "T_b"], cfg.full_params())
    prob = Problem(cfg.spec, forcing, ob, np.ones(nt + 1, bool), sp)
    truth = {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}
    u = sp.to_u({k: np.array([v]) for k, v in truth.items()})
    ev = prob.evaluate(u, jac=True)
    sim = fortran.simulate(cfg.spec, forcing, cfg.full_params())
    lam = O.node_lambda(cfg.spec, cfg.full_params(), forcing)
    ref = O.model_equivalents(ob, sim.z, sim.T, sim.fluxes, lam)
    for j, o in enumerate(ob):
        np.testing.assert_allclose(ev.equivalents[0, j], ref[o.label], rtol=1e-11, atol=1e-9,
                                   err_msg=o.label)
    for k in range(sp.size):
        e = np.zeros_like(u)
        e[0, k] = 1e-5
        fd = (prob.evaluate(u + e, jac=False).r - prob.evaluate(u - e, jac=False).r) / 2e-5
        scale = np.abs(fd).max()
        assert np.abs(fd - ev.J[..., k]).max() <= 2e-5 * scale, sp.free[k]


def test_batched_calls_refuse_a_probe_outside_the_column():
    """Forward and tangent batches make the same checks: a probe node beyond the column is
    refused for every set, with the message, instead of being read out of bounds."""
    spec = paper_spec()
    f = paper_synthetic(10, 3600.0)
    good = spec.check_params(Params.from_dict({"alpha": 0.2, "eps": 0.95, "lambda": 0.8,
                                               "C": 2.2e6, "T_b": 293.0, "h_eff": 25.0}))
    ps, so = np.stack([spec.psurf(good)] * 2), np.stack([spec.psoil(good)] * 2)
    ti = np.full((2, spec.nz), 293.0)
    seeds = (np.zeros((2, 1, NPSURF)), np.zeros((2, 1, NPSOIL, spec.nz)),
             np.zeros((2, 1, spec.nz)))
    for directions in (None, seeds):
        out = fortran.probe_batch(spec, f, ps, so, ti, [0, spec.nz], directions)
        assert out.errflg.tolist() == [3, 3] and "probe node index outside" in out.message


def test_thread_settings_from_the_environment(monkeypatch):
    """SEBCAL_NUM_THREADS wins over OMP_NUM_THREADS; a value that is not a number is refused
    with the variable's name and the fix."""
    from sebcal.errors import ConfigError

    before = fortran.threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        monkeypatch.setenv("SEBCAL_NUM_THREADS", "2")
        fortran._threads = None
        assert fortran.threads() == 2
        monkeypatch.delenv("SEBCAL_NUM_THREADS")
        fortran._threads = None
        assert fortran.threads() == 3
        monkeypatch.setenv("SEBCAL_NUM_THREADS", "many")
        fortran._threads = None
        with pytest.raises(ConfigError, match="SEBCAL_NUM_THREADS='many'.*unset it"):
            fortran.threads()
        with pytest.raises(ValueError, match=">= 1"):
            fortran.set_threads(0)
    finally:
        fortran.set_threads(before)
