"""The Fortran reference scheme: published targets, closed form, conservation, interface, errors."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from sebcal import fortran
from sebcal.errors import ConfigError, FortranError
from sebcal.fortran_wrap import sebcal_api as raw
from sebcal.params import SIGMA, Params

from conftest import paper_grid

pytestmark = pytest.mark.physics


def _run(paper_forcing, params, **kw):
    z, dx = paper_grid()
    return fortran.simulate(z, 3600.0, paper_forcing.sw_down, paper_forcing.lw_down,
                            paper_forcing.t_air, params, dx=dx, **kw)


# --------------------------------------------------------------------------- published targets

def test_jacobi_reproduces_published_targets_line_for_line(paper_forcing, paper_params,
                                                           paper_targets):
    sim = _run(paper_forcing, paper_params, solver="jacobi")
    for name, node in (("T1", 0), ("T2", 5)):
        ours = ["%-7.6e" % v for v in sim.T[:, node]]
        assert ours == paper_targets[name], name
    # the published run took 13,307 sweeps in total (model.md sec. 1.4, measured independently)
    assert int(sim.n_iter.sum()) == 13307


def test_direct_solver_distance_from_published_targets(paper_forcing, paper_params, paper_targets):
    """The exact discrete solution differs from the Jacobi-truncated targets by ~0.004/0.011 K."""
    sim = _run(paper_forcing, paper_params)
    d1 = np.abs(sim.T[:, 0] - np.array(paper_targets["T1"], float)).max()
    d2 = np.abs(sim.T[:, 5] - np.array(paper_targets["T2"], float)).max()
    print(f"\ndirect vs published targets: max |dT| surface {d1:.4f} K, 5 cm {d2:.4f} K")
    assert 0.003 < d1 < 0.005
    assert 0.009 < d2 < 0.012


# --------------------------------------------------------------------------- discrete equations

def _residuals(sim, z, dt, params, sw, lw, ta, longwave="paper", bottom="dirichlet"):
    """Residuals [K] of the discrete equations of docs/theory.md, written out independently."""
    h = np.diff(z)
    w = np.empty_like(z)
    w[0], w[-1] = h[0] / 2, h[-1] / 2
    w[1:-1] = (h[:-1] + h[1:]) / 2
    k = params.lam / params.C * dt
    res = []
    for n in range(1, sim.T.shape[0]):
        T, Tn = sim.T[n], sim.T[n - 1]
        lw_abs = params.eps * lw[n] if longwave == "kirchhoff" else lw[n]
        G = (sw[n] * (1 - params.alpha) + lw_abs - params.eps * SIGMA * T[0] ** 4
             - params.h_eff * (T[0] - ta[n]))
        r0 = T[0] - Tn[0] - 2 * k / h[0] ** 2 * ((T[1] - T[0]) + h[0] / params.lam * G)
        ri = (T[1:-1] - Tn[1:-1] - k / (w[1:-1] * h[:-1]) * (T[:-2] - T[1:-1])
              - k / (w[1:-1] * h[1:]) * (T[2:] - T[1:-1]))
        if bottom == "dirichlet":
            rN = T[-1] - params.T_b
        else:
            rN = T[-1] - Tn[-1] - k / (w[-1] * h[-1]) * (T[-2] - T[-1])
        res.append(max(abs(r0), np.abs(ri).max(), abs(rN)))
    return np.array(res)


@pytest.mark.parametrize("longwave", ["paper", "kirchhoff"])
@pytest.mark.parametrize("bottom", ["dirichlet", "zero_flux"])
def test_direct_solver_solves_the_discrete_equations_to_round_off(paper_forcing, paper_params,
                                                                   longwave, bottom):
    z = np.concatenate([[0.0], np.cumsum(np.geomspace(0.005, 0.08, 30))])  # stretched grid
    f = paper_forcing
    sim = fortran.simulate(z, 3600.0, f.sw_down, f.lw_down, f.t_air, paper_params,
                           longwave=longwave, bottom=bottom)
    res = _residuals(sim, z, 3600.0, paper_params, f.sw_down, f.lw_down, f.t_air, longwave, bottom)
    assert res.max() < 1e-9, res.max()      # |T| ~ 300 K: round-off of the residual is ~1e-12 K
    # a Jacobi run converged far past the paper's 1e-4 K lands on the same solution
    jac = fortran.simulate(z, 3600.0, f.sw_down, f.lw_down, f.t_air, paper_params,
                           longwave=longwave, bottom=bottom, solver="jacobi", tol=1e-11,
                           max_iter=10**6)
    assert np.abs(jac.T - sim.T).max() < 1e-7


def test_uniform_grid_equals_the_same_depths_given_explicitly(paper_forcing, paper_params):
    z, dx = paper_grid()
    f = paper_forcing
    a = fortran.simulate(z, 3600.0, f.sw_down, f.lw_down, f.t_air, paper_params, dx=dx)
    b = fortran.simulate(z, 3600.0, f.sw_down, f.lw_down, f.t_air, paper_params)
    assert np.abs(a.T - b.T).max() < 1e-10


# --------------------------------------------------------------------------- closed form

LAM, CAP, TM, AMP = 0.8, 2.2e6, 293.0, 10.0
OMEGA = 2 * np.pi / 86400.0
DAMP = np.sqrt(2 * LAM / (CAP * OMEGA))          # damping depth d = 0.1 m


def _wave(z, t):
    return TM + AMP * np.exp(-z / DAMP) * np.sin(OMEGA * t - z / DAMP)


def _wave_error(dz: float, dt: float, depth: float = 1.5, days: int = 2) -> float:
    """Max |T - T_exact| over the last day: forcing built so that G(Ts_exact) is the exact flux."""
    nz = int(round(depth / dz)) + 1
    z = np.arange(nz) * dz
    nt = int(round(days * 86400 / dt))
    t = np.arange(nt + 1) * dt
    p = Params(alpha=0.0, eps=0.95, lam=LAM, C=CAP, T_b=TM, h_eff=10.0)
    ts = _wave(0.0, t)
    g_exact = LAM * AMP / DAMP * (np.sin(OMEGA * t) + np.cos(OMEGA * t))   # -lambda dT/dz at 0
    lw = np.full(nt + 1, 300.0)
    ta = np.full(nt + 1, TM)
    sw = g_exact - lw + p.eps * SIGMA * ts**4 + p.h_eff * (ts - ta)
    sim = fortran.simulate(z, dt, sw, lw, ta, p, dx=dz, init="profile", init_profile=_wave(z, 0.0))
    last = t >= (days - 1) * 86400
    return float(np.abs(sim.T[last] - _wave(z[None, :], t[last, None])).max())


def test_damped_surface_wave_closed_form_and_convergence_orders():
    """Amplitude exp(-z/d) and lag z/d with d = sqrt(2 lambda/(C omega)); started on the profile.

    Backward Euler is first order in dt; the finite-volume stencil with the half-cell surface
    node is second order in dz.
    """
    assert abs(DAMP - 0.1) < 1e-3                # the test case is what it says it is
    dts = [3600.0, 1800.0, 900.0, 450.0]
    e_t = [_wave_error(0.0025, dt) for dt in dts]
    dzs = [0.04, 0.02, 0.01]
    e_z = [_wave_error(dz, 5.0) for dz in dzs]
    p_t = np.log2(np.array(e_t[:-1]) / np.array(e_t[1:]))
    p_z = np.log2(np.array(e_z[:-1]) / np.array(e_z[1:]))
    print("\ndamped wave, max error over day 2 [K]:")
    print("  dt [s]:", dts, "errors:", ["%.3e" % e for e in e_t], "observed order:", np.round(p_t, 2))
    print("  dz [m]:", dzs, "errors:", ["%.3e" % e for e in e_z], "observed order:", np.round(p_z, 2))
    assert np.all(np.abs(p_t - 1) < 0.15), p_t
    assert np.all(np.abs(p_z - 2) < 0.2), p_z
    assert e_z[-1] < 0.02                         # dz = 1 cm, dt = 5 s: close to the closed form


# --------------------------------------------------------------------------- conservation

@pytest.mark.parametrize("bottom", ["dirichlet", "zero_flux"])
@pytest.mark.parametrize("longwave", ["paper", "kirchhoff"])
def test_column_heat_content_change_equals_boundary_fluxes(paper_forcing, paper_params, bottom,
                                                          longwave):
    z = np.concatenate([[0.0], np.cumsum(np.linspace(0.004, 0.06, 40))])
    f, p, dt = paper_forcing, paper_params, 3600.0
    sim = fortran.simulate(z, dt, f.sw_down, f.lw_down, f.t_air, p, bottom=bottom,
                           longwave=longwave)
    H = fortran.heat_content(z, sim.T, p, bottom=bottom)
    f_bottom = 0.0
    if bottom == "dirichlet":
        f_bottom = p.lam * (sim.T[1:, -1] - sim.T[1:, -2]) / (z[-1] - z[-2])
    lhs = np.diff(H) / dt                                    # W m-2
    rhs = sim.fluxes["Qg"][1:] + f_bottom
    # H ~ 1e9 J m-2: its round-off (~1e-7 J m-2) over dt is ~1e-10 W m-2
    assert np.abs(lhs - rhs).max() < 1e-7
    assert np.abs(sim.fluxes["Qg"]).max() > 10           # the test is not trivially balanced


def test_surface_energy_closed_and_top_cell_balance(paper_forcing, paper_params):
    f, p, dt = paper_forcing, paper_params, 3600.0
    z, dx = paper_grid()
    for longwave in ("paper", "kirchhoff"):
        sim = fortran.simulate(z, dt, f.sw_down, f.lw_down, f.t_air, p, dx=dx, longwave=longwave)
        F = sim.fluxes
        closure = F["SWnet"] + F["LWdown"] - F["LWup"] - F["Qh"] - F["Qle"] - F["Qg"]
        assert np.abs(closure).max() < 1e-10
        assert np.allclose(F["Qh"] + F["Qle"], F["Qh_plus_Qle"], rtol=0, atol=1e-10)
        assert np.allclose(F["Qh"], 1.5 * F["Qle"], rtol=1e-14, atol=1e-12)   # Bowen ratio
        emitted = p.eps * SIGMA * sim.Ts**4
        reflected = (1 - p.eps) * f.lw_down if longwave == "kirchhoff" else 0.0
        assert np.allclose(F["LWup"], emitted + reflected, rtol=1e-14, atol=0)
        # Qg enters the top half cell: storage + conduction to node 1
        T = sim.T
        storage = p.C * dx / 2 * np.diff(T[:, 0]) / dt
        conduction = p.lam * (T[1:, 0] - T[1:, 1]) / dx
        assert np.abs(F["Qg"][1:] - storage - conduction).max() < 1e-8


def test_unknown_bowen_ratio_gives_nan_partition(paper_forcing):
    p = Params(alpha=0.2, eps=0.95, lam=0.8, C=2.2e6, T_b=293.0, h_eff=25.0)
    sim = _run(paper_forcing, p)
    assert np.all(np.isnan(sim.fluxes["Qh"])) and np.all(np.isnan(sim.fluxes["Qle"]))
    assert np.all(np.isfinite(sim.fluxes["Qh_plus_Qle"]))


# --------------------------------------------------------------------------- initial states

def test_profile_initial_state_and_spinup_periodicity(paper_forcing, paper_params):
    f, p = paper_forcing, paper_params
    z, dx = paper_grid()
    prof = 290.0 + 3.0 * z
    sim = fortran.simulate(z, 3600.0, f.sw_down, f.lw_down, f.t_air, p, dx=dx, init="profile",
                           init_profile=prof)
    assert np.array_equal(sim.T[0], prof)
    spun = fortran.simulate(z, 3600.0, f.sw_down, f.lw_down, f.t_air, p, dx=dx, init="spinup",
                            spinup_tol=1e-6, spinup_max_cycles=2000)
    assert spun.spinup_cycles > 5
    # periodic: one more day of the same forcing returns (within tol) to the start profile
    again = fortran.simulate(z, 3600.0, f.sw_down[:25], f.lw_down[:25], f.t_air[:25], p, dx=dx,
                             init="profile", init_profile=spun.T[0])
    assert np.abs(again.T[24] - spun.T[0]).max() <= 1e-6
    with pytest.raises(FortranError, match="spin-up"):
        fortran.simulate(z, 3600.0, f.sw_down, f.lw_down, f.t_air, p, dx=dx, init="spinup",
                         spinup_tol=1e-9, spinup_max_cycles=3)


# --------------------------------------------------------------------------- errors

def _raw_args(nz=11, nt=4, params=None, **over):
    z = np.arange(nz) * 0.1
    a = dict(z=z, dx=0.0, dt=3600.0, sw=np.full(nt + 1, 100.0), lw=np.full(nt + 1, 300.0),
             ta=np.full(nt + 1, 290.0),
             params=np.array(params or [0.2, 0.95, 0.8, 2.2e6, 293.0, 25.0, 1.5]),
             solver=1, longwave=1, bottom=1, init=1, t_init=np.full(nz, 293.0), tol=1e-10,
             max_iter=50, spinup_tol=1e-3, spinup_max=10,
             t_out=np.zeros((nz, nt + 1), order="F"), flux_out=np.zeros((7, nt + 1), order="F"),
             niter=np.zeros(nt, dtype=np.int32))
    a.update(over)
    return a


def _raw(**a):
    ncycles, errmsg, errflg = raw.sebcal_api_simulate(**a)
    return int(errflg), errmsg.decode().strip()


@pytest.mark.parametrize("index,value,word", [(0, 1.5, "alpha"), (1, 0.0, "emissivity"),
                                              (2, -0.1, "lambda"), (3, 0.0, "heat_capacity"),
                                              (5, -1.0, "h_eff"), (4, np.nan, "t_bottom")])
def test_fortran_rejects_out_of_range_parameters(index, value, word):
    p = [0.2, 0.95, 0.8, 2.2e6, 293.0, 25.0, 1.5]
    p[index] = value
    flg, msg = _raw(**_raw_args(params=p))
    assert flg == 2 and word in msg


def test_fortran_error_codes_for_grid_forcing_and_convergence():
    flg, msg = _raw(**_raw_args(z=np.array([0.0, 0.1, 0.1, 0.3] + [0.4 + i for i in range(7)])))
    assert flg == 1 and "increase" in msg
    flg, msg = _raw(**_raw_args(ta=np.array([290.0, 290.0, np.nan, 290.0, 290.0])))
    assert flg == 4 and "step 2" in msg
    flg, msg = _raw(**_raw_args(ta=np.full(5, -5.0)))
    assert flg == 4 and "Celsius" in msg
    flg, msg = _raw(**_raw_args(max_iter=1, tol=1e-14))
    assert flg == 5 and "max_iter" in msg
    flg, msg = _raw(**_raw_args(solver=7))
    assert flg == 3 and "solver" in msg


def test_wrong_shapes_and_dtypes_raise_instead_of_being_reinterpreted():
    # sizes are checked in Fortran against each other ...
    flg, msg = _raw(**_raw_args(lw=np.full(3, 300.0)))
    assert flg == 3 and "lw" in msg
    flg, msg = _raw(**_raw_args(t_out=np.zeros((12, 5), order="F")))
    assert flg == 3 and "t_out rows" in msg
    # ... f90wrap's type check refuses float32 ...
    with pytest.raises(TypeError):
        raw.sebcal_api_simulate(**_raw_args(sw=np.full(5, 100.0, dtype=np.float32)))
    # ... f2py refuses a wrong fixed-size parameter vector ...
    with pytest.raises(ValueError):
        raw.sebcal_api_simulate(**_raw_args(params=[0.2, 0.95, 0.8]))
    # ... and the Python layer names the argument
    z = np.arange(11) * 0.1
    p = Params()
    with pytest.raises(ValueError, match="lw_down must have 5 values"):
        fortran.simulate(z, 3600.0, np.ones(5), np.ones(4), np.full(5, 290.0), p)
    with pytest.raises(ValueError, match="t_air has a non-finite value at index 1"):
        fortran.simulate(z, 3600.0, np.ones(5), np.ones(5), [290, np.nan, 290, 290, 290], p)
    with pytest.raises(ConfigError, match="unknown solver 'newton'"):
        fortran.simulate(z, 3600.0, np.ones(5), np.ones(5), np.full(5, 290.0), p, solver="newton")
    with pytest.raises(FortranError) as exc:
        fortran.simulate(z[::-1], 3600.0, np.ones(5), np.ones(5), np.full(5, 290.0), p)
    assert exc.value.errflg == 1


def test_constants_agree_with_python():
    c = fortran.constants()
    assert c["sigma"] == SIGMA
    assert c["nflux"] == len(fortran.FLUX_NAMES)


# --------------------------------------------------------------------------- namelist + host API

NML = """! sebcal scheme namelist
&sebcal_params
  alpha = 0.2, emissivity = 0.95, lambda = 0.8, heat_capacity = 2.2e6,
  t_bottom = 293.0, h_eff = 25.0, bowen = 1.5
