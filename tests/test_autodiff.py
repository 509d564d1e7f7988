"""Tests of the differentiable PyTorch mirror (sebcal.autodiff) against the Fortran reference.

References: the published targets (examples/data/paper/Target_T1.txt, Target_T2.txt, printed
with %-7.6e by the published notebook), the Fortran scheme (sebcal.fortran, itself checked
against the targets and closed-form solutions in test_fortran.py), central differences of the
Fortran model, and torch.autograd.gradcheck. Every run is float64.
"""

# ruff: noqa: N802, N803, N806

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ALL_PARAMS, synthetic_forcing
from sebcal import fortran
from sebcal.autodiff import FLUX_NAMES, ColumnError, SoilColumn, observe, param_tensors
from sebcal.autodiff import solver as solver_mod
from sebcal.errors import ConfigError
from sebcal.forcing import paper_synthetic
from sebcal.params import Params
from sebcal.spec import ModelSpec, paper_spec

PAPER = Path(__file__).resolve().parents[1] / "examples" / "data" / "paper"
F64 = torch.float64
FREE = ("alpha", "eps", "lambda", "C", "T_b", "h_eff")

#: a given (non-uniform, host-LSM-like) grid and a uniform one, both small
GIVEN = np.array([0.0, 0.01, 0.025, 0.05, 0.08, 0.12, 0.18, 0.26, 0.36, 0.5])
UNIFORM = (np.arange(11) * 0.05, 0.05)

P0 = Params({"alpha": 0.25, "eps": 0.9, "lambda": 0.6, "C": 2.0e6, "T_b": 290.0,
             "h_eff": 20.0, "beta": 1.2})
P1 = Params({"alpha": 0.3, "eps": 0.97, "lambda": 0.35, "C": 2.5e6, "T_b": 300.0,
             "h_eff": 9.0, "beta": 0.8})
P2 = Params({"alpha": 0.1, "eps": 1.0, "lambda": 1.4, "C": 1.5e6, "T_b": 285.0,
             "h_eff": 35.0, "beta": 2.0})


def forcing(nt=48, dt=3600.0):
    return paper_synthetic(nt, dt)


def spec_of(grid, dt=3600.0, **opts):
    z, dx = (GIVEN, None) if grid == "given" else UNIFORM
    kw = {k: opts.pop(k) for k in ("tol", "max_iter", "spinup_tol", "spinup_max_cycles",
                                   "init_profile") if k in opts}
    return ModelSpec(z, dx=dx, dt=dt, options=opts, **kw)


def torch_run(spec, fc, p, **kw):
    with torch.no_grad():
        return SoilColumn(spec)(fc.data, param_tensors(p), **kw)


def max_flux_diff(out_fluxes, ref_fluxes, member=0):
    worst = 0.0
    for k in FLUX_NAMES:
        a = out_fluxes[k][member].detach().numpy()
        b = ref_fluxes[k]
        assert np.array_equal(np.isnan(a), np.isnan(b)), k
        worst = max(worst, float(np.nanmax(np.abs(a - b))) if not np.all(np.isnan(a)) else 0.0)
    return worst


