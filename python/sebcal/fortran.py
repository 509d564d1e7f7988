"""Python access to the Fortran reference scheme (the only module that imports the extension).

Arrays are checked (shape, dtype, finiteness) here before they reach Fortran, and every
non-zero Fortran error flag becomes a :class:`~sebcal.errors.FortranError` with the scheme's
message. The Fortran routines themselves also check array sizes against each other, and the
f90wrap layer is generated with ``--type-check`` so that a wrong dtype raises ``TypeError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import ConfigError, FortranError
from .params import Params

try:
    from .fortran_wrap import sebcal_api as _api
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "the sebcal Fortran extension is not built: install the package with "
        "'pip install .' (or run 'make test'), which compiles it with meson and gfortran"
    ) from exc

#: option name -> Fortran code (fortran/sebcal_const.f90)
SOLVERS = {"direct": 1, "jacobi": 2}
LONGWAVE = {"paper": 1, "kirchhoff": 2}
BOTTOM = {"dirichlet": 1, "zero_flux": 2}
INIT = {"uniform": 1, "profile": 2, "spinup": 3}
#: rows of the Fortran flux arrays [W m-2]; Qh_plus_Qle is the total turbulent flux
FLUX_NAMES = ("SWnet", "LWdown", "LWup", "Qh", "Qle", "Qg", "Qh_plus_Qle")
#: default solver settings: tolerance [K], max iterations per step
SOLVER_DEFAULTS = {"direct": (1e-10, 50), "jacobi": (1e-4, 100000)}


@dataclass(frozen=True)
class Simulation:
    """Output of a forward run at time levels n = 0..nt.

    Attributes:
        z: node depths [m], shape (nz,).
        T: soil temperature [K], shape (nt+1, nz); T[:, 0] is the surface temperature Ts.
        fluxes: surface fluxes [W m-2], each of shape (nt+1,), keyed by :data:`FLUX_NAMES`
            (Qh and Qle are NaN when the Bowen ratio is unknown).
        n_iter: Newton iterations (direct) or Jacobi sweeps per step, shape (nt,).
        spinup_cycles: days repeated by the spin-up (0 without spin-up).
    """

    z: np.ndarray
    T: np.ndarray
    fluxes: dict[str, np.ndarray] = field(repr=False)
    n_iter: np.ndarray = field(repr=False)
    spinup_cycles: int = 0

    @property
    def Ts(self) -> np.ndarray:
        """Surface temperature [K], shape (nt+1,)."""
        return self.T[:, 0]


def param_vector(params: Params) -> np.ndarray:
    """The Fortran parameter vector params(7): alpha, eps, lambda, C, T_b, h_eff, beta (SI).

    beta = None (unknown Bowen ratio) is passed as -1.
    """
    beta = -1.0 if params.beta is None else params.beta
    return np.array([params.alpha, params.eps, params.lam, params.C, params.T_b, params.h_eff, beta],
                    dtype=np.float64)


def _vector(name: str, values: Any, size: int | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} must have {size} values, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} has a non-finite value at index {bad}: gaps must be filled "
                         "before a run (see the gap_policy option of the forcing)")
    return arr


def _option(kind: str, value: str, table: Mapping[str, int]) -> int:
    try:
        return table[value]
    except KeyError:
        raise ConfigError(f"unknown {kind} '{value}': choose one of {', '.join(table)}") from None


def _check(errflg: int, errmsg: Any, routine: str) -> None:
    if int(errflg) != 0:
        msg = errmsg.decode(errors="replace") if isinstance(errmsg, bytes) else str(errmsg)
        raise FortranError(int(errflg), msg, routine)


def simulate(node_depths: Any, dt: float, sw_down: Any, lw_down: Any, t_air: Any, params: Params, *,
             dx: float | None = None, solver: str = "direct", tol: float | None = None,
             max_iter: int | None = None, longwave: str = "paper", bottom: str = "dirichlet",
             init: str = "uniform", init_profile: Any = None, spinup_tol: float = 1e-3,
             spinup_max_cycles: int = 365) -> Simulation:
    """Run the Fortran scheme over forcing at time levels 0..nt.

    Args:
        node_depths: node depths z_i [m], shape (nz,), z_0 = 0, increasing.
        dt: time step [s].
        sw_down: downward shortwave K_down [W m-2], shape (nt+1,); step n uses level n+1.
        lw_down: downward longwave L_down [W m-2], shape (nt+1,).
        t_air: air temperature Ta [K], shape (nt+1,).
        params: physical parameters.
        dx: uniform spacing [m]; when given, spacings are exactly dx (the paper's stencil).
        solver: "direct" (Thomas + Newton, default) or "jacobi" (the published iteration).
        tol: solver tolerance [K]; default 1e-10 (direct) or 1e-4 (jacobi).
        max_iter: Newton iterations or Jacobi sweeps per step; default 50 or 100000.
        longwave: "paper" or "kirchhoff".
        bottom: "dirichlet" (T = T_b) or "zero_flux".
        init: "uniform" (T_b), "profile" (init_profile) or "spinup" (repeat the first day).
        init_profile: initial temperature [K] per node, for init = "profile".
        spinup_tol: spin-up tolerance [K] on the change of the profile over one day.
        spinup_max_cycles: most days the spin-up may repeat.

    Returns:
        The :class:`Simulation`.

    Raises:
        ValueError: arrays of the wrong shape or with non-finite values.
        ConfigError: an unknown option name.
        FortranError: the scheme's error flag was set (bad grid, parameter, no convergence...).
    """
    z = _vector("node_depths", node_depths)
    nz = z.shape[0]
    sw = _vector("sw_down", sw_down)
    nt = sw.shape[0] - 1
    if nt < 0:
        raise ValueError("the forcing must have at least one time level")
    lw = _vector("lw_down", lw_down, nt + 1)
    ta = _vector("t_air", t_air, nt + 1)
    s_code = _option("solver", solver, SOLVERS)
    d_tol, d_iter = SOLVER_DEFAULTS[solver]
    t_init = (_vector("init_profile", init_profile, nz) if init_profile is not None
              else np.full(nz, params.T_b))
    t_out = np.zeros((nz, nt + 1), order="F")
    flux_out = np.zeros((len(FLUX_NAMES), nt + 1), order="F")
    niter = np.zeros(nt, dtype=np.int32)
    ncycles, errmsg, errflg = _api.sebcal_api_simulate(
        z, float(dx) if dx else 0.0, float(dt), sw, lw, ta, param_vector(params), s_code,
        _option("longwave", longwave, LONGWAVE), _option("bottom", bottom, BOTTOM),
        _option("init", init, INIT), t_init, float(tol if tol is not None else d_tol),
        int(max_iter if max_iter is not None else d_iter), float(spinup_tol),
        int(spinup_max_cycles), t_out, flux_out, niter)
    _check(errflg, errmsg, "sebcal_api_simulate")
    zz = np.arange(nz) * dx if dx else z
    return Simulation(z=zz, T=np.ascontiguousarray(t_out.T),
                      fluxes={name: flux_out[i].copy() for i, name in enumerate(FLUX_NAMES)},
                      n_iter=niter.astype(np.int64), spinup_cycles=int(ncycles))


def simulate_config(config: Any, forcing: Any, params: Params | None = None) -> Simulation:
    """Run the scheme as a :class:`~sebcal.config.RunConfig` says, over a Forcing."""
    return simulate(config.node_depths, config.dt, forcing.sw_down, forcing.lw_down, forcing.t_air,
                    params or config.params, dx=config.dx if config.uniform else None,
                    solver=config.solver, tol=config.tol, max_iter=config.max_iter,
                    longwave=config.longwave, bottom=config.bottom, init=config.init,
                    init_profile=config.init_profile, spinup_tol=config.spinup_tol,
                    spinup_max_cycles=config.spinup_max_cycles)


def heat_content(node_depths: Any, T: Any, params: Params, *, dx: float | None = None,
                 bottom: str = "dirichlet") -> np.ndarray:
    """Column heat content sum_i C w_i T_i [J m-2] of profiles T [K], shape (m, nz).

    The Dirichlet bottom node is excluded (its temperature is imposed), the zero-flux one
    included; w_i are the control-volume widths of docs/theory.md.
    """
    z = _vector("node_depths", node_depths)
    t = np.asfortranarray(np.asarray(T, dtype=np.float64).T)
    if t.ndim != 2 or t.shape[0] != z.shape[0]:
        raise ValueError(f"T must have shape (m, {z.shape[0]}), got {np.shape(T)}")
    hc = np.zeros(t.shape[1])
    errmsg, errflg = _api.sebcal_api_heat_content(z, float(dx) if dx else 0.0, param_vector(params),
                                                 _option("bottom", bottom, BOTTOM), t, hc)
    _check(errflg, errmsg, "sebcal_api_heat_content")
    return hc


def read_namelist(path: str | Path) -> dict[str, Any]:
    """Read a sebcal namelist file with the Fortran scheme's own reader.

    Returns:
        dict with node_depths [m], dx [m] (0 for given depths), params (Params), dt [s],
        solver, longwave, bottom, init (names), init_profile [K], tol [K], max_iter,
        spinup_tol [K], spinup_max_cycles.

    Raises:
        FortranError: the file is missing or malformed (the message names the group and key).
    """
    nmax = int(_api.sebcal_api_constants()[2])
    z = np.zeros(nmax)
    t_init = np.zeros(nmax)
    pv = np.zeros(7)
    (nz, dx, dt, solver, longwave, bottom, init, tol, max_iter, spinup_tol, spinup_max,
     errmsg, errflg) = _api.sebcal_api_read_namelist(str(path), z, pv, t_init)
    _check(errflg, errmsg, f"sebcal_api_read_namelist({path})")
    inv = lambda table, code: next(k for k, v in table.items() if v == code)  # noqa: E731
    beta = None if pv[6] <= 0 else float(pv[6])
    return {
        "node_depths": z[:nz].copy(), "dx": float(dx),
        "params": Params(alpha=pv[0], eps=pv[1], lam=pv[2], C=pv[3], T_b=pv[4], h_eff=pv[5],
                         beta=beta),
        "dt": float(dt), "solver": inv(SOLVERS, solver), "longwave": inv(LONGWAVE, longwave),
        "bottom": inv(BOTTOM, bottom), "init": inv(INIT, init), "init_profile": t_init[:nz].copy(),
        "tol": float(tol), "max_iter": int(max_iter), "spinup_tol": float(spinup_tol),
        "spinup_max_cycles": int(spinup_max),
    }


def constants() -> dict[str, float]:
    """Constants compiled into the Fortran scheme (for consistency checks)."""
    sigma, nflux, max_nodes = _api.sebcal_api_constants()
    return {"sigma": float(sigma), "nflux": int(nflux), "max_nodes": int(max_nodes)}


class Scheme:
    """The host-model interface (init / spinup / run / finalize) driven from Python.

    This calls exactly the routines a host LSM calls from Fortran (docs/fortran.md), so tests
    can check them. One scheme exists per process (module state in Fortran)::

        with Scheme("sebcal.nml") as s:
            T, F = s.run(sw, lw, ta)
    """

    def __init__(self, namelist: str | Path) -> None:
        nz, errmsg, errflg = _api.sebcal_api_init(str(namelist))
        _check(errflg, errmsg, f"sebcal_scheme_init({namelist})")
        self.nz = int(nz)

    def spinup(self, sw_down: Any, lw_down: Any, t_air: Any) -> int:
        """Repeat one day of forcing (levels at the end of each step) until periodic; days used."""
        sw = _vector("sw_down", sw_down)
        ncycles, errmsg, errflg = _api.sebcal_api_spinup(sw, _vector("lw_down", lw_down, sw.size),
                                                         _vector("t_air", t_air, sw.size))
        _check(errflg, errmsg, "sebcal_scheme_spinup")
        return int(ncycles)

    def run(self, sw_down: Any, lw_down: Any, t_air: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Advance len(sw_down) steps; returns T [K] (nsteps, nz) and fluxes [W m-2]."""
        sw = _vector("sw_down", sw_down)
        n = sw.size
        t_soil = np.zeros((self.nz, n), order="F")
        flux = np.zeros((len(FLUX_NAMES), n), order="F")
        errmsg, errflg = _api.sebcal_api_run(sw, _vector("lw_down", lw_down, n),
                                             _vector("t_air", t_air, n), t_soil, flux)
        _check(errflg, errmsg, "sebcal_scheme_run")
        return np.ascontiguousarray(t_soil.T), {k: flux[i].copy() for i, k in enumerate(FLUX_NAMES)}

    @property
    def state(self) -> np.ndarray:
        """Current soil temperature [K] at every node."""
        t = np.zeros(self.nz)
        errmsg, errflg = _api.sebcal_api_get_state(t)
        _check(errflg, errmsg, "sebcal_scheme_get_state")
        return t

    @state.setter
    def state(self, values: Any) -> None:
        errmsg, errflg = _api.sebcal_api_set_state(_vector("state", values, self.nz))
        _check(errflg, errmsg, "sebcal_scheme_set_state")

    @property
    def node_depths(self) -> np.ndarray:
        """Node depths [m]."""
        z = np.zeros(self.nz)
        errmsg, errflg = _api.sebcal_api_get_grid(z)
        _check(errflg, errmsg, "sebcal_scheme_get_grid")
        return z

    def finalize(self) -> None:
        errmsg, errflg = _api.sebcal_api_finalize()
        _check(errflg, errmsg, "sebcal_scheme_finalize")

    def __enter__(self) -> "Scheme":
        return self

    def __exit__(self, *exc: object) -> None:
        self.finalize()
