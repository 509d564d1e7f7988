"""Forward runs from a configuration: forcing + scheme + output file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import RunConfig
from .errors import ConfigError, FortranError
from .forcing import Forcing, load_forcing

BACKENDS = ("fortran", "torch")


@dataclass(frozen=True)
class RunResult:
    """A forward run: the forcing used and the model output at time levels 0..nt.

    Attributes:
        forcing: the forcing at the model time levels.
        z: node depths [m], (nz,).
        T: soil temperature [K], (nt+1, nz).
        fluxes: surface fluxes [W m-2] by ALMA name, each (nt+1,).
        backend: "fortran" or "torch".
    """

    forcing: Forcing
    z: np.ndarray
    T: np.ndarray
    fluxes: dict[str, np.ndarray]
    backend: str


def jacobi_warning(spec, nt: int) -> str | None:
    """A warning when the published Jacobi iteration is used outside the published set-up
    (1 m column of 101 nodes, hourly steps, at most 200 steps), where its stop on an increment
    of 1e-4 K leaves errors of tenths of a kelvin (docs/theory.md sec. 4); None otherwise."""
    if spec.options["solver"] != "jacobi":
        return None
    z = spec.node_depths
    published = (spec.nz == 101 and abs(z[-1] - 1.0) < 1e-12 and spec.dt == 3600.0
                 and nt <= 200 and spec.tol >= 1e-4)
    if published:
        return None
    return (f"solver = \"jacobi\" (the published iteration, tol {spec.tol:g} K) outside the "
            f"published set-up ({spec.nz} nodes to {z[-1]:g} m, dt {spec.dt:g} s, {nt} steps): "
            "it stops on a small increment, not on a small error, and drifts by tenths of a "
            "kelvin on fine grids and long runs; use the direct solver (docs/theory.md sec. 4)")


#: largest diffusion number kappa dt / dz**2 at which Crank-Nicolson damps a step change in
#: the forcing without visible oscillation: its factor (1 - 2r)/(1 + 2r) for the finest mode
#: is -1/3 at r = 1 and tends to -1 (an undamped sign flip each step) as r grows
CN_RATIO_LIMIT = 1.0


def crank_nicolson_warning(spec, params) -> str | None:
    """A warning when Crank-Nicolson runs at a diffusion number kappa dt/dz**2 above
    :data:`CN_RATIO_LIMIT` on the finest spacing (constant soil properties): there, a step in
    the forcing (sunrise, a gap filled with a jump) excites an oscillation of the finest mode
    that decays slowly, errors of tenths of a kelvin to kelvins where backward Euler stays
    within ~0.01 K. sebcal has no damped (Rannacher) start: the limit is stated instead
    (docs/theory.md). None when the scheme is backward Euler or the ratio is within the
    limit."""
    if spec.options.get("time_scheme") != "crank_nicolson" or \
            spec.options.get("soil_thermal") != "constant":
        return None
    nl = spec.nlayers
    lam = np.asarray(params.layers("lambda", nl), dtype=np.float64)
    cap = np.asarray(params.layers("C", nl), dtype=np.float64)
    dz = float(np.min(np.diff(spec.node_depths)))
    r = float(np.max(lam / cap)) * spec.dt / dz ** 2
    if r <= CN_RATIO_LIMIT:
        return None
    return (f"time_scheme = \"crank_nicolson\" at a diffusion number kappa dt/dz^2 = {r:.3g} "
            f"(> {CN_RATIO_LIMIT:g}; finest spacing {dz:g} m, dt {spec.dt:g} s): a step in the "
            "forcing makes the finest mode oscillate, errors of tenths of a kelvin or more "
            "where backward Euler stays within ~0.01 K; use backward_euler, a smaller dt or a "
            "coarser top spacing (docs/theory.md)")


def forcing_for(config: RunConfig) -> Forcing:
    """The forcing a configuration names, at its model time levels."""
    return load_forcing(config.forcing, config.start, config.nt, config.dt, config.options)


def run(config: RunConfig, backend: str = "fortran", forcing: Forcing | None = None) -> RunResult:
    """Run the scheme as the configuration says.

    Args:
        config: the run configuration (grid, time, solver, physics, parameters, forcing).
        backend: "fortran" (the reference scheme) or "torch" (the differentiable mirror).
        forcing: forcing to use instead of the one the configuration names.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend '{backend}': choose one of {', '.join(BACKENDS)}")
    from .estimate import check_memory, forward_run

    check_memory(forward_run(config.spec, config.nt))
    forcing = forcing or forcing_for(config)
    from .observations import prepare

    config = prepare(config, forcing)
    for msg in (jacobi_warning(config.spec, config.nt),
                crank_nicolson_warning(config.spec, config.params)):
        if msg:
            import warnings

            warnings.warn(msg, stacklevel=2)
    if backend == "fortran":
        from .fortran import simulate

        try:
            sim = simulate(config.spec, forcing, config.params)
        except FortranError as exc:
            raise _with_parameters(exc, config) from None
        return RunResult(forcing, sim.z, sim.T, sim.fluxes, backend)
    from .autodiff import simulate as torch_simulate

    z, T, fluxes = torch_simulate(config.spec, forcing, config.params)
    return RunResult(forcing, z, T, fluxes, backend)


def _with_parameters(exc: FortranError, config: RunConfig) -> FortranError:
    """A solver failure with the parameter values of the run, so the message names them."""
    from .vocabulary import ERROR_CODES

    if ERROR_CODES.get(exc.errflg) not in ("convergence", "state"):
        return exc
    full = config.full_params()
    values = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                       for k, v in full.items())
    return FortranError(exc.errflg, f"{exc.errmsg}. The run had {values}; a parameter near its "
                        "bounds or an implausible forcing is the usual cause (docs/parameters.md)"
                        f"; with [solver] max_iter = {config.spec.max_iter} the solver may also "
                        "need more iterations", "sebcal run")


def run_metadata(result: RunResult, config: RunConfig) -> dict:
    """The keyword arguments that make a run's file or Dataset (output.simulation_dataset):
    the configuration, the title, the forcing beside the output, the site."""
    cfg = config.to_dict()
    cfg["backend"] = result.backend
    f = result.forcing
    extra = {k: f.data[k] for k in ("Tair", "SWdown", "LWdown") if k in f.data}
    return dict(config=cfg, title=f"sebcal forward run ({result.backend} backend)",
                extra=extra, site=config.site)


def write_run(result: RunResult, config: RunConfig, out: str | Path) -> Path:
    """Write a run to a CF/ALMA NetCDF file (atomic)."""
    from .output import write_simulation

    f = result.forcing
    return write_simulation(out, f.time, result.z, result.T, result.fluxes,
                            **run_metadata(result, config))