# ---------------------------------------------------------------------------- the conv layers
def test_conv_layers_are_fixed_and_carry_the_scheme():
    """D(T) of the conv layers is a_i (T_(i-1) - T_i) + c_i (T_(i+1) - T_i) with the Fortran
    coefficients (docs/theory.md eq. 8); nothing is trainable."""
    spec = ModelSpec(GIVEN, dt=1800.0)
    m = SoilColumn(spec)
    assert list(m.parameters()) == []
    assert isinstance(m.diffusion.diff, torch.nn.Conv1d)
    assert m.diffusion.diff.weight.tolist() == [[[-1.0, 1.0]]]
    assert not m.diffusion.diff.weight.requires_grad
    assert "weight" in dict(m.diffusion.diff.named_buffers())
    h = np.diff(GIVEN)
    w = np.r_[h[0] / 2, (h[:-1] + h[1:]) / 2, h[-1] / 2]
    k = 0.8 / 2.2e6 * 1800.0
    a = np.r_[0.0, k / (w[1:] * h)]
    c = np.r_[2 * k / h[0] ** 2, k / (w[1:-1] * h[1:]), 0.0]
    T = torch.tensor(290.0 + np.random.default_rng(1).random((3, GIVEN.size)))
    D = m.diffusion(T, torch.tensor(a), torch.tensor(c)).numpy()
    Tn = T.numpy()
    ref = np.zeros_like(Tn)
    ref[:, 0] = c[0] * (Tn[:, 1] - Tn[:, 0])
    ref[:, 1:-1] = a[1:-1] * (Tn[:, :-2] - Tn[:, 1:-1]) + c[1:-1] * (Tn[:, 2:] - Tn[:, 1:-1])
    ref[:, -1] = a[-1] * (Tn[:, -2] - Tn[:, -1])
    np.testing.assert_allclose(D, ref, rtol=1e-12, atol=1e-12)
    # the coefficients the physics module builds are these
    from sebcal.physics.soil import coefficients

    aa, cc, c0, g1 = coefficients(np.full(GIVEN.size, 0.8), np.full(GIVEN.size, 2.2e6), h, w,
                                  1800.0)
    np.testing.assert_allclose(aa, a, rtol=1e-15)
    np.testing.assert_allclose(cc, c, rtol=1e-15)
    assert g1 == h[0] / 0.8
    # the published sweep kernel on the uniform grid
    mu = SoilColumn(paper_spec(solver="jacobi"))
    assert mu.sweep.neighbours.weight.tolist() == [[[1.0, 0.0, 1.0]]]


# ---------------------------------------------------------------------------- Jacobi = paper
def test_jacobi_reproduces_published_targets_line_for_line(paper_params):
    fc = paper_synthetic(100, 3600.0)
    out = torch_run(paper_spec(solver="jacobi"), fc, paper_params)
    T = out.T[0].numpy()
    for name, node in (("T1", 0), ("T2", 5)):
        target = (PAPER / f"Target_{name}.txt").read_text().split()
        assert len(target) == 101
        mine = [f"{v:<7.6e}" for v in T[:, node]]
        bad = [i for i, (a, b) in enumerate(zip(mine, target)) if a != b]
        assert not bad, f"{name}: lines {bad[:5]} differ, e.g. {mine[bad[0]]} vs {target[bad[0]]}"
    assert int(out.n_iter.sum()) == 13307            # docs/theory.md sec. 4: 13,307 sweeps


@pytest.mark.parametrize("grid,opts", [
    ("given", {}), ("given", {"bottom": "zero_flux", "longwave": "kirchhoff"}),
    ("uniform", {"bottom": "zero_flux"}), ("uniform", {"init": "spinup"})])
def test_jacobi_matches_fortran_jacobi(grid, opts):
    """Same sweeps, same stop (1e-4 K with '>'): the Fortran Jacobi to round-off."""
    fc = forcing(24 if grid == "given" else 48)
    spec = spec_of(grid, solver="jacobi", **opts)
    ref = fortran.simulate(spec, fc, P0)
    out = torch_run(spec, fc, P0)
    assert np.abs(out.T[0].numpy() - ref.T).max() <= 1e-9
    assert np.array_equal(out.n_iter[0].numpy(), ref.n_iter)
    assert int(out.spinup_cycles[0]) == ref.spinup_cycles


# ---------------------------------------------------------------------------- direct = Fortran
COMBOS = list(itertools.product(("paper", "kirchhoff"), ("dirichlet", "zero_flux"),
                                ("uniform", "given"), ("uniform", "profile", "spinup")))


