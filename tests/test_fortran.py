"""The Fortran reference scheme: published targets, discrete equations, closed form,
conservation, interface, errors, namelist, host-owned columns and the stand-alone driver."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from sebcal.fortran_wrap import sebcal_api as raw

from conftest import paper_grid
from sebcal import fortran
from sebcal.errors import ConfigError, FortranError
from sebcal.forcing import Forcing
from sebcal.params import SIGMA, Params
from sebcal.spec import ModelSpec, paper_spec
from sebcal.vocabulary import CONSTANTS, NFLUX, NFORC, NOPT, NPSOIL, NPSURF, NRSET

pytestmark = pytest.mark.physics


def _forcing(sw, lw, ta, dt=3600.0) -> Forcing:
    t = (np.arange(len(sw)) * int(dt)).astype("datetime64[s]")
    return Forcing(t, dt, {"SWdown": sw, "LWdown": lw, "Tair": ta}, source="test")


# --------------------------------------------------------------------------- published targets

def test_jacobi_reproduces_published_targets_line_for_line(paper_forcing, paper_params,
                                                           paper_targets):
    sim = fortran.simulate(paper_spec(solver="jacobi"), paper_forcing, paper_params)
    for name, node in (("T1", 0), ("T2", 5)):
        ours = [f"{v:<7.6e}" for v in sim.T[:, node]]
        assert ours == paper_targets[name], name
    # the published run took 13,307 sweeps in total (docs/theory.md sec. 4)
    assert int(sim.n_iter.sum()) == 13307


def test_direct_solver_distance_from_published_targets(paper_forcing, paper_params, paper_targets):
    """The exact discrete solution differs from the Jacobi-truncated targets by ~0.004/0.011 K."""
    sim = fortran.simulate(paper_spec(), paper_forcing, paper_params)
    d1 = np.abs(sim.T[:, 0] - np.array(paper_targets["T1"], float)).max()
    d2 = np.abs(sim.T[:, 5] - np.array(paper_targets["T2"], float)).max()
    print(f"\ndirect vs published targets: max |dT| surface {d1:.4f} K, 5 cm {d2:.4f} K")
    assert 0.003 < d1 < 0.005
    assert 0.009 < d2 < 0.012


# --------------------------------------------------------------------------- discrete equations

def _residuals(sim, z, dt, p, f, longwave="paper", bottom="dirichlet", theta=1.0):
    """Residuals [K] of the discrete equations of docs/theory.md eq. 8, written out here."""
    h = np.diff(z)
    w = np.empty_like(z)
    w[0], w[-1] = h[0] / 2, h[-1] / 2
    w[1:-1] = (h[:-1] + h[1:]) / 2
    k = p["lambda"] / p["C"] * dt
    sw, lw, ta = f.sw_down, f.lw_down, f.t_air

    def G(T0, n):
        lw_abs = p.eps * lw[n] if longwave == "kirchhoff" else lw[n]
        return (sw[n] * (1 - p.alpha) + lw_abs - p.eps * SIGMA * T0 ** 4
                - p.h_eff * (T0 - ta[n]))

    def D(T):
        d = np.zeros_like(T)
        d[0] = 2 * k / h[0] ** 2 * (T[1] - T[0])
        d[1:-1] = (k / (w[1:-1] * h[:-1]) * (T[:-2] - T[1:-1])
                   + k / (w[1:-1] * h[1:]) * (T[2:] - T[1:-1]))
        d[-1] = k / (w[-1] * h[-1]) * (T[-2] - T[-1])
        return d

    res = []
    for n in range(1, sim.T.shape[0]):
        T, Tn = sim.T[n], sim.T[n - 1]
        r = T - Tn - theta * D(T) - (1 - theta) * D(Tn)
        r[0] -= 2 * k / h[0] ** 2 * h[0] / p["lambda"] * (theta * G(T[0], n)
                                                          + (1 - theta) * G(Tn[0], n - 1))
        if bottom == "dirichlet":
            r[-1] = T[-1] - p.T_b
        res.append(np.abs(r).max())
    return np.array(res)


@pytest.mark.parametrize("longwave", ["paper", "kirchhoff"])
@pytest.mark.parametrize("bottom", ["dirichlet", "zero_flux"])
@pytest.mark.parametrize("scheme", ["backward_euler", "crank_nicolson"])
def test_direct_solver_solves_the_discrete_equations_to_round_off(paper_forcing, paper_params,
                                                                   longwave, bottom, scheme):
    z = np.concatenate([[0.0], np.cumsum(np.geomspace(0.005, 0.08, 30))])  # stretched grid
    spec = ModelSpec(z, dt=3600.0, tol=1e-12, options=dict(longwave=longwave, bottom=bottom,
                                                          time_scheme=scheme))
    sim = fortran.simulate(spec, paper_forcing, paper_params)
    res = _residuals(sim, z, 3600.0, paper_params, paper_forcing, longwave, bottom, spec.theta)
    # |T| ~ 300 K: round-off of the residual ~1e-12 K; the surface row's residual is the Newton
    # tolerance (1e-12 K) times its diagonal, 1 + c_0 ~ 100 on this grid
    assert res.max() < 1e-9, res.max()
    if scheme == "backward_euler":
        # a Jacobi run converged far past the paper's 1e-4 K lands on the same solution
        jac = fortran.simulate(spec.replace(solver="jacobi", tol=1e-11, max_iter=10 ** 6),
                               paper_forcing, paper_params)
        assert np.abs(jac.T - sim.T).max() < 1e-7


def test_uniform_grid_equals_the_same_depths_given_explicitly(paper_forcing, paper_params):
    z, dx = paper_grid()
    a = fortran.simulate(ModelSpec(z, dx=dx), paper_forcing, paper_params)
    b = fortran.simulate(ModelSpec(z), paper_forcing, paper_params)
    assert np.abs(a.T - b.T).max() < 1e-10


# --------------------------------------------------------------------------- closed form

LAM, CAP, TM, AMP = 0.8, 2.2e6, 293.0, 10.0
OMEGA = 2 * np.pi / 86400.0
DAMP = np.sqrt(2 * LAM / (CAP * OMEGA))          # damping depth d = 0.1 m


def _wave(z, t):
    return TM + AMP * np.exp(-z / DAMP) * np.sin(OMEGA * t - z / DAMP)


def wave_error(dz: float, dt: float, scheme: str = "backward_euler", depth: float = 1.5,
               days: int = 2, backend=None) -> float:
    """Max |T - T_exact| over the last day; the forcing makes G(Ts_exact) the exact flux."""
    nz = int(round(depth / dz)) + 1
    z = np.arange(nz) * dz
    nt = int(round(days * 86400 / dt))
    t = np.arange(nt + 1) * dt
    p = Params({"alpha": 0.0, "eps": 0.95, "lambda": LAM, "C": CAP, "T_b": TM, "h_eff": 10.0})
    ts = _wave(0.0, t)
    g_exact = LAM * AMP / DAMP * (np.sin(OMEGA * t) + np.cos(OMEGA * t))   # -lambda dT/dz at 0
    lw = np.full(nt + 1, 300.0)
    ta = np.full(nt + 1, TM)
    sw = g_exact - lw + p.eps * SIGMA * ts ** 4 + p.h_eff * (ts - ta)
    spec = ModelSpec(z, dx=dz, dt=dt, options={"init": "profile", "time_scheme": scheme},
                     init_profile=_wave(z, 0.0))
    f = _forcing(sw, lw, ta, dt)
    if backend is None:
        T = fortran.simulate(spec, f, p).T
    else:
        T = backend(spec, f, p)
    last = t >= (days - 1) * 86400
    return float(np.abs(T[last] - _wave(z[None, :], t[last, None])).max())


def test_damped_surface_wave_closed_form_and_convergence_orders():
    """Amplitude exp(-z/d) and lag z/d with d = sqrt(2 lambda/(C omega)); started on the profile.

    Backward Euler is first order in dt, Crank-Nicolson second; the finite-volume stencil with
    the half-cell surface node is second order in dz.
    """
    assert abs(DAMP - 0.1) < 1e-3                # the test case is what it says it is
    dts = [3600.0, 1800.0, 900.0, 450.0]
    e_t = [wave_error(0.0025, dt) for dt in dts]
    e_cn = [wave_error(0.0025, dt, "crank_nicolson") for dt in dts[:3]]
    dzs = [0.04, 0.02, 0.01]
    e_z = [wave_error(dz, 5.0) for dz in dzs]
    p_t = np.log2(np.array(e_t[:-1]) / np.array(e_t[1:]))
    p_cn = np.log2(np.array(e_cn[:-1]) / np.array(e_cn[1:]))
    p_z = np.log2(np.array(e_z[:-1]) / np.array(e_z[1:]))
    print("\ndamped wave, max error over day 2 [K]:")
    print("  backward Euler dt [s]:", dts, [f"{e:.3e}" for e in e_t], "order", np.round(p_t, 2))
    print("  Crank-Nicolson dt [s]:", dts[:3], [f"{e:.3e}" for e in e_cn], "order",
          np.round(p_cn, 2))
    print("  dz [m]:", dzs, [f"{e:.3e}" for e in e_z], "order", np.round(p_z, 2))
    assert np.all(np.abs(p_t - 1) < 0.15), p_t
    assert np.all(np.abs(p_cn - 2) < 0.2), p_cn
    assert np.all(np.abs(p_z - 2) < 0.2), p_z
    assert e_z[-1] < 0.02                         # dz = 1 cm, dt = 5 s: close to the closed form
    assert e_cn[-1] < e_t[2] / 20                 # CN is far more accurate at the same dt


# --------------------------------------------------------------------------- conservation

@pytest.mark.parametrize("bottom", ["dirichlet", "zero_flux"])
@pytest.mark.parametrize("scheme", ["backward_euler", "crank_nicolson"])
def test_column_heat_content_change_equals_boundary_fluxes(paper_forcing, paper_params, bottom,
                                                          scheme):
    z = np.concatenate([[0.0], np.cumsum(np.linspace(0.004, 0.06, 40))])
    dt = 3600.0
    spec = ModelSpec(z, dt=dt, options={"bottom": bottom, "longwave": "kirchhoff",
                                        "time_scheme": scheme})
    p = paper_params
    sim = fortran.simulate(spec, paper_forcing, p)
    H = fortran.heat_content(spec, p, sim.T)
    f_bottom = np.zeros(sim.T.shape[0])
    if bottom == "dirichlet":
        f_bottom = p["lambda"] * (sim.T[:, -1] - sim.T[:, -2]) / (z[-1] - z[-2])
    th = spec.theta
    lhs = np.diff(H) / dt                                    # W m-2
    qg = sim.fluxes["Qg"]
    rhs = th * (qg[1:] + f_bottom[1:]) + (1 - th) * (qg[:-1] + f_bottom[:-1])
    # H ~ 1e9 J m-2: its round-off (~1e-7 J m-2) over dt is ~1e-10 W m-2
    assert np.abs(lhs - rhs).max() < 1e-7
    assert np.abs(qg).max() > 10           # the test is not trivially balanced


def test_surface_energy_closed_and_top_cell_balance(paper_forcing, paper_params):
    p, dt = paper_params, 3600.0
    z, dx = paper_grid()
    for longwave in ("paper", "kirchhoff"):
        sim = fortran.simulate(paper_spec(longwave=longwave), paper_forcing, p)
        F = sim.fluxes
        closure = F["SWnet"] + F["LWnet"] - F["Qh"] - F["Qle"] - F["Qg"]
        assert np.abs(closure).max() < 1e-10
        assert np.allclose(F["Qh"] + F["Qle"], F["Qh_plus_Qle"], rtol=0, atol=1e-10)
        assert np.allclose(F["Qh"], 1.5 * F["Qle"], rtol=1e-14, atol=1e-12)   # Bowen ratio
        emitted = p.eps * SIGMA * sim.Ts ** 4
        lw = paper_forcing.lw_down
        reflected = (1 - p.eps) * lw if longwave == "kirchhoff" else 0.0
        absorbed = p.eps * lw if longwave == "kirchhoff" else lw
        assert np.allclose(F["LWup"], emitted + reflected, rtol=1e-14, atol=0)
        assert np.allclose(F["LWnet"], absorbed - emitted, rtol=1e-13, atol=1e-11)
        # Qg enters the top half cell: storage + conduction to node 1
        T = sim.T
        storage = p["C"] * dx / 2 * np.diff(T[:, 0]) / dt
        conduction = p["lambda"] * (T[1:, 0] - T[1:, 1]) / dx
        assert np.abs(F["Qg"][1:] - storage - conduction).max() < 1e-8


def test_unknown_bowen_ratio_gives_nan_partition(paper_forcing):
    p = Params({"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
                "h_eff": 25.0})
    sim = fortran.simulate(paper_spec(), paper_forcing, p)
    assert np.all(np.isnan(sim.fluxes["Qh"])) and np.all(np.isnan(sim.fluxes["Qle"]))
    assert np.all(np.isfinite(sim.fluxes["Qh_plus_Qle"]))


# --------------------------------------------------------------------------- initial states

def test_profile_initial_state_and_spinup_periodicity(paper_forcing, paper_params):
    f, p = paper_forcing, paper_params
    z, dx = paper_grid()
    prof = 290.0 + 3.0 * z
    sim = fortran.simulate(paper_spec(init="profile", init_profile=prof), f, p)
    assert np.array_equal(sim.T[0], prof)
    spun = fortran.simulate(paper_spec(init="spinup", spinup_tol=1e-6, spinup_max_cycles=2000),
                            f, p)
    assert spun.spinup_cycles > 5
    # periodic: one more day of the same forcing returns (within tol) to the start profile
    again = fortran.simulate(paper_spec(init="profile", init_profile=spun.T[0]),
                             f.window(0, 24), p)
    assert np.abs(again.T[24] - spun.T[0]).max() <= 1e-6
    with pytest.raises(FortranError, match="spin-up"):
        fortran.simulate(paper_spec(init="spinup", spinup_tol=1e-9, spinup_max_cycles=3), f, p)


# --------------------------------------------------------------------------- errors

def _raw_args(nz=11, nt=4, psurf=None, psoil=None, **over):
    z = np.arange(nz) * 0.1
    forc = np.zeros((NFORC, nt + 1), order="F")
    forc[0], forc[1], forc[2] = 100.0, 300.0, 290.0
    ps = np.zeros(NPSURF)
    ps[:5] = [0.2, 0.95, 25.0, 1.5, 293.0]
    if psurf:
        for i, v in psurf.items():
            ps[i] = v
    pl = np.zeros((NPSOIL, nz), order="F")
    pl[0], pl[1] = 0.8, 2.2e6
    if psoil:
        for (i, j), v in psoil.items():
            pl[i, j] = v
    iopt = paper_spec().iopt()
    rset = paper_spec().rset()
    a = dict(z=z, dx=0.0, dt=3600.0, forc=forc, theta=np.zeros((1, 1), order="F"), psurf=ps,
             psoil=pl, iopt=iopt, rset=rset, t_init=np.full(nz, 293.0),
             t_out=np.zeros((nz, nt + 1), order="F"), flux_out=np.zeros((NFLUX, nt + 1),
                                                                        order="F"),
             niter=np.zeros(nt, dtype=np.int32))
    a.update(over)
    return a


def _raw(**a):
    ncycles, errmsg, errflg = raw.sebcal_api_simulate(**a)
    return int(errflg), errmsg.decode().strip()


@pytest.mark.parametrize("which,value,word", [
    ({"psurf": {0: 1.5}}, None, "alpha"), ({"psurf": {1: 0.0}}, None, "eps"),
    ({"psoil": {(0, 3): -0.1}}, None, "lambda"), ({"psoil": {(1, 0): 0.0}}, None, "C"),
    ({"psurf": {2: -1.0}}, None, "h_eff"), ({"psurf": {4: np.nan}}, None, "T_b"),
    ({"psoil": {(1, 2): 1e308}}, None, "C")])
def test_fortran_rejects_out_of_range_parameters(which, value, word):
    flg, msg = _raw(**_raw_args(**which))
    assert flg == 2 and word in msg, msg


def test_fortran_error_codes_for_grid_forcing_and_convergence():
    flg, msg = _raw(**_raw_args(z=np.array([0.0, 0.1, 0.1, 0.3] + [0.4 + i for i in range(7)])))
    assert flg == 1 and "increase" in msg
    a = _raw_args()
    a["forc"][2, 2] = np.nan
    flg, msg = _raw(**a)
    assert flg == 4 and "step 2" in msg
    a = _raw_args()
    a["forc"][2] = -5.0
    flg, msg = _raw(**a)
    assert flg == 4 and "Celsius" in msg
    a = _raw_args()
    a["iopt"][11], a["rset"][0] = 1, 1e-14
    flg, msg = _raw(**a)
    assert flg == 5 and "max_iter" in msg
    a = _raw_args()
    a["iopt"][0] = 7
    flg, msg = _raw(**a)
    assert flg == 3 and "solver" in msg
    a = _raw_args()
    a["iopt"][0] = 2
    a["iopt"][4] = 2                                  # Jacobi with the bulk turbulence
    flg, msg = _raw(**a)
    assert flg == 3 and "jacobi" in msg and "published" in msg


def test_wrong_shapes_and_dtypes_raise_instead_of_being_reinterpreted():
    # sizes are checked in Fortran against each other ...
    flg, msg = _raw(**_raw_args(forc=np.zeros((8, 5), order="F")))
    assert flg == 3 and "forc rows" in msg
    flg, msg = _raw(**_raw_args(t_out=np.zeros((12, 5), order="F")))
    assert flg == 3 and "t_out rows" in msg
    a = _raw_args()
    a["psoil"] = np.zeros((6, 3), order="F")
    flg, msg = _raw(**a)
    assert flg == 3 and "psoil" in msg
    # ... f90wrap's type check refuses float32 ...
    with pytest.raises(TypeError):
        raw.sebcal_api_simulate(**_raw_args(z=np.arange(11, dtype=np.float32) * 0.1))
    # ... and the Python layer names what is missing
    z = np.arange(11) * 0.1
    spec = ModelSpec(z)
    f = _forcing(np.ones(5), np.full(5, 300.0), np.full(5, 290.0))
    with pytest.raises(ConfigError, match="missing alpha"):
        fortran.simulate(spec, f, Params({"lambda": 0.8, "C": 2e6, "T_b": 290, "h_eff": 20}))
    with pytest.raises(ConfigError, match="dt"):
        fortran.simulate(ModelSpec(z, dt=1800.0), f, Params({"alpha": 0.2, "lambda": 0.8,
                                                             "C": 2e6, "T_b": 290,
                                                             "h_eff": 20}))


def test_constants_and_sizes_agree_with_the_vocabulary():
    c = fortran.constants()
    for name, (value, _, _) in CONSTANTS.items():
        assert c[name] == value, name
    assert (c["nflux"], c["nforc"], c["npsurf"], c["npsoil"], c["nopt"], c["nrset"]) == \
        (NFLUX, NFORC, NPSURF, NPSOIL, NOPT, NRSET)
    assert c["sigma"] == SIGMA


# --------------------------------------------------------------------------- namelist

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
    spec, p = fortran.read_namelist(path)
    assert p == Params({"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
                        "h_eff": 25.0, "beta": 1.5})
    assert spec.nz == 101 and spec.dx == 0.01 and spec.node_depths[5] == 0.05
    assert (spec.solver, spec.longwave, spec.bottom, spec.init) == ("direct", "paper",
                                                                    "dirichlet", "uniform")
    assert spec.tol == 1e-10 and spec.max_iter == 50 and spec.dt == 3600.0


def test_fortran_reads_layers_and_options(tmp_path):
    path = tmp_path / "layered.nml"
    path.write_text("""&sebcal_params alpha=0.2, t_bottom=290.0, z0m=0.01, z_ref=10.0, r_s=80 /
