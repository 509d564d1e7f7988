"""Tests of the differentiable PyTorch mirror (sebcal.autodiff) against the Fortran reference.

References: the published targets (examples/data/paper/Target_T1.txt, Target_T2.txt, printed
with %-7.6e by the published notebook), the Fortran scheme (sebcal.fortran, itself checked
against the targets and closed-form solutions in test_fortran.py), central differences of the
Fortran model, and torch.autograd.gradcheck. Every run is float64 (set explicitly here).
"""

# ruff: noqa: N802, N803, N806

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from sebcal import fortran
from sebcal.autodiff import FLUX_NAMES, ColumnError, SoilColumn, observe, param_tensors
from sebcal.autodiff import implicit as implicit_mod
from sebcal.autodiff import model as model_mod
from sebcal.forcing import paper_synthetic
from sebcal.params import Params

PAPER = Path(__file__).resolve().parents[1] / "examples" / "data" / "paper"
F64 = torch.float64
FREE = ("alpha", "eps", "lam", "C", "T_b", "h_eff")

#: a given (non-uniform, host-LSM-like) grid and a uniform one, both small
GIVEN = np.array([0.0, 0.01, 0.025, 0.05, 0.08, 0.12, 0.18, 0.26, 0.36, 0.5])
UNIFORM = (np.arange(11) * 0.05, 0.05)

P0 = Params(alpha=0.25, eps=0.9, lam=0.6, C=2.0e6, T_b=290.0, h_eff=20.0, beta=1.2)
P1 = Params(alpha=0.3, eps=0.97, lam=0.35, C=2.5e6, T_b=300.0, h_eff=9.0, beta=0.8)
P2 = Params(alpha=0.1, eps=1.0, lam=1.4, C=1.5e6, T_b=285.0, h_eff=35.0)


def forcing(nt=48, dt=3600.0):
    return paper_synthetic(nt, dt)


def fortran_run(z, dx, fc, p, **opts):
    return fortran.simulate(z, fc.dt, fc.sw_down, fc.lw_down, fc.t_air, p, dx=dx, **opts)


def torch_run(model, fc, p, **kw):
    with torch.no_grad():
        return model(fc.sw_down, fc.lw_down, fc.t_air, **param_tensors(p), **kw)


def max_flux_diff(out_fluxes, ref_fluxes, member=0):
    worst = 0.0
    for k in FLUX_NAMES:
        a = out_fluxes[k][member].detach().numpy()
        b = ref_fluxes[k]
        assert np.array_equal(np.isnan(a), np.isnan(b)), k
        worst = max(worst, float(np.nanmax(np.abs(a - b))) if not np.all(np.isnan(a)) else 0.0)
    return worst


# ---------------------------------------------------------------------------- the conv layers
def test_flux_names_and_constants_match_fortran():
    assert FLUX_NAMES == fortran.FLUX_NAMES
    from sebcal.params import SIGMA

    assert SIGMA == fortran.constants()["sigma"]


def test_conv_layers_are_fixed_and_carry_the_scheme():
    """The operator is the Fortran a_i, c_i, c_0 (docs/theory.md); nothing is trainable."""
    m = SoilColumn(GIVEN, 1800.0)
    assert list(m.parameters()) == []
    assert isinstance(m.diffusion.diff, torch.nn.Conv1d)
    assert m.diffusion.diff.weight.tolist() == [[[-1.0, 1.0]]]
    assert not m.diffusion.diff.weight.requires_grad
    assert "weight" in dict(m.diffusion.diff.named_buffers())
    L = m.diffusion.matrix().numpy()
    h = np.diff(GIVEN)
    w = np.r_[h[0] / 2, (h[:-1] + h[1:]) / 2, h[-1] / 2]
    n = GIVEN.size - 1
    ref = np.zeros((n + 1, n + 1))
    ref[0, 0], ref[0, 1] = -2 / h[0] ** 2, 2 / h[0] ** 2          # c_0/kdt
    for i in range(1, n):
        a, c = 1 / (w[i] * h[i - 1]), 1 / (w[i] * h[i])
        ref[i, i - 1], ref[i, i], ref[i, i + 1] = a, -a - c, c
    ref[n, n - 1], ref[n, n] = 1 / (w[n] * h[n - 1]), -1 / (w[n] * h[n - 1])
    np.testing.assert_allclose(L, ref, rtol=1e-14, atol=0)
    # the published sweep kernel on the uniform grid
    mu = SoilColumn(*UNIFORM[:1], 3600.0, dx=UNIFORM[1], solver="jacobi")
    assert mu.sweep.neighbours.weight.tolist() == [[[1.0, 0.0, 1.0]]]


