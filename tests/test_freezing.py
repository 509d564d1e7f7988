"""Freeze-thaw of the soil water (docs/theory.md sec. 4d, eq. 15-17): the closed forms of the
one-phase Stefan and two-phase Neumann problems, energy conservation through a freeze-thaw
cycle, the host's unfrozen-water curve, and the limit without water."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import ALL_PARAMS, synthetic_forcing
from sebcal import fortran
from sebcal.params import Params
from sebcal.spec import ModelSpec, stretched_grid
from sebcal.vocabulary import CONSTANTS, FORCING, NFORC

pytestmark = pytest.mark.physics

TF = CONSTANTS["t_freeze"][0]
LF = CONSTANTS["l_fusion"][0]
RHO_W = CONSTANTS["rho_water"][0]
G = CONSTANTS["gravity"][0]
LAM, CAP, WATER = 0.8, 2.2e6, 0.3          # bulk lambda, C and total water of the test soil
T_SURF = TF - 10.0                         # the step at the surface [K]


# --------------------------------------------------------------------------- closed forms


def _bisect(f, a: float, b: float) -> float:
    fa = f(a)
    for _ in range(200):
        m = 0.5 * (a + b)
        fm = f(m)
        if (fm > 0) == (fa > 0):
            a, fa = m, fm
        else:
            b = m
    return 0.5 * (a + b)


def neumann(z: np.ndarray, t: float, t_init: float) -> tuple[float, np.ndarray]:
    """Front depth X [m] and temperature [K] of the Neumann solution (Carslaw and Jaeger 1959,
    sec. 11.2): a half-space of liquid at t_init >= T_f whose surface is held at T_SURF < T_f
    from t = 0, with the same lambda and C in both phases and latent heat L = rho_w L_f theta
    per volume. X = 2 k sqrt(alpha t), alpha = lambda/C, with k the root of

        exp(-k^2)/erf(k) - (t_init - T_f)/(T_f - T_s) exp(-k^2)/erfc(k)
            = k sqrt(pi) L/(C (T_f - T_s));

    frozen: T = T_s + (T_f - T_s) erf(eta)/erf(k), liquid: T = t_init - (t_init - T_f)
    erfc(eta)/erfc(k), eta = z/(2 sqrt(alpha t)). t_init = T_f is the one-phase Stefan problem."""
    lat = RHO_W * LF * WATER
    alpha = LAM / CAP
    r = (t_init - TF) / (TF - T_SURF)

    def f(k):
        return (math.exp(-k * k) / math.erf(k) - r * math.exp(-k * k) / math.erfc(k)
                - k * math.sqrt(math.pi) * lat / (CAP * (TF - T_SURF)))
    k = _bisect(f, 1e-8, 5.0)
    eta = z / (2 * math.sqrt(alpha * t))
    erf = np.vectorize(math.erf)
    frozen = T_SURF + (TF - T_SURF) * erf(eta) / math.erf(k)
    liquid = t_init - (t_init - TF) * (1 - erf(eta)) / math.erfc(k)
    return 2 * k * math.sqrt(alpha * t), np.where(eta < k, frozen, liquid)


def step_run(dz: float, dt: float, t_end: float, t_init: float, delta: float = 1e-3,
             scheme: str = "backward_euler") -> tuple[float, np.ndarray, np.ndarray]:
    """The scheme on the Neumann problem: 2 m of soil, no flux at the bottom, the top node held
    at T_SURF; the linear curve of width delta [K] approximates the sharp front. Returns the
    front depth from the ice content (sum of the nodes' frozen water over theta), the final
    profile and the node depths."""
    z = np.arange(0.0, 2.0 + dz / 2, dz)
    spec = ModelSpec(z, dx=dz, dt=dt, options={
        "top": "temperature", "bottom": "zero_flux", "init": "profile", "freezing": "linear",
        "time_scheme": scheme}, init_profile=np.full(z.size, t_init), max_iter=200)
    n = int(round(t_end / dt))
    rows = np.zeros((NFORC, n))
    rows[FORCING["Ttop"].row - 1] = T_SURF
    col = fortran.Column(spec, Params({"lambda": LAM, "C": CAP, "dT_freeze": delta}),
                         state=np.r_[T_SURF, np.full(z.size - 1, t_init)])
    T, _ = col.advance(rows, np.full((z.size, n), WATER))
    last = T[-1]
    _, w = spec.geometry()
    liquid = WATER * np.clip(1 - (TF - last) / delta, 0.0, 1.0)
    return float(np.sum(w * (WATER - liquid)) / WATER), last, z


def errors(dz: float, dt: float, t_init: float, scheme: str = "backward_euler"
           ) -> tuple[float, float]:
    """|front error| [m] and the RMS temperature error over the column [K] after two days."""
    t_end = 2 * 86400.0
    x, last, z = step_run(dz, dt, t_end, t_init, scheme=scheme)
    xe, te = neumann(z, t_end, t_init)
    _, w = ModelSpec(z, dx=dz).geometry()
    return abs(x - xe), float(np.sqrt(np.sum(w * (last - te) ** 2) / z[-1]))


def test_the_closed_form_solves_its_stefan_condition():
    """The Neumann solution (independent of the scheme) meets its own interface condition:
    lambda [dT/dz] across the front = L dX/dt, by finite differences of the formula."""
    t, t_init, d = 86400.0, TF + 2.0, 1e-6
    x, _ = neumann(np.zeros(1), t, t_init)
    lo, hi = neumann(np.array([x - 2 * d, x - d]), t, t_init)[1], \
        neumann(np.array([x + d, x + 2 * d]), t, t_init)[1]
    jump = LAM * ((lo[1] - lo[0]) / d - (hi[1] - hi[0]) / d)
    dxdt = (neumann(np.zeros(1), t + 1.0, t_init)[0] - neumann(np.zeros(1), t - 1.0, t_init)[0]) / 2
    assert jump == pytest.approx(RHO_W * LF * WATER * dxdt, rel=1e-4)


@pytest.mark.parametrize("t_init", [TF + 2.0, TF], ids=["neumann", "stefan"])
def test_front_and_profile_converge_in_space(t_init):
    """Halving dz twice (with dt ~ dz^2, so that the first-order time error follows the spatial
    one) the profile converges at first order overall, the order of the fixed-grid enthalpy
    method with a sharp front inside a cell (docs/theory.md, sec. 4d; irregular from one grid
    to the next as the front crosses nodes), and the front lies within a small fraction of dz."""
    rows = [(dz, *errors(dz, 600.0 * (dz / 0.04) ** 2, t_init)) for dz in (0.04, 0.02, 0.01)]
    rms = [r[2] for r in rows]
    assert math.log2(rms[0] / rms[2]) / 2 > 0.75, rows
    assert rms[1] < rms[0] and rms[2] < rms[1], rows
    for dz, front, _ in rows:
        assert front < 0.05 * dz, rows
    assert rms[-1] < 0.02


def test_front_and_profile_converge_in_time():
    """On a fine grid (dz = 2.5 mm), halving dt halves the errors of backward Euler in the
    front depth and the profile: first order in time."""
    rows = [errors(0.0025, dt, TF + 2.0) for dt in (28800.0, 14400.0, 7200.0, 3600.0)]
    for j, least in ((0, 0.7), (1, 0.9)):
        e = [r[j] for r in rows]
        orders = [math.log2(e[k] / e[k + 1]) for k in range(3)]
        assert min(orders) > least and max(orders) < 1.3, rows


# --------------------------------------------------------------------------- conservation


@pytest.mark.parametrize("curve", ["linear", "niu_yang"])
@pytest.mark.parametrize("scheme", ["backward_euler", "crank_nicolson"])
def test_energy_is_conserved_through_a_freeze_thaw_cycle(curve, scheme):
    """A heat flux draws 3 days of cold into a column at 1 degC and gives it back: the heat
    content with the latent heat of the liquid water (eq. 15) changes by exactly the heat that
    entered (theta-weighted fluxes of each step), to the Newton tolerance, although most of the
    water froze and thawed again."""
    z = stretched_grid(1.5, 41, 0.01)
    dt = 1800.0
    n = 6 * 48
    t = np.arange(1, n + 1) * dt
    flux = -120.0 * np.sin(2 * np.pi * t / (6 * 86400.0))
    spec = ModelSpec(z, dt=dt, options={"top": "flux", "bottom": "zero_flux", "init": "profile",
                                        "freezing": curve, "time_scheme": scheme},
                     init_profile=np.full(z.size, TF + 1.0))
    params = Params({"lambda": LAM, "C": CAP, "porosity": 0.45, "psi_sat": 0.3,
                     "b_clapp": 6.0, "dT_freeze": 0.5})
    rows = np.zeros((NFORC, n))
    rows[FORCING["Gtop"].row - 1] = flux
    theta = np.full((z.size, n), WATER)
    col = fortran.Column(spec, params, state=np.full(z.size, TF + 1.0))
    T, _ = col.advance(rows, theta)
    prof = np.vstack([np.full(z.size, TF + 1.0), T])
    H = fortran.heat_content(spec, params, prof, np.full((n + 1, z.size), WATER))
    th = spec.theta
    g_old = np.r_[0.0, flux[:-1]]
    entered = np.cumsum(dt * (th * flux + (1 - th) * g_old))
    assert T.min() < TF - 3                    # it froze ...
    assert T[-1].min() > TF - 0.2               # ... and thawed (nearly) again
    assert np.abs(H[1:] - H[0] - entered).max() < 1e-6 * np.abs(entered).max()


# --------------------------------------------------------------------------- curves, limits


def test_unfrozen_water_is_the_hosts_curve():
    """The heat content of a uniform column (C T + rho_w L_f wl(T) per volume) gives back the
    liquid water of Noah-MP's SoilWaterSupercoolNiu06, written here from the host's source:
    wl = min(theta, SMCMAX (L_f (T_f - T)/(g T PSISAT))^(-1/BEXP))."""
    z = np.linspace(0.0, 1.0, 11)
    spec = ModelSpec(z, options={"freezing": "niu_yang", "bottom": "zero_flux"})
    phi, psi, b = 0.439, 0.355, 5.25         # Noah-MP SOILPARM.TBL, loam
    params = Params({**ALL_PARAMS, "lambda": LAM, "C": CAP, "porosity": phi, "psi_sat": psi,
                     "b_clapp": b})
    _, w = spec.geometry()
    for theta in (0.1, 0.3):
        for temp in (TF + 1.0, TF - 0.01, TF - 0.5, TF - 3.0, TF - 15.0):
            hc = fortran.heat_content(spec, params, np.full((1, z.size), temp),
                                      np.full((1, z.size), theta))[0]
            wl = (hc / w.sum() - CAP * temp) / (RHO_W * LF)
            if temp >= TF:
                host = theta
            else:
                host = min(theta, phi * (LF * (TF - temp) / (G * temp * psi)) ** (-1 / b))
            assert wl == pytest.approx(host, rel=1e-8, abs=1e-10), (theta, temp)


@pytest.mark.parametrize("soil", ["constant", "johansen"])
def test_no_water_gives_the_scheme_without_freezing_bit_for_bit(soil):
    """Without water there is nothing to freeze: the run equals the run without the option
    bit for bit, for every node and level."""
    f = synthetic_forcing()
    z = stretched_grid(2.0, 31, 0.01)
    runs = []
    for freezing in ("none", "niu_yang"):
        spec = ModelSpec(z, dt=1800.0, options={"freezing": freezing, "soil_thermal": soil})
        p = Params({**ALL_PARAMS, "psi_sat": 0.3, "b_clapp": 5.0})
        col = fortran.Column(spec, p)
        rows = f.rows(spec.options)[:, 1:]
        theta = np.zeros((z.size, rows.shape[1])) if freezing != "none" or soil != "constant" \
            else None
        runs.append(col.advance(rows, theta)[0])
    assert np.array_equal(runs[0], runs[1])


def test_warm_soil_with_water_is_the_scheme_without_freezing():
    """Above the freezing point all water is liquid and stays so: the latent terms cancel and
    the run agrees with the run without the option to the Newton tolerance."""
    f = synthetic_forcing()
    z = stretched_grid(2.0, 31, 0.01)
    runs = []
    for freezing in ("none", "niu_yang"):
        spec = ModelSpec(z, dt=1800.0, options={"freezing": freezing})
        p = Params({**ALL_PARAMS, "psi_sat": 0.3, "b_clapp": 5.0})
        col = fortran.Column(spec, p)
        rows = f.rows(spec.options)[:, 1:]
        runs.append(col.advance(rows, np.full((z.size, rows.shape[1]), 0.3))[0])
    assert np.abs(runs[0] - runs[1]).max() < 1e-9


def test_freezing_slows_the_cooling_near_zero():
    """With water the soil lingers near 0 degC while it freezes (the zero curtain); without the
    option the same column cools straight through."""
    x_no = step_run(0.02, 600.0, 86400.0, TF + 2.0, delta=1.0)[1]
    assert x_no[5] > TF - 1.0
    z = np.arange(0.0, 2.01, 0.02)
    spec = ModelSpec(z, dx=0.02, dt=600.0, options={"top": "temperature", "bottom": "zero_flux",
                                                     "init": "profile"},
                     init_profile=np.full(z.size, TF + 2.0))
    rows = np.zeros((NFORC, 144))
    rows[FORCING["Ttop"].row - 1] = T_SURF
    dry = fortran.Column(spec, Params({"lambda": LAM, "C": CAP}),
                         state=np.r_[T_SURF, np.full(z.size - 1, TF + 2.0)]).advance(rows)[0][-1]
    assert dry[5] < TF - 2.0


# --------------------------------------------------------------------------- tangents

TANGENT_CASES = [
    ({"freezing": "niu_yang"},
     ["alpha", "h_eff", "T_b", "lambda", "C", "porosity", "psi_sat", "b_clapp"]),
    ({"freezing": "linear", "time_scheme": "crank_nicolson"},
     ["alpha", "T_b", "lambda", "C", "dT_freeze"]),
    ({"freezing": "niu_yang", "soil_thermal": "johansen"},
     ["alpha", "T_b", "porosity", "lambda_dry", "lambda_solids", "C_dry", "psi_sat", "b_clapp"]),
    ({"freezing": "niu_yang", "top": "temperature", "bottom": "zero_flux", "init": "profile"},
     ["lambda", "C", "psi_sat", "b_clapp"]),
    ({"freezing": "linear", "top": "flux", "bottom": "series", "init": "profile"},
     ["lambda", "C", "dT_freeze"]),
]


@pytest.mark.parametrize("options,names", TANGENT_CASES,
                         ids=["-".join(o.values()) for o, _ in TANGENT_CASES])
def test_tangents_match_central_differences_through_freezing(options, names):
    """The tangent-linear model with freeze-thaw (one_step_freezing) against central
    differences of the Fortran forward model, in a run whose top 10 cm freeze and thaw."""
    from test_tangent import _check, _forcing

    f = _forcing()
    f = f.replace(Tair=np.full(f.nt + 1, 265.0), Ttop=f.data["Ttop"] - 22.0,
                  Tbottom=np.full(f.nt + 1, 275.0), Gtop=f.data["Gtop"] - 40)
    z = np.linspace(0, 1.0, 21)
    p = Params({"alpha": 0.2, "eps": 0.95, "h_eff": 20.0, "T_b": 275.0, "porosity": 0.45,
                "psi_sat": 0.3, "b_clapp": 5.0, "dT_freeze": 1.0, "lambda_dry": 0.25,
                "lambda_solids": 3.0, "C_dry": 1.2e6, "lambda": 0.8, "C": 2.2e6})
    prof = np.full(z.size, 275.0) if options.get("init") == "profile" else None
    spec = ModelSpec(z, dt=3600.0, options=options, tol=1e-13, init_profile=prof)
    T = fortran.simulate(spec, f, p).T
    assert (T[:, 1] < TF - 0.5).any()           # the 5 cm node holds ice
    _check(spec, f, p, names, probes=(0, 1, 2, 5))


# --------------------------------------------------------------------------- verify gate

VERIFY_SETS = {
    "niu_yang": {"physics": {"freezing": "niu_yang"}},
    "niu_yang johansen bulk": {"physics": {"freezing": "niu_yang", "soil_thermal": "johansen",
                                           "turbulence": "bulk", "latent": "resistance"}},
    "linear crank-nicolson": {"physics": {"freezing": "linear"},
                              "solver": {"time_scheme": "crank_nicolson"}},
    "niu_yang top temperature": {"physics": {"freezing": "niu_yang", "top": "temperature",
                                             "bottom": "zero_flux"},
                                 "grid": {"depth": 2.0, "nodes": 21, "first_spacing": 0.02,
                                          "top_depth": 0.02}},
}


@pytest.mark.crosscheck
@pytest.mark.gradient
@pytest.mark.parametrize("name", VERIFY_SETS)
def test_verify_passes_with_freezing_on(name, tmp_path):
    """``sebcal verify`` with freeze-thaw: the PyTorch mirror equals the Fortran to round-off
    and its gradients equal central differences of the Fortran, in two days whose top
    centimetres freeze every night."""
    from sebcal.config import parse_config
    from sebcal.verification import verify

    params = {k: v for k, v in ALL_PARAMS.items() if k != "z_ref"}
    params.update({"T_b": 276.0, "psi_sat": 0.3, "b_clapp": 5.0, "dT_freeze": 1.0})
    d = {"parameters": params, "site": {"measurement_height": 10.0},
         "grid": {"depth": 2.0, "nodes": 21, "first_spacing": 0.02},
         "time": {"dt": 1800, "steps": 96},
         "forcing": {"wind": 3.0, "psurf": 1e5, "qair": 0.002, "lw_down": 250.0,
                     "soil_moisture": 0.25,
                     "top": {"file": str(tmp_path / "unused.nc"), "name": "T"}}}
    for table, vals in VERIFY_SETS[name].items():
        d[table] = {**d.get(table, {}), **vals}
    cfg = parse_config(d)
    f = synthetic_forcing(96)
    f = f.replace(Tair=f.data["Tair"] - 25.0, LWdown=f.data["LWdown"] - 80.0,
                  Ttop=f.data["Ttop"] - 23.0, Qair=np.full(97, 0.002))
    T = fortran.simulate(cfg.spec, f, cfg.params).T
    assert (T < TF - 0.5).any()                 # it froze
    res = verify(cfg, forcing=f)
    worst_t = res["max_abs_diff"]["SoilTemp"]["value"]
    print(f"\n{name}: |dT| {worst_t:.1e} K, gradients {len(res['gradients'])}, worst rel "
          f"{max(g['rel_error'] for g in res['gradients'].values()):.1e}")
    assert res["passed"], {k: v for k, v in res["gradients"].items() if not v["passed"]}
    assert len(res["gradients"]) >= 3


# --------------------------------------------------------------------------- verdict


def test_the_verdict_flags_frozen_soil_without_the_option():
    """Observed soil at or below 0 degC and no freeze-thaw in the model: the verdict says so
    (and a clean fit becomes usable with caveats); with the option on, or with warm soil, no
    such reason."""
    from sebcal.calibration.verdict import CAVEATS, USABLE, frozen_soil_of, with_frozen_soil
    from sebcal.observations import Observation

    t = 273.15 + np.array([3.0, 1.0, -0.5, -2.0, np.nan, 0.5])
    obs = [Observation("T5", "SoilTemp", 0.05, t), Observation("T50", "SoilTemp", 0.5, t + 5),
           Observation("H", "Qh", None, np.full(6, -300.0))]
    mask = np.ones(6, dtype=bool)
    clean = {"status": USABLE, "reasons": [], "notes": [], "exit_status": 0}
    frozen = frozen_soil_of(obs, mask, {"freezing": "none"})
    assert frozen["n"] == 2 and frozen["of"] == 10 and frozen["labels"] == ["T5"]
    v = with_frozen_soil(clean, frozen)
    assert v["status"] == CAVEATS
    assert "freezing point" in v["reasons"][0] and 'freezing = "niu_yang"' in v["reasons"][0]
    assert "-2.0 degC" in v["reasons"][0]
    assert frozen_soil_of(obs, mask, {"freezing": "niu_yang"}) is None
    assert frozen_soil_of(obs, np.array([1, 1, 0, 0, 1, 1], bool), {"freezing": "none"}) is None
    assert with_frozen_soil(clean, None) == clean


def test_a_frozen_winter_record_is_flagged_without_the_option(tmp_path):
    """The bundled Baltimore winter (examples/baltimore_winter.toml, January 2003): the 10 cm
    soil of the tower's own file reaches -3.5 degC, so without the option the verdict's rule
    fires on the record; the example's constant soil moisture reaches every node."""
    from conftest import ROOT
    from sebcal.calibration.verdict import frozen_soil_of
    from sebcal.config import load_config
    from sebcal.observations import load_observations, windows
    from sebcal.runner import forcing_for

    ex = ROOT / "examples"
    text = (ex / "baltimore_winter.toml").read_text().replace('"data/', f'"{ex}/data/')
    assert 'freezing = "niu_yang"' in text
    path = tmp_path / "winter.toml"
    path.write_text(text)
    cfg = load_config(path)
    theta = forcing_for(cfg).theta_at(cfg.spec.node_depths, cfg.spec.options)
    assert np.all(theta == 0.30)
    obs = load_observations(cfg)
    w = windows(cfg)
    assert frozen_soil_of(obs, w.calibration | w.evaluation, cfg.spec.options) is None
    off = tmp_path / "off.toml"
    off.write_text(text.replace('freezing = "niu_yang"', 'freezing = "none"'))
    cfg = load_config(off)
    frozen = frozen_soil_of(load_observations(cfg), w.calibration | w.evaluation,
                            cfg.spec.options)
    assert frozen["labels"] == ["T10"] and frozen["n"] > 300
    assert frozen["coldest"] - 273.15 == pytest.approx(-3.48, abs=0.01)