&sebcal_soil nlayers=2, layer_bottoms=0.2, 2.0, lambda=0.6, 1.3, heat_capacity=2.0e6, 2.5e6 /
&sebcal_grid nodes=41, depth=2.0 /
&sebcal_options turbulence='bulk', stability='most', latent='resistance',
  time_scheme='crank_nicolson', bottom='zero_flux' /
""")
    spec, p = fortran.read_namelist(path)
    assert spec.layer_bottoms == (0.2, 2.0)
    assert p["lambda"] == (0.6, 1.3) and p["C"] == (2.0e6, 2.5e6)
    assert (spec.turbulence, spec.stability, spec.latent, spec.time_scheme) == \
        ("bulk", "most", "resistance", "crank_nicolson")
    # nodes take the parameters of the first layer whose bottom is at or below them
    psoil = spec.psoil(p)
    assert np.all(psoil[0, spec.node_depths <= 0.2] == 0.6)
    assert np.all(psoil[0, spec.node_depths > 0.2] == 1.3)


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


# --------------------------------------------------------------------------- host-owned columns

def test_host_owned_column_matches_whole_run_and_instances_are_independent(paper_forcing,
                                                                           paper_params):
    spec, f = paper_spec(), paper_forcing
    ref = fortran.simulate(spec, f, paper_params)
    other = paper_params.replace(**{"lambda": 1.6})
    ref2 = fortran.simulate(spec, f, other)
    rows = f.rows(spec.options)
    a = fortran.Column(spec, paper_params)
    b = fortran.Column(spec, other)
    Ta, Tb = [], []
    for k in range(1, 101, 25):                       # interleaved chunks of 25 steps
        Ta.append(a.advance(rows[:, k:k + 25])[0])
        Tb.append(b.advance(rows[:, k:k + 25])[0])
    assert np.array_equal(np.vstack(Ta), ref.T[1:])
    assert np.array_equal(np.vstack(Tb), ref2.T[1:])
    assert np.array_equal(a.state, ref.T[-1])


def test_a_failing_step_leaves_the_column_as_it_was(paper_params):
    spec = paper_spec()
    c = fortran.Column(spec, paper_params)
    rows = np.zeros((NFORC, 3), order="F")
    rows[0], rows[1], rows[2] = 100.0, 300.0, 290.0
    c.advance(rows[:, :1])
    before = c.state.copy()
    rows[2, 1] = np.nan
    with pytest.raises(FortranError, match="step 2"):
        c.advance(rows)
    assert np.array_equal(c.state, before)
    with pytest.raises(ConfigError, match="alpha"):
        c.set_params(paper_params.replace(alpha=1.5))
    assert c.params.alpha == 0.2
    c.set_params(paper_params.replace(alpha=0.3))
    assert c.params.alpha == 0.3


# --------------------------------------------------------------------------- stand-alone driver

FORTRAN_SOURCES = ("sebcal_const.f90", "sebcal_surface.f90", "sebcal_soil.f90",
                   "sebcal_column.f90", "sebcal_simulate.f90", "sebcal_namelist.f90")


@pytest.mark.skipif(shutil.which("gfortran") is None,
                    reason="gfortran not on PATH: the stand-alone driver cannot be built")
def test_standalone_fortran_driver_without_python(tmp_path, root, paper_forcing, paper_params):
    exe = tmp_path / "sebcal_driver"
    src = [root / "fortran" / f for f in FORTRAN_SOURCES]
    src.append(root / "fortran" / "driver" / "sebcal_driver.f90")
    subprocess.run(["gfortran", "-O2", f"-J{tmp_path}", "-o", str(exe), *map(str, src)],
                   check=True, capture_output=True)
    nml = tmp_path / "sebcal.nml"
    nml.write_text(NML)
    f = paper_forcing
    forcing = tmp_path / "forcing.txt"
    np.savetxt(forcing, np.column_stack([f.sw_down, f.lw_down, f.t_air]),
               header="K_down L_down Ta", fmt="%.17g")
    out = tmp_path / "out.txt"
    proc = subprocess.run([str(exe), str(nml), str(forcing), str(out)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = np.loadtxt(out)
    ref = fortran.simulate(paper_spec(), f, paper_params)
    assert data.shape == (101, 2 + NFLUX + 101)
    assert np.abs(data[:, 9:] - ref.T).max() < 1e-12
    assert np.abs(data[:, 7] - ref.fluxes["Qg"]).max() < 1e-9
    # an error comes back as a message and exit status 1, not a crash
    nml.write_text(NML.replace("lambda = 0.8", "lambda = -0.8"))
    proc = subprocess.run([str(exe), str(nml), str(forcing), str(out)], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "lambda" in proc.stdout