@pytest.mark.crosscheck
@pytest.mark.parametrize("longwave,bottom,grid,init", COMBOS)
def test_direct_matches_fortran_every_option(longwave, bottom, grid, init):
    fc = forcing()
    z = GIVEN if grid == "given" else UNIFORM[0]
    prof = np.linspace(283.0, 291.0, z.size) if init == "profile" else None
    spec = spec_of(grid, longwave=longwave, bottom=bottom, init=init, init_profile=prof,
                   spinup_tol=1e-3, tol=1e-12)
    ref = fortran.simulate(spec, fc, P0)
    out = torch_run(spec, fc, P0)
    assert out.T.shape == (1, fc.nt + 1, z.size)
    assert np.abs(out.T[0].numpy() - ref.T).max() <= 1e-9
    assert max_flux_diff(out.fluxes, ref.fluxes) <= 1e-7
    assert int(out.spinup_cycles[0]) == ref.spinup_cycles
    np.testing.assert_array_equal(out.z.numpy(), ref.z)


@pytest.mark.crosscheck
@pytest.mark.parametrize("method", ["dense", "thomas"])
def test_both_subsurface_eliminations_match_fortran(method):
    """The dense factorisation and Thomas elimination (used when the soil changes in time or
    the batch is large) solve the same steps."""
    fc = forcing()
    spec = spec_of("given", time_scheme="crank_nicolson", bottom="zero_flux", tol=1e-12)
    ref = fortran.simulate(spec, fc, P0)
    p = param_tensors(P0, requires_grad=True)
    out = SoilColumn(spec, method=method)(fc.data, p)
    assert np.abs(out.T[0].detach().numpy() - ref.T).max() <= 1e-9
    out.T[..., 3].sum().backward()
    grads = {k: float(p[k].grad.reshape(-1)[0]) for k in FREE}
    p2 = param_tensors(P0, requires_grad=True)
    SoilColumn(spec, method="dense" if method == "thomas" else "thomas")(fc.data, p2).T[
        ..., 3].sum().backward()
    for k in FREE:
        assert abs(float(p2[k].grad.reshape(-1)[0]) - grads[k]) <= 1e-9 * abs(grads[k])


def test_direct_on_the_paper_run(paper_params):
    fc = paper_synthetic(100, 3600.0)
    p = paper_params.replace(beta=None)
    ref = fortran.simulate(paper_spec(), fc, p)
    out = torch_run(paper_spec(), fc, p)
    assert np.abs(out.T[0].numpy() - ref.T).max() <= 1e-9
    # the paper run is 0.0039 K (surface) / 0.0105 K (5 cm) from the published Jacobi targets
    t1 = np.loadtxt(PAPER / "Target_T1.txt")
    assert 0.003 < np.abs(out.T[0, :, 0].numpy() - t1).max() < 0.005
    assert np.mean(out.n_iter[0].numpy() == ref.n_iter) >= 0.95


def test_direct_residual_is_round_off_and_jacobi_is_truncated():
    """The conv residual of every implicit step: ~0 for the direct solver, ~tol for Jacobi."""
    fc = forcing()
    for solver, lo, hi in (("direct", 0.0, 1e-9), ("jacobi", 1e-5, 1e-1)):
        spec = spec_of("given", solver=solver)
        m = SoilColumn(spec)
        out = torch_run(spec, fc, P0)
        R = m.step_residual(out.T, fc.data, param_tensors(P0))
        assert R.shape == (1, fc.nt, GIVEN.size)
        assert lo <= float(R.abs().max()) <= hi, solver