# ---------------------------------------------------------------------------- Jacobi = paper
def test_jacobi_reproduces_published_targets_line_for_line():
    fc = paper_synthetic(100, 3600.0)
    p = Params(alpha=0.2, eps=0.95, lam=0.8, C=2.2e6, T_b=293.0, h_eff=25.0)
    m = SoilColumn(np.arange(101) * 0.01, 3600.0, dx=0.01, solver="jacobi", tol=1e-4)
    out = torch_run(m, fc, p)
    T = out.T[0].numpy()
    for name, node in (("T1", 0), ("T2", 5)):
        target = (PAPER / f"Target_{name}.txt").read_text().split()
        assert len(target) == 101
        mine = ["%-7.6e" % v for v in T[:, node]]
        bad = [i for i, (a, b) in enumerate(zip(mine, target)) if a != b]
        assert not bad, f"{name}: lines {bad[:5]} differ, e.g. {mine[bad[0]]} vs {target[bad[0]]}"
    assert int(out.n_iter.sum()) == 13307            # model.md section 1.4: 13,307 sweeps


@pytest.mark.parametrize("grid,opts", [
    ("given", {}), ("given", {"bottom": "zero_flux", "longwave": "kirchhoff"}),
    ("uniform", {"bottom": "zero_flux"}), ("uniform", {"init": "spinup"})])
def test_jacobi_matches_fortran_jacobi(grid, opts):
    """Same sweeps, same stop (1e-4 K with '>'): the Fortran Jacobi to round-off."""
    z, dx = (GIVEN, None) if grid == "given" else UNIFORM
    fc = forcing(24 if grid == "given" else 48)
    ref = fortran_run(z, dx, fc, P0, solver="jacobi", **opts)
    out = torch_run(SoilColumn(z, fc.dt, dx=dx, solver="jacobi", **opts), fc, P0)
    assert np.abs(out.T[0].numpy() - ref.T).max() <= 1e-9
    assert np.array_equal(out.n_iter[0].numpy(), ref.n_iter)
    assert int(out.spinup_cycles[0]) == ref.spinup_cycles


# ---------------------------------------------------------------------------- direct = Fortran
COMBOS = list(itertools.product(("paper", "kirchhoff"), ("dirichlet", "zero_flux"),
                                ("uniform", "given"), ("uniform", "profile", "spinup")))


@pytest.mark.parametrize("longwave,bottom,grid,init", COMBOS)
def test_direct_matches_fortran_every_option(longwave, bottom, grid, init):
    z, dx = (GIVEN, None) if grid == "given" else UNIFORM
    fc = forcing()
    prof = np.linspace(283.0, 291.0, z.size) if init == "profile" else None
    opts = dict(longwave=longwave, bottom=bottom, init=init, init_profile=prof,
                spinup_tol=1e-3, tol=1e-12)
    ref = fortran_run(z, dx, fc, P0, **opts)
    out = torch_run(SoilColumn(z, fc.dt, dx=dx, **opts), fc, P0)
    assert out.T.shape == (1, fc.nt + 1, z.size)
    assert np.abs(out.T[0].numpy() - ref.T).max() <= 1e-9
    assert max_flux_diff(out.fluxes, ref.fluxes) <= 1e-7
    assert int(out.spinup_cycles[0]) == ref.spinup_cycles
    np.testing.assert_array_equal(out.z.numpy(), ref.z)


def test_direct_newton_iterations_match_fortran_on_paper_run():
    fc = paper_synthetic(100, 3600.0)
    p = Params(alpha=0.2, eps=0.95, lam=0.8, C=2.2e6, T_b=293.0, h_eff=25.0)
    ref = fortran_run(np.arange(101) * 0.01, 0.01, fc, p)
    out = torch_run(SoilColumn(np.arange(101) * 0.01, 3600.0, dx=0.01), fc, p)
    assert np.abs(out.T[0].numpy() - ref.T).max() <= 1e-9
    # the paper run is 0.0039 K (surface) / 0.0105 K (5 cm) from the published Jacobi targets
    t1 = np.loadtxt(PAPER / "Target_T1.txt")
    assert 0.003 < np.abs(out.T[0, :, 0].numpy() - t1).max() < 0.005
    assert np.mean(out.n_iter[0].numpy() == ref.n_iter) >= 0.95