/
&sebcal_grid
  nodes = 101, depth = 1.0
/
&sebcal_options
  dt = 3600.0, solver = 'direct', longwave = 'paper', bottom = 'dirichlet', init = 'uniform'
/
"""


def test_fortran_reads_its_namelist(tmp_path):
    path = tmp_path / "sebcal.nml"
    path.write_text(NML)
    s = fortran.read_namelist(path)
    assert s["params"] == Params(alpha=0.2, eps=0.95, lam=0.8, C=2.2e6, T_b=293.0, h_eff=25.0,
                                 beta=1.5)
    assert len(s["node_depths"]) == 101 and s["dx"] == 0.01 and s["node_depths"][5] == 0.05
    assert (s["solver"], s["longwave"], s["bottom"], s["init"]) == ("direct", "paper",
                                                                     "dirichlet", "uniform")
    assert s["tol"] == 1e-10 and s["max_iter"] == 50 and s["dt"] == 3600.0


@pytest.mark.parametrize("edit,words", [
    (("lambda = 0.8", "lamda = 0.8"), ["sebcal_params", "lamda"]),
    (("&sebcal_grid\n  nodes = 101, depth = 1.0\n/\n", ""), ["sebcal_grid", "not found"]),
    (("h_eff = 25.0, ", ""), ["h_eff"]),
    (("solver = 'direct'", "solver = 'thomas'"), ["solver", "thomas"]),
    (("depth = 1.0", "depth = 1.0, node_depths = 0.0, 0.1"), ["both"]),
])
def test_bad_namelists_name_group_and_key(tmp_path, edit, words):
    path = tmp_path / "bad.nml"
    path.write_text(NML.replace(*edit))
    with pytest.raises(FortranError) as exc:
        fortran.read_namelist(path)
    for w in words:
        assert w in str(exc.value)
    with pytest.raises(FortranError, match="not found"):
        fortran.read_namelist(tmp_path / "missing.nml")


def test_host_interface_matches_whole_run(tmp_path, paper_forcing, paper_params):
    path = tmp_path / "sebcal.nml"
    path.write_text(NML)
    f = paper_forcing
    ref = _run(f, paper_params)
    with fortran.Scheme(path) as s:
        assert s.nz == 101 and np.array_equal(s.node_depths, np.arange(101) * 0.01)
        T1, F1 = s.run(f.sw_down[1:51], f.lw_down[1:51], f.t_air[1:51])
        T2, F2 = s.run(f.sw_down[51:], f.lw_down[51:], f.t_air[51:])   # restartable in chunks
        assert np.array_equal(s.state, T2[-1])
    T = np.vstack([T1, T2])
    assert np.abs(T - ref.T[1:]).max() == 0.0
    assert np.abs(np.concatenate([F1["Qg"], F2["Qg"]]) - ref.fluxes["Qg"][1:]).max() == 0.0
    with pytest.raises(FortranError, match="not initialised"):
        s.run(f.sw_down[1:3], f.lw_down[1:3], f.t_air[1:3])


@pytest.mark.skipif(shutil.which("gfortran") is None,
                    reason="gfortran not on PATH: the stand-alone driver cannot be built")
def test_standalone_fortran_driver_without_python(tmp_path, root, paper_forcing, paper_params):
    exe = tmp_path / "sebcal_driver"
    src = [root / "fortran" / f for f in ("sebcal_const.f90", "sebcal_column.f90",
                                          "sebcal_simulate.f90", "sebcal_namelist.f90",
                                          "sebcal_scheme.f90")]
    src.append(root / "fortran" / "driver" / "sebcal_driver.f90")
    subprocess.run(["gfortran", "-O2", f"-J{tmp_path}", "-o", str(exe), *map(str, src)],
                   check=True, capture_output=True)
    nml = tmp_path / "sebcal.nml"
    nml.write_text(NML)
    f = paper_forcing
    forcing = tmp_path / "forcing.txt"
    np.savetxt(forcing, np.column_stack([f.sw_down[1:], f.lw_down[1:], f.t_air[1:]]),
               header="K_down L_down Ta", fmt="%.17g")
    out = tmp_path / "out.txt"
    proc = subprocess.run([str(exe), str(nml), str(forcing), str(out)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = np.loadtxt(out)
    ref = _run(f, paper_params)
    assert data.shape == (100, 7 + 101)
    assert np.abs(data[:, 7:] - ref.T[1:]).max() < 1e-12
    assert np.abs(data[:, 6] - ref.fluxes["Qg"][1:]).max() < 1e-9
    # an error comes back as a message and exit status 1, not a crash
    nml.write_text(NML.replace("lambda = 0.8", "lambda = -0.8"))
    proc = subprocess.run([str(exe), str(nml), str(forcing), str(out)], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "lambda" in proc.stdout