# ---------------------------------------------------------------------------- batches
@pytest.mark.parametrize("solver", ["direct", "jacobi"])
def test_batch_equals_separate_runs(solver):
    """B = 3 different parameter sets (spin-up: different day counts) = 3 single runs."""
    fc = forcing()
    if solver == "direct":
        z, dx = GIVEN[:7], None
    else:   # fewer sweeps: a coarse grid (the published iteration is slow on fine ones)
        z, dx = np.arange(6) * 0.04, 0.04
    spec = ModelSpec(z, dx=dx, options={"solver": solver, "init": "spinup"}, spinup_tol=1e-3)
    m = SoilColumn(spec)
    pb = param_tensors([P0, P1, P2], requires_grad=True)
    out = m(fc.data, pb)
    weight = torch.linspace(0.5, 1.5, z.size, dtype=F64)
    (out.T * weight).sum().backward()
    assert len(set(out.spinup_cycles.tolist())) > 1          # the holds are exercised
    for i, p in enumerate((P0, P1, P2)):
        pi = param_tensors(p, requires_grad=True)
        oi = m(fc.data, pi)
        (oi.T * weight).sum().backward()
        assert torch.allclose(oi.T[0], out.T[i], rtol=0, atol=1e-10)
        assert int(oi.spinup_cycles[0]) == int(out.spinup_cycles[i])
        for k in FLUX_NAMES:
            assert torch.allclose(oi.fluxes[k][0], out.fluxes[k][i], rtol=0, atol=1e-8,
                                  equal_nan=True)
        for k in FREE:
            torch.testing.assert_close(pi[k].grad[0], pb[k].grad[i], rtol=1e-9, atol=0)


def test_per_site_forcing_batch():
    """Forcing (B, nt+1), one series per member (sites), with shared parameters."""
    f1, f2 = forcing(), paper_synthetic(48, 3600.0, k_peak=600.0, lw_down=320.0, t_air=301.0)
    spec = ModelSpec(GIVEN, options={"init": "spinup"})
    data = {k: torch.tensor(np.stack([f1[k], f2[k]])) for k in ("SWdown", "LWdown", "Tair")}
    with torch.no_grad():
        out = SoilColumn(spec)(data, param_tensors(P0))
    assert out.T.shape == (2, 49, GIVEN.size)
    for i, fc in enumerate((f1, f2)):
        ref = fortran.simulate(spec, fc, P0)
        assert np.abs(out.T[i].numpy() - ref.T).max() <= 1e-9
        assert max_flux_diff(out.fluxes, ref.fluxes, member=i) <= 1e-7


# ---------------------------------------------------------------------------- gradients
@pytest.mark.gradient
def test_gradcheck_tiny_problem():
    """5 nodes, 10 steps, B = 2: parameters, forcing and initial profile (C scaled to ~1)."""
    fc = forcing(10)
    spec = ModelSpec(np.array([0.0, 0.02, 0.05, 0.1, 0.2]), tol=1e-12,
                     options={"init": "profile"})
    m = SoilColumn(spec)

    def f(alpha, eps, lam, C_mega, T_b, h_eff, sw, profile):
        out = m({"SWdown": sw, "LWdown": fc.lw_down, "Tair": fc.t_air},
                {"alpha": alpha, "eps": eps, "lambda": lam, "C": C_mega * 1e6, "T_b": T_b,
                 "h_eff": h_eff}, init_profile=profile)
        return out.T, out.fluxes["Qg"]

    args = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (
        [0.2, 0.3], [0.95, 0.9], [0.8, 0.5], [2.2, 2.0], [293.0, 290.0], [25.0, 15.0],
        fc.sw_down, [292.0, 293.0, 294.0, 295.0, 296.0])]
    # the step: large enough that the Newton tolerance does not show in the differences
    assert torch.autograd.gradcheck(f, args, eps=1e-4, atol=1e-5, rtol=1e-4)


@pytest.mark.gradient
def test_gradcheck_new_physics():
    """Bulk turbulence with stability, latent heat, Johansen soil and Crank-Nicolson: gradients
    of T and of Qle with respect to roughness, surface resistance, porosity and the soil
    moisture series."""
    f = synthetic_forcing(12)
    z = np.array([0.0, 0.02, 0.05, 0.1, 0.2])
    spec = ModelSpec(z, dt=1800.0, tol=1e-12, options={
        "turbulence": "bulk", "stability": "most", "latent": "resistance",
        "soil_thermal": "johansen", "time_scheme": "crank_nicolson", "bottom": "zero_flux"})
    m = SoilColumn(spec)
    theta0 = f.theta_at(z, spec.options)
    base = {k: v for k, v in ALL_PARAMS.items() if k not in ("lambda", "C")}

    def fn(z0m, r_s, porosity, theta):
        p = dict(base, z0m=z0m, r_s=r_s, porosity=porosity.unsqueeze(1))
        out = m(f.data, p, theta=theta)
        return out.T[..., 1], out.fluxes["Qle"]

    args = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (
        [0.02, 0.05], [150.0, 90.0], [0.45, 0.4], theta0)]
    assert torch.autograd.gradcheck(fn, args, eps=1e-5, atol=1e-5, rtol=1e-4)