def test_direct_residual_is_round_off_and_jacobi_is_truncated():
    """The conv residual of every implicit step: ~0 for the direct solver, ~tol for Jacobi."""
    fc = forcing()
    for solver, lo, hi in (("direct", 0.0, 1e-9), ("jacobi", 1e-5, 1e-1)):
        m = SoilColumn(GIVEN, fc.dt, solver=solver)
        out = torch_run(m, fc, P0)
        p = param_tensors(P0)
        del p["beta"]
        R = m.step_residual(out.T, fc.sw_down, fc.lw_down, fc.t_air, **p)
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
    m = SoilColumn(z, fc.dt, dx=dx, solver=solver, init="spinup", spinup_tol=1e-3)
    pb = param_tensors([P0, P1, P2], requires_grad=True)
    out = m(fc.sw_down, fc.lw_down, fc.t_air, **pb)
    weight = torch.linspace(0.5, 1.5, z.size, dtype=F64)
    (out.T * weight).sum().backward()
    assert len(set(out.spinup_cycles.tolist())) > 1          # the holds are exercised
    for i, p in enumerate((P0, P1, P2)):
        pi = param_tensors(p, requires_grad=True)
        oi = m(fc.sw_down, fc.lw_down, fc.t_air, **pi)
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
    m = SoilColumn(GIVEN, 3600.0, init="spinup")
    sw = torch.tensor(np.stack([f1.sw_down, f2.sw_down]))
    lw = torch.tensor(np.stack([f1.lw_down, f2.lw_down]))
    ta = torch.tensor(np.stack([f1.t_air, f2.t_air]))
    with torch.no_grad():
        out = m(sw, lw, ta, **param_tensors(P0))
    assert out.T.shape == (2, 49, GIVEN.size)
    for i, fc in enumerate((f1, f2)):
        ref = fortran_run(GIVEN, None, fc, P0, init="spinup")
        assert np.abs(out.T[i].numpy() - ref.T).max() <= 1e-9
        assert max_flux_diff(out.fluxes, ref.fluxes, member=i) <= 1e-7


# ---------------------------------------------------------------------------- gradients
def test_gradcheck_tiny_problem():
    """5 nodes, 10 steps, B = 2: parameters, forcing and initial profile (C scaled to ~1)."""
    fc = forcing(10)
    m = SoilColumn(np.array([0.0, 0.02, 0.05, 0.1, 0.2]), 3600.0, tol=1e-11, init="profile")

    def f(alpha, eps, lam, C_mega, T_b, h_eff, sw, profile):
        out = m(sw, fc.lw_down, fc.t_air, alpha, eps, lam, C_mega * 1e6, T_b, h_eff,
                init_profile=profile)
        return out.T, out.fluxes["Qg"]

    args = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (
        [0.2, 0.3], [0.95, 0.9], [0.8, 0.5], [2.2, 2.0], [293.0, 290.0], [25.0, 15.0],
        fc.sw_down, [292.0, 293.0, 294.0, 295.0, 296.0])]
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradcheck_spinup_and_dirichlet():
    fc = forcing(30)
    m = SoilColumn(np.array([0.0, 0.02, 0.05, 0.1, 0.2]), 3600.0, tol=1e-11, init="spinup",
                   spinup_tol=1e-2)

    def f(lam, T_b, h_eff):
        return m(fc.sw_down, fc.lw_down, fc.t_air, 0.2, 0.95, lam, 2.2e6, T_b, h_eff).T[..., 2]

    args = [torch.tensor(v, dtype=F64, requires_grad=True)
            for v in ([0.8, 0.4], [293.0, 296.0], [25.0, 12.0])]
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_every_free_parameter_gets_a_finite_nonzero_gradient():
    fc = paper_synthetic(100, 3600.0)
    m = SoilColumn(np.arange(101) * 0.01, 3600.0, dx=0.01)
    p = param_tensors(Params(alpha=0.2, eps=0.95, lam=0.8, C=2.2e6, T_b=293.0, h_eff=25.0),
                      requires_grad=True)
    out = m(fc.sw_down, fc.lw_down, fc.t_air, **p)
    obs = torch.tensor(np.stack([np.loadtxt(PAPER / "Target_T1.txt"),
                                 np.loadtxt(PAPER / "Target_T2.txt")], axis=1))
    model = observe.soil_temperature(out.T, out.z, [0.0, 0.05])[0]
    ((model - obs) ** 2).mean().backward()
    for k in FREE:
        g = p[k].grad
        assert g is not None and torch.isfinite(g).all() and float(g.abs()) > 0, k


