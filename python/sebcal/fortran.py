"""Python access to the Fortran reference scheme (the only module that imports the extension).

Arrays are checked (shape, dtype, finiteness) here before they reach Fortran, and every
non-zero Fortran error flag becomes a :class:`~sebcal.errors.FortranError` with the scheme's
message. The Fortran routines also check array sizes against each other, and the f90wrap
layer is generated with ``--type-check`` so that a wrong dtype raises ``TypeError``.

The wrapped routines keep no state between calls: :class:`Column` owns its state in Python,
so any number of columns can run side by side (and in several threads: the Fortran has no
shared mutable data). A batch (:func:`probe_batch`) shares its columns among OpenMP threads
(:func:`threads`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, FortranError
from .params import Params
from .spec import ModelSpec
from .vocabulary import (
    CONSTANTS,
    FLUX_NAMES,
    NFLUX,
    NFORC,
    NOPT,
    NPSOIL,
    NPSURF,
    NRSET,
    OPTIONS,
    PARAMETERS,
    SETTINGS,
    needed,
    soil_moisture_needed,
)

try:
    from .fortran_wrap import sebcal_api as _api
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "the sebcal Fortran extension is not built: install the package with "
        "'pip install .' (or run 'make test'), which compiles it with meson and gfortran"
    ) from exc

_threads: int | None = None


def threads() -> int:
    """Threads the batched runs (:func:`probe_batch`) use: the columns of a batch are shared
    among them (OpenMP). ``SEBCAL_NUM_THREADS``, else ``OMP_NUM_THREADS`` (which Dask's
    workers set to 1), else the CPUs this process may use; see :func:`set_threads`."""
    global _threads
    if _threads is None:
        for var in ("SEBCAL_NUM_THREADS", "OMP_NUM_THREADS"):
            text = os.environ.get(var, "").split(",")[0].strip()
            if text:
                try:
                    _threads = max(1, int(text))
                except ValueError:
                    raise ConfigError(f"environment variable {var}={os.environ[var]!r} is not a "
                                      "whole number of threads; set it to e.g. 2, or unset it "
                                      "to use every CPU") from None
                break
        else:
            try:
                _threads = len(os.sched_getaffinity(0))
            except AttributeError:  # pragma: no cover - not on Linux
                _threads = os.cpu_count() or 1
    return _threads


def set_threads(n: int) -> None:
    """Use n threads (>= 1) in the batched runs from now on."""
    global _threads
    if int(n) < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _threads = int(n)


def _serial_after_fork() -> None:
    # GNU libgomp's thread pool does not survive fork: a forked child that opened a parallel
    # region would wait for threads it does not have. Its batches run serially.
    global _threads
    _threads = 1


os.register_at_fork(after_in_child=_serial_after_fork)

#: size of the message buffer the Fortran fills
_MAX_NODES = 10001
_MAX_LAYERS = 100


@dataclass(frozen=True)
class Simulation:
    """Output of a forward run at time levels n = 0..nt.

    Attributes:
        z: node depths [m], (nz,).
        T: soil temperature [K], (nt+1, nz); T[:, 0] is the top node (the surface with a
            surface energy balance).
        fluxes: surface fluxes [W m-2], each (nt+1,), keyed by vocabulary.FLUX_NAMES (Qh
            and Qle are NaN when h_eff is not split by a Bowen ratio).
        n_iter: Newton iterations (direct) or Jacobi sweeps per step, (nt,).
        spinup_cycles: days repeated by the spin-up (0 without spin-up).
    """

    z: np.ndarray
    T: np.ndarray
    fluxes: dict[str, np.ndarray] = field(repr=False)
    n_iter: np.ndarray = field(repr=False)
    spinup_cycles: int = 0

    @property
    def Ts(self) -> np.ndarray:  # noqa: N802 - the paper's symbol
        """Temperature of the top node [K], (nt+1,)."""
        return self.T[:, 0]


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


def _check(errflg: int, errmsg: Any, routine: str) -> None:
    if int(errflg) != 0:
        msg = errmsg.decode(errors="replace") if isinstance(errmsg, bytes) else str(errmsg)
        raise FortranError(int(errflg), msg, routine)


def _theta(spec: ModelSpec, forcing: Any, first: int = 0, last: int | None = None
           ) -> np.ndarray:
    th = forcing.theta_at(spec.node_depths, spec.options)
    if th is None:
        return np.zeros((1, 1), order="F")
    return np.asfortranarray(th[:, first:None if last is None else last + 1])


def _dx(spec: ModelSpec) -> float:
    return float(spec.dx) if spec.dx else 0.0


def simulate(spec: ModelSpec, forcing: Any, params: Params,
             init_profile: Any = None) -> Simulation:
    """Run the Fortran scheme over the forcing's levels 0..nt.

    Args:
        spec: grid, time step, options and solver settings (spec.dt must equal forcing.dt).
        forcing: a :class:`~sebcal.forcing.Forcing` at the model levels (the variables the
            options need).
        params: physical parameters (defaults filled for the options).
        init_profile: initial temperature per node [K] (overrides spec.init_profile; used with
            init = "profile").

    Raises:
        ConfigError: a parameter the options need is missing; ForcingError: a forcing variable
        the options need is missing; FortranError: the scheme's error flag was set.
    """
    if abs(float(forcing.dt) - spec.dt) > 1e-9:
        raise ConfigError(f"the forcing has dt = {forcing.dt:g} s but the model {spec.dt:g} s")
    full = spec.check_params(params)
    z = spec.node_depths
    nz = z.size
    nt = forcing.nt
    rows = forcing.rows(spec.options)
    prof = init_profile if init_profile is not None else spec.init_profile
    t_init = _vector("init_profile", prof, nz) if prof is not None else \
        np.full(nz, float(full["T_b"]) if "T_b" in full else 0.0)
    t_out = np.zeros((nz, nt + 1), order="F")
    flux_out = np.zeros((NFLUX, nt + 1), order="F")
    niter = np.zeros(nt, dtype=np.int32)
    ncycles, errmsg, errflg = _call(_api.sebcal_api_simulate,
        z, _dx(spec), spec.dt, rows, _theta(spec, forcing), spec.psurf(full), spec.psoil(full),
        spec.iopt(), spec.rset(), t_init, t_out, flux_out, niter)
    _check(errflg, errmsg, "sebcal_api_simulate")
    return Simulation(z=z.copy(), T=np.ascontiguousarray(t_out.T),
                      fluxes={name: flux_out[i].copy() for i, name in enumerate(FLUX_NAMES)},
                      n_iter=niter.astype(np.int64), spinup_cycles=int(ncycles))


@dataclass(frozen=True)
class Probed:
    """Runs of a batch of B parameter sets, at chosen nodes, with optional tangents.

    Attributes:
        T: temperature at the probe nodes [K], (B, nt+1, nprobe).
        fluxes: surface fluxes [W m-2], (B, nt+1, NFLUX) in vocabulary.FLUX_NAMES order.
        dT: tangents of T along each direction, (B, nt+1, P, nprobe), or None.
        dfluxes: tangents of the fluxes, (B, nt+1, P, NFLUX), or None.
        errflg: Fortran error flag of every set (0: success), (B,).
        message: the first failing set's message ("" when none failed).
    """

    T: np.ndarray
    fluxes: np.ndarray
    dT: np.ndarray | None
    dfluxes: np.ndarray | None
    errflg: np.ndarray
    message: str


def probe_batch(spec: ModelSpec, forcing: Any, psurf: Any, psoil: Any, t_init: Any,
                probes: Any, directions: tuple[Any, Any, Any] | None = None) -> Probed:
    """Run B parameter sets at once; with ``directions``, also their exact tangents.

    The tangents are those of the tangent-linear model (fortran/sebcal_tangent.f90): exact
    derivatives of the discrete solution, not finite differences.

    Args:
        spec: the model (one grid, forcing and option set for the whole batch).
        forcing: the Forcing at the model levels.
        psurf: surface parameter vectors (B, NPSURF) (spec.psurf of each set).
        psoil: soil parameters of every node (B, NPSOIL, nz) (spec.psoil of each set).
        t_init: initial profiles (B, nz) [K] (used with init = "profile").
        probes: node indices whose temperature is returned.
        directions: (dpsurf (B, P, NPSURF), dpsoil (B, P, NPSOIL, nz), dt_init (B, P, nz)),
            the seeds of P directions for each set.

    Returns:
        :class:`Probed`; sets that failed have errflg != 0 (their outputs are undefined).
    """
    if abs(float(forcing.dt) - spec.dt) > 1e-9:
        raise ConfigError(f"the forcing has dt = {forcing.dt:g} s but the model {spec.dt:g} s")
    z = spec.node_depths
    nz = z.size
    nt = forcing.nt
    ps = np.ascontiguousarray(np.asarray(psurf, dtype=np.float64))
    B = ps.shape[0]
    so = np.ascontiguousarray(np.asarray(psoil, dtype=np.float64))
    ti = np.ascontiguousarray(np.asarray(t_init, dtype=np.float64))
    if ps.shape != (B, NPSURF) or so.shape != (B, NPSOIL, nz) or ti.shape != (B, nz):
        raise ValueError(f"psurf, psoil, t_init must have shapes (B, {NPSURF}), (B, {NPSOIL}, "
                         f"{nz}), (B, {nz}); got {ps.shape}, {so.shape}, {ti.shape}")
    pr = np.ascontiguousarray(np.asarray(probes, dtype=np.int32).reshape(-1))
    rows = forcing.rows(spec.options)
    th = _theta(spec, forcing)
    t_probe = np.zeros((B, nt + 1, pr.size))
    flux = np.zeros((B, nt + 1, NFLUX))
    errflg = np.zeros(B, dtype=np.int32)
    if directions is None:
        nthreads = _batch_threads(B)
        ierr, errmsg = _call(_api.sebcal_api_probe_batch,
            z, _dx(spec), spec.dt, rows, th, ps.T, np.asfortranarray(so.transpose(1, 2, 0)),
            spec.iopt(), spec.rset(), ti.T, pr, nthreads, t_probe.T, flux.T, errflg)
        return Probed(t_probe, flux, None, None, errflg.astype(np.int64),
                      _text(errmsg) if int(ierr) else "")
    dps, dso, dti = (np.ascontiguousarray(np.asarray(d, dtype=np.float64)) for d in directions)
    P = dps.shape[1]
    nthreads = _batch_threads(B)
    if dps.shape != (B, P, NPSURF) or dso.shape != (B, P, NPSOIL, nz) or dti.shape != (B, P, nz):
        raise ValueError("directions must be dpsurf (B, P, NPSURF), dpsoil (B, P, NPSOIL, nz), "
                         f"dt_init (B, P, nz); got {dps.shape}, {dso.shape}, {dti.shape}")
    dt_probe = np.zeros((B, nt + 1, P, pr.size))
    dflux = np.zeros((B, nt + 1, P, NFLUX))
    ierr, errmsg = _call(_api.sebcal_api_tangents,
        z, _dx(spec), spec.dt, rows, th, ps.T, np.asfortranarray(so.transpose(1, 2, 0)),
        spec.iopt(), spec.rset(), ti.T, dti.T, dps.T, np.asfortranarray(dso.transpose(2, 3, 1, 0)),
        pr, nthreads, t_probe.T, flux.T, dt_probe.T, dflux.T, errflg)
    return Probed(t_probe, flux, dt_probe, dflux, errflg.astype(np.int64),
                  _text(errmsg) if int(ierr) else "")


def _batch_threads(B: int) -> int:
    return min(threads(), B)


def _call(routine: Any, *args: Any) -> Any:
    """Call a wrapped Fortran routine. f2py turns a Ctrl-C during the call into a
    RuntimeError("Interrupt occurred"); it is a KeyboardInterrupt again here, so that callers
    treat it as one (a calibration saves its checkpoint). The batched routines, whose columns
    run on OpenMP threads, keep Python's handler instead (fortran/run_f2py.py): their Ctrl-C
    arrives as a KeyboardInterrupt when the call returns (one batch: one iteration of a fit)."""
    try:
        return routine(*args)
    except RuntimeError as exc:
        if "nterrupt occur" in str(exc):
            raise KeyboardInterrupt from None
        raise


def _text(msg: Any) -> str:
    return (msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)).strip()


def heat_content(spec: ModelSpec, params: Params, T: Any, theta: Any = None) -> np.ndarray:
    """Column heat content sum_i C_i w_i T_i [J m-2] of profiles T [K], (m, nz), over the
    prognostic nodes (a Dirichlet bottom node and a prescribed top node are excluded).

    Args:
        theta: soil moisture at the nodes (m, nz) [m3 m-3] for soil_thermal = "johansen"
            and with freezing (whose heat content adds the latent heat of the liquid water,
            rho_w L_f wl_i w_i, docs/theory.md eq. 15).
    """
    full = spec.check_params(params)
    z = spec.node_depths
    t = np.asfortranarray(np.asarray(T, dtype=np.float64).T)
    if t.ndim != 2 or t.shape[0] != z.size:
        raise ValueError(f"T must have shape (m, {z.size}), got {np.shape(T)}")
    th = np.zeros((1, 1), order="F") if theta is None else \
        np.asfortranarray(np.asarray(theta, dtype=np.float64).T)
    hc = np.zeros(t.shape[1])
    errmsg, errflg = _call(_api.sebcal_api_heat_content, z, _dx(spec), spec.psoil(full),
                           spec.iopt(), th, t, hc)
    _check(errflg, errmsg, "sebcal_api_heat_content")
    return hc


def read_namelist(path: str | Path) -> tuple[ModelSpec, Params]:
    """Read a sebcal namelist file with the Fortran scheme's own reader.

    Returns:
        (spec, params): the model and the parameters as the Fortran understood them (soil
        parameters per layer are returned per node when they vary, else as one value).

    Raises:
        FortranError: the file is missing or malformed (the message names the group and key).
    """
    text = os.fspath(path)
    if not text.isascii():
        # Fortran character arguments cross the binding as ASCII: read a copy with an ASCII
        # name, and name the user's file in any error
        import shutil
        import tempfile

        if not Path(text).is_file():
            raise FortranError(6, f"namelist file not found: {text}", "sebcal_api_read_namelist")
        with tempfile.TemporaryDirectory(prefix="sebcal-") as d:
            copy = Path(d) / "namelist.nml"
            shutil.copyfile(text, copy)
            try:
                return read_namelist(copy)
            except FortranError as exc:
                raise FortranError(exc.errflg, exc.errmsg.replace(str(copy), text),
                                   f"sebcal_api_read_namelist({text})") from None
    z = np.zeros(_MAX_NODES)
    t_init = np.zeros(_MAX_NODES)
    psurf = np.zeros(NPSURF)
    psoil = np.zeros((NPSOIL, _MAX_NODES), order="F")
    iopt = np.zeros(NOPT, dtype=np.int32)
    rset = np.zeros(NRSET)
    bottoms = np.zeros(_MAX_LAYERS)
    player = np.zeros((NPSOIL, _MAX_LAYERS), order="F")
    nz, dx, dt, nlayers, errmsg, errflg = _call(_api.sebcal_api_read_namelist,
        str(path), z, psurf, psoil, iopt, rset, t_init, bottoms, player)
    del psoil
    _check(errflg, errmsg, f"sebcal_api_read_namelist({path})")
    nz, nlayers = int(nz), int(nlayers)
    options = {name: o.choices[int(iopt[o.slot - 1]) - 1] for name, o in OPTIONS.items() if o.slot}
    theta_w = float(rset[SETTINGS["theta"][1] - 1])
    options["time_scheme"] = "backward_euler" if theta_w == 1.0 else "crank_nicolson"
    spec = ModelSpec(z[:nz].copy(), dx=float(dx) or None, dt=float(dt), options=options,
                     tol=float(rset[SETTINGS["tol"][1] - 1]),
                     max_iter=int(iopt[SETTINGS["max_iter"][1] - 1]),
                     spinup_tol=float(rset[SETTINGS["spinup_tol"][1] - 1]),
                     spinup_max_cycles=int(iopt[SETTINGS["spinup_max_cycles"][1] - 1]),
                     wind_min=float(rset[SETTINGS["wind_min"][1] - 1]),
                     layer_bottoms=tuple(bottoms[:nlayers]) if nlayers > 1 else (),
                     init_profile=t_init[:nz].copy() if options["init"] == "profile" else None)
    values: dict[str, Any] = {}
    use = set(needed(options))
    for p in PARAMETERS.values():
        if p.name not in use:
            continue
        if p.group in ("surface", "site"):
            values[p.name] = float(psurf[p.slot - 1])
        elif p.group == "soil":
            row = player[p.slot - 1, :nlayers]
            values[p.name] = float(row[0]) if nlayers == 1 else tuple(row.tolist())
    beta = float(psurf[PARAMETERS["beta"].slot - 1])
    if beta > 0:
        values["beta"] = beta
    return spec, Params(values)


def constants() -> dict[str, float]:
    """Constants and array sizes compiled into the Fortran scheme (for consistency checks)."""
    c = np.zeros(13)
    s = np.zeros(9, dtype=np.int32)
    _call(_api.sebcal_api_constants, c, s)
    names = ("sigma", "karman", "gravity", "r_dry", "cp_air", "lv", "c_water", "lambda_water",
             "t_freeze", "l_fusion", "rho_water", "c_ice", "lambda_ice")
    sizes = ("nflux", "nforc", "npsurf", "npsoil", "nopt", "nrset", "max_nodes", "n_most",
             "max_layers")
    return {**{n: float(v) for n, v in zip(names, c)}, **{n: int(v) for n, v in zip(sizes, s)}}


class Column:
    """One soil column whose state lives in this object (host-owned, as a framework would own
    it): the instance-safe way to step the scheme.

    Args:
        spec: the model; params: its parameters; state: initial temperature per node [K]
        (default: uniform T_b); g: ground heat flux of the state [W m-2] (only used with
        Crank-Nicolson; default 0).

    ``advance(forcing_rows, theta)`` steps it; ``state`` and ``params`` may be changed between
    steps. Two Column objects never share anything.
    """

    def __init__(self, spec: ModelSpec, params: Params, state: Any = None, g: float = 0.0) -> None:
        self.spec = spec
        self.params = spec.check_params(params)
        self._psurf = spec.psurf(self.params)
        self._psoil = spec.psoil(self.params)
        self._iopt = spec.iopt()
        self._rset = spec.rset()
        nz = spec.nz
        if state is None:
            state = np.full(nz, float(self.params["T_b"]))
        self.state = _vector("state", state, nz).copy()
        self.g = float(g)

    def set_params(self, params: Params) -> None:
        """Replace the parameters (checked by a zero-step call before they take effect)."""
        full = self.spec.check_params(params)
        psurf, psoil = self.spec.psurf(full), self.spec.psoil(full)
        self._call(np.zeros((NFORC, 0), order="F"), None, psurf, psoil, commit=False)
        self.params, self._psurf, self._psoil = full, psurf, psoil

    def advance(self, forcing_rows: Any, theta: Any = None) -> tuple[np.ndarray, dict]:
        """Advance len(forcing_rows[0]) steps; column k of forcing_rows (nforc, nsteps) is the
        new level of step k; theta (nz, nsteps) soil moisture when the options use it.

        Returns:
            T [K] (nsteps, nz) after each step and the fluxes [W m-2] by name (nsteps,).

        Raises:
            FortranError: the state is left as it was before the failing step.
        """
        return self._call(np.asfortranarray(np.asarray(forcing_rows, dtype=np.float64)), theta,
                          self._psurf, self._psoil, commit=True)

    def _call(self, rows, theta, psurf, psoil, commit: bool):
        if rows.ndim != 2 or rows.shape[0] != NFORC:
            raise ValueError(f"forcing rows must have shape ({NFORC}, nsteps), got {rows.shape}")
        n = rows.shape[1]
        nz = self.spec.nz
        if theta is None:
            if soil_moisture_needed(self.spec.options) and n:
                raise ValueError("the options use soil moisture: give theta (nz, nsteps)")
            th = np.zeros((1, 1), order="F")
        else:
            th = np.asfortranarray(np.asarray(theta, dtype=np.float64))
        t = self.state.copy()
        g = np.array(self.g)
        t_out = np.zeros((nz, n), order="F")
        flux = np.zeros((NFLUX, n), order="F")
        niter = np.zeros(n, dtype=np.int32)
        errmsg, errflg = _call(_api.sebcal_api_step, self.spec.node_depths, _dx(self.spec),
                               self.spec.dt, rows, th, psurf, psoil, self._iopt, self._rset, t,
                               g, t_out, flux, niter)
        _check(errflg, errmsg, "sebcal_api_step")
        if commit:
            # in place: views of the state (a BMI's get_value_ptr) stay live
            self.state[:] = t
            self.g = float(g)
        return (np.ascontiguousarray(t_out.T),
                {k: flux[i].copy() for i, k in enumerate(FLUX_NAMES)})


__all__ = ["Column", "Probed", "Simulation", "constants", "heat_content", "probe_batch",
           "read_namelist", "simulate", "CONSTANTS"]