@pytest.mark.gradient
def test_every_free_parameter_gets_a_finite_nonzero_gradient(paper_params):
    fc = paper_synthetic(100, 3600.0)
    p = param_tensors(paper_params.replace(beta=None), requires_grad=True)
    out = SoilColumn(paper_spec())(fc.data, p)
    obs = torch.tensor(np.stack([np.loadtxt(PAPER / "Target_T1.txt"),
                                 np.loadtxt(PAPER / "Target_T2.txt")], axis=1))
    model = observe.soil_temperature(out.T, out.z, [0.0, 0.05])[0]
    ((model - obs) ** 2).mean().backward()
    for k in FREE:
        g = p[k].grad
        assert g is not None and torch.isfinite(g).all() and float(g.abs().sum()) > 0, k


def fd_fortran(spec, fc, p, obs, name, rel=1e-4):
    v = p[name]
    h = rel * abs(v)

    def loss(q):
        return np.mean((fortran.simulate(spec, fc, q).T - obs) ** 2)

    return (loss(p.replace(**{name: v + h})) - loss(p.replace(**{name: v - h}))) / (2 * h)


@pytest.mark.gradient
@pytest.mark.parametrize("grid,opts", [
    ("uniform", {}),
    ("given", {"longwave": "kirchhoff", "bottom": "zero_flux"}),
    ("given", {"init": "spinup", "spinup_tol": 1e-3}),
    ("given", {"time_scheme": "crank_nicolson"}),
])
def test_gradient_equals_central_difference_of_fortran(grid, opts):
    fc = forcing(48)
    spec = spec_of(grid, tol=1e-12, **opts)
    obs_p = P0.replace(**{"lambda": 0.606, "C": 2.02e6, "T_b": 292.9, "alpha": 0.2525,
                          "h_eff": 20.2, "eps": 0.909})
    obs = fortran.simulate(spec, fc, obs_p).T
    p = param_tensors(P0, requires_grad=True)
    out = SoilColumn(spec)(fc.data, p)
    ((out.T[0] - torch.tensor(obs)) ** 2).mean().backward()
    for k in FREE:
        fd = fd_fortran(spec, fc, P0, obs, k)
        ag = float(p[k].grad.reshape(-1)[0])
        assert abs(ag - fd) <= 1e-5 * abs(fd), (k, ag, fd)


# ---------------------------------------------------------------------------- observations
def test_soil_temperature_exact_at_nodes_and_linear_between():
    T = torch.randn(2, 4, GIVEN.size, dtype=F64) + 290.0
    at_nodes = observe.soil_temperature(T, GIVEN, GIVEN.tolist())
    assert torch.equal(at_nodes, T)                               # bit for bit, every node
    assert torch.equal(observe.soil_temperature(T, GIVEN, 0.05), T[..., 3])
    d = np.linspace(GIVEN[4], GIVEN[5], 7)
    vals = observe.soil_temperature(T, GIVEN, d)
    f = (d - GIVEN[4]) / (GIVEN[5] - GIVEN[4])
    expect = T[..., 4:5] + torch.tensor(f) * (T[..., 5:6] - T[..., 4:5])
    torch.testing.assert_close(vals, expect, rtol=0, atol=1e-12)
    second = vals[..., 2:] - 2 * vals[..., 1:-1] + vals[..., :-2]
    assert float(second.abs().max()) < 1e-10                      # linear in depth
    with pytest.raises(ValueError):
        observe.soil_temperature(T, GIVEN, 0.6)