def fd_fortran(z, dx, fc, p, obs, name, rel=1e-4, **opts):
    v = getattr(p, name)
    h = rel * abs(v)

    def loss(q):
        return np.mean((fortran_run(z, dx, fc, q, tol=1e-12, **opts).T - obs) ** 2)

    return (loss(p.replace(**{name: v + h})) - loss(p.replace(**{name: v - h}))) / (2 * h)


@pytest.mark.parametrize("grid,opts", [
    ("uniform", {}),
    ("given", {"longwave": "kirchhoff", "bottom": "zero_flux"}),
    ("given", {"init": "spinup", "spinup_tol": 1e-3}),
])
def test_gradient_equals_central_difference_of_fortran(grid, opts):
    z, dx = (GIVEN, None) if grid == "given" else UNIFORM
    fc = forcing(48)
    obs = fortran_run(z, dx, fc, P0.replace(lam=0.606, C=2.02e6, T_b=292.9, alpha=0.2525,
                                            h_eff=20.2, eps=0.909), tol=1e-12, **opts).T
    m = SoilColumn(z, fc.dt, dx=dx, tol=1e-12, **opts)
    p = param_tensors(P0, requires_grad=True)
    out = m(fc.sw_down, fc.lw_down, fc.t_air, **p)
    ((out.T[0] - torch.tensor(obs)) ** 2).mean().backward()
    for k in FREE:
        fd = fd_fortran(z, dx, fc, P0, obs, k, **opts)
        ag = float(p[k].grad)
        assert abs(ag - fd) <= 1e-5 * abs(fd), (k, ag, fd)


def test_chunked_residual_and_modal_products_give_the_same_gradient(monkeypatch):
    """Memory bounding (residual chunks in the backward pass, chunked GEMMs) changes nothing."""
    fc = forcing(48)
    p = param_tensors([P0, P1], requires_grad=True)
    m = SoilColumn(GIVEN, fc.dt)
    out = m(fc.sw_down, fc.lw_down, fc.t_air, **p)
    out.T[..., 3].sum().backward()
    full = {k: p[k].grad.clone() for k in FREE}
    monkeypatch.setattr(model_mod, "RESIDUAL_ELEMENTS", 7 * 2 * GIVEN.size)
    monkeypatch.setattr(implicit_mod, "GEMM_CHUNK", 5)
    q = param_tensors([P0, P1], requires_grad=True)
    out2 = m(fc.sw_down, fc.lw_down, fc.t_air, **q)
    out2.T[..., 3].sum().backward()
    torch.testing.assert_close(out2.T, out.T, rtol=0, atol=1e-12)
    for k in FREE:
        torch.testing.assert_close(q[k].grad, full[k], rtol=1e-10, atol=0)
    # a cotangent on one node takes the sparse z-transform; a dense one the matrix product
    monkeypatch.undo()
    r = param_tensors([P0, P1], requires_grad=True)
    out3 = m(fc.sw_down, fc.lw_down, fc.t_air, **r)
    (out3.T[..., 3].sum() + 1e-300 * out3.T.sum()).backward()
    for k in FREE:
        torch.testing.assert_close(r[k].grad, full[k], rtol=1e-10, atol=0)


def test_torch_loop_backend_equals_numpy_loop_backend(monkeypatch):
    """The sequential loops run on NumPy views on the CPU and on tensors elsewhere (CUDA):
    both paths give the same values and gradients (checked here on the CPU)."""
    fc = forcing(48)
    m = SoilColumn(GIVEN[:7], fc.dt, init="spinup", spinup_tol=1e-3)

    def run():
        p = param_tensors([P0, P1, P2], requires_grad=True)
        out = m(fc.sw_down, fc.lw_down, fc.t_air, **p)
        observe.soil_temperature(out.T, out.z, [0.0, 0.05]).sum().backward()
        return out, torch.stack([p[k].grad for k in FREE])

    ref, gref = run()
    orig = implicit_mod._Arrays.__init__

    def torch_only(self, t):
        orig(self, t)
        self.numpy = False

    monkeypatch.setattr(implicit_mod._Arrays, "__init__", torch_only)
    out, g = run()
    torch.testing.assert_close(out.T, ref.T, rtol=0, atol=1e-12)
    assert torch.equal(out.n_iter, ref.n_iter)
    torch.testing.assert_close(g, gref, rtol=1e-10, atol=0)


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


def test_flux_observation_operators():
    fc = forcing()
    m = SoilColumn(*UNIFORM[:1], fc.dt, dx=UNIFORM[1], longwave="kirchhoff")
    p = param_tensors([P0, P1])
    with torch.no_grad():
        out = m(fc.sw_down, fc.lw_down, fc.t_air, **p)
    torch.testing.assert_close(observe.surface_temperature(out.T), out.Ts)
    torch.testing.assert_close(observe.lw_up(out.T, p["eps"], fc.lw_down, "kirchhoff"),
                               out.fluxes["LWup"], rtol=1e-15, atol=1e-12)
    torch.testing.assert_close(observe.turbulent_flux(out.T, fc.t_air, p["h_eff"]),
                               out.fluxes["Qh_plus_Qle"], rtol=1e-15, atol=1e-12)
    # at a node of the uniform grid: the central difference lambda (T_(i-1) - T_(i+1))/(2 dx)
    dx = UNIFORM[1]
    G = observe.ground_heat_flux(out.T, out.z, p["lam"], [0.1, 0.125])
    cd = p["lam"].reshape(-1, 1) * (out.T[..., 1] - out.T[..., 3]) / (2 * dx)
    torch.testing.assert_close(G[..., 0], cd, rtol=1e-12, atol=1e-9)
    mid = p["lam"].reshape(-1, 1) * (out.T[..., 2] - out.T[..., 3]) / dx
    torch.testing.assert_close(G[..., 1], mid, rtol=1e-12, atol=1e-9)   # interface midpoint


# ---------------------------------------------------------------------------- misc
def test_simulate_config_and_errors():
    from sebcal.autodiff import simulate_config
    from sebcal.config import parse_config

    cfg = parse_config({"parameters": {"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6,
                                       "T_b": 293.0, "h_eff": 25.0},
                        "grid": {"depth": 0.5, "nodes": 11}, "time": {"steps": 24}})
    z, T, fl = simulate_config(cfg)
    ref = fortran.simulate_config(cfg, paper_synthetic(24, 3600.0))
    assert np.abs(T - ref.T).max() <= 1e-9 and z.shape == (11,)
    with pytest.raises(ValueError):
        SoilColumn(GIVEN, 3600.0, solver="gauss")
    with pytest.raises(ValueError):
        SoilColumn(GIVEN, 3600.0)(np.zeros(3), np.zeros(3), np.full(3, 290.0), 0.2, 0.95, 0.8,
                                  2.2e6, 293.0, torch.tensor([1.0, 2.0, 3.0]),
                                  beta=torch.tensor([1.0, 2.0]))
    with pytest.raises(ColumnError, match="spin-up"):
        torch_run(SoilColumn(GIVEN, 3600.0, init="spinup", spinup_max_cycles=1), forcing(), P0)
    with pytest.raises(ColumnError, match="Newton"):
        torch_run(SoilColumn(GIVEN, 3600.0, max_iter=2), forcing(), P0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    fc = forcing()
    cpu = torch_run(SoilColumn(GIVEN, fc.dt), fc, P0)
    m = SoilColumn(GIVEN, fc.dt, device="cuda")
    p = param_tensors([P0], device="cuda", requires_grad=True)
    out = m(torch.tensor(fc.sw_down, device="cuda"), torch.tensor(fc.lw_down, device="cuda"),
            torch.tensor(fc.t_air, device="cuda"), **p)
    out.T.sum().backward()
    assert float((out.T.detach().cpu() - cpu.T).abs().max()) <= 1e-9
    assert all(torch.isfinite(p[k].grad).all() for k in FREE)