def test_ground_heat_flux_operator():
    fc = forcing()
    spec = ModelSpec(UNIFORM[0], dx=UNIFORM[1], options={"longwave": "kirchhoff"})
    p = param_tensors([P0, P1])
    with torch.no_grad():
        out = SoilColumn(spec)(fc.data, p)
    lam = p["lambda"][:, 0]
    dx = UNIFORM[1]
    # at a node of the uniform grid: the central difference lambda (T_(i-1) - T_(i+1))/(2 dx)
    G = observe.ground_heat_flux(out.T, out.z, lam, [0.1, 0.125])
    cd = lam.reshape(-1, 1) * (out.T[..., 1] - out.T[..., 3]) / (2 * dx)
    torch.testing.assert_close(G[..., 0], cd, rtol=1e-12, atol=1e-9)
    mid = lam.reshape(-1, 1) * (out.T[..., 2] - out.T[..., 3]) / dx
    torch.testing.assert_close(G[..., 1], mid, rtol=1e-12, atol=1e-9)   # interface midpoint
    # node conductivities (B, nz) give the same with a uniform soil, and harmonic interfaces
    Gn = observe.ground_heat_flux(out.T, out.z, out.lam, [0.1, 0.125])
    torch.testing.assert_close(Gn, G, rtol=1e-14, atol=1e-12)
    # the equivalent of a Qg observation at the top is the model's Qg
    torch.testing.assert_close(observe.equivalent("Qg", out.T, out.fluxes, out.z, out.lam, 0.0),
                               out.fluxes["Qg"])


# ---------------------------------------------------------------------------- misc
def test_simulate_and_errors():
    from sebcal.autodiff import simulate
    from sebcal.config import parse_config
    from sebcal.runner import forcing_for

    cfg = parse_config({"parameters": {"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6,
                                       "T_b": 293.0, "h_eff": 25.0},
                        "grid": {"depth": 0.5, "nodes": 11}, "time": {"steps": 24}})
    f = forcing_for(cfg)
    z, T, fl = simulate(cfg.spec, f, cfg.params)
    ref = fortran.simulate(cfg.spec, f, cfg.params)
    assert np.abs(T - ref.T).max() <= 1e-9 and z.shape == (11,)
    with pytest.raises(ColumnError, match="spin-up"):
        torch_run(spec_of("given", init="spinup", spinup_max_cycles=1), forcing(), P0)
    with pytest.raises(ColumnError, match="Newton"):
        torch_run(spec_of("given", max_iter=2), forcing(), P0)
    # the model itself refuses the combination now, before the mirror is built
    with pytest.raises(ConfigError, match="jacobi.*published model's options"):
        SoilColumn(spec_of("given", solver="jacobi", turbulence="bulk"))


def test_dense_limit_switches_to_thomas(monkeypatch):
    fc = forcing()
    spec = spec_of("given", tol=1e-12)
    ref = torch_run(spec, fc, P0).T
    monkeypatch.setattr(solver_mod, "DENSE_LIMIT", 1.0)
    assert not solver_mod.Subsurface(solver_mod.Coefficients(
        np.ones((1, 10)), np.ones((1, 10)), np.ones(1), np.ones(1)), 1.0, 8).dense
    assert torch.allclose(torch_run(spec, fc, P0).T, ref, rtol=0, atol=1e-11)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    fc = forcing()
    spec = spec_of("given")
    cpu = torch_run(spec, fc, P0)
    m = SoilColumn(spec).to("cuda")
    p = {k: v.to("cuda").requires_grad_() for k, v in param_tensors(P0).items()}
    out = m({k: torch.tensor(v, device="cuda") for k, v in fc.data.items()}, p)
    out.T.sum().backward()
    assert float((out.T.detach().cpu() - cpu.T).abs().max()) <= 1e-9
    assert all(torch.isfinite(p[k].grad).all() for k in FREE)
