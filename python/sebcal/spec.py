"""What the model is, independent of forcing and parameter values: grid, time step, options,
solver settings and soil layers (:class:`ModelSpec`), and the packing of parameters into the
Fortran arrays (docs/theory.md sec. 2 defines the grid).

Both backends (:mod:`sebcal.fortran`, :mod:`sebcal.autodiff`) take a ModelSpec; the
configuration (:mod:`sebcal.config`) builds one from a TOML file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError
from .params import Params
from .vocabulary import (
    CONSTANTS,
    JACOBI_OPTIONS,
    MAX_DEPTH,
    NOPT,
    NPSOIL,
    NPSURF,
    NRSET,
    OPTIONS,
    PARAMETERS,
    SETTINGS,
    SOLVER_DEFAULTS,
    THETA,
    WIND_MIN,
    default_options,
    jacobi_conflicts,
)


def uniform_grid(depth: float, nodes: int, top: float = 0.0) -> tuple[np.ndarray, float]:
    """Node depths top + i dx, i = 0..nodes-1, and dx = (depth - top)/(nodes - 1) [m]."""
    dx = (depth - top) / (nodes - 1)
    z = top + np.arange(nodes, dtype=np.float64) * dx
    z[-1] = depth
    return z, dx


def stretched_grid(depth: float, nodes: int, first: float, top: float = 0.0) -> np.ndarray:
    """Node depths whose spacings grow geometrically from ``first`` [m] to reach ``depth``.

    The growth factor r solves first (r^(N) - 1)/(r - 1) = depth - top, N = nodes - 1
    (bisection); r = 1 is the uniform grid.
    """
    n = nodes - 1
    span = depth - top
    if first * n >= span:
        raise ConfigError(f"[grid] first_spacing = {first:g} m times {n} spacings reaches "
                          f"{first * n:g} m, not less than the column ({span:g} m); use a "
                          "uniform grid or a smaller first_spacing")
    lo, hi = 1.0 + 1e-12, 10.0
    for _ in range(200):
        r = 0.5 * (lo + hi)
        if first * (r ** n - 1) / (r - 1) > span:
            hi = r
        else:
            lo = r
    h = first * r ** np.arange(n)
    z = top + np.concatenate([[0.0], np.cumsum(h)])
    z[-1] = depth
    return z


def layer_of_nodes(z: Sequence[float], bottoms: Sequence[float]) -> np.ndarray:
    """0-based soil layer of every node: the first layer whose bottom is at or below the node
    (the last layer for nodes below the deepest bottom), as the Fortran namelist reader."""
    z = np.asarray(z, dtype=np.float64)
    if not bottoms:
        return np.zeros(z.size, dtype=np.int64)
    b = np.asarray(bottoms, dtype=np.float64)
    idx = np.searchsorted(b, z, side="left")
    return np.minimum(idx, b.size - 1).astype(np.int64)


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """The model a run uses: everything but the forcing and the parameter values.

    Attributes:
        node_depths: node depths z_i [m], (nz,), increasing; z_0 = 0 with a surface energy
            balance at the top, the depth of the top boundary otherwise (read-only).
        dx: uniform spacing [m] (spacings exactly dx: the published stencil), or None.
        dt: time step [s].
        options: every model option (vocabulary.OPTIONS) -> choice.
        tol: solver tolerance [K].
        max_iter: most Newton iterations (direct) or sweeps (jacobi) per step.
        spinup_tol: spin-up tolerance [K]; spinup_max_cycles: most days of spin-up.
        wind_min: lower limit of the wind speed in r_a [m s-1].
        layer_bottoms: depths of the bottoms of the soil layers [m] (empty: one layer).
        init_profile: initial temperature at every node [K] for init = "profile", else None.
    """

    node_depths: np.ndarray
    dx: float | None = None
    dt: float = 3600.0
    options: Mapping[str, str] = field(default_factory=default_options)
    tol: float | None = None
    max_iter: int | None = None
    spinup_tol: float = 1e-3
    spinup_max_cycles: int = 365
    wind_min: float = WIND_MIN
    layer_bottoms: tuple[float, ...] = ()
    init_profile: np.ndarray | None = None

    def __post_init__(self) -> None:
        z = np.array(self.node_depths, dtype=np.float64).reshape(-1)
        if self.dx:
            uniform = z[0] + np.arange(z.size, dtype=np.float64) * float(self.dx)
            if not np.allclose(z, uniform, rtol=0.0, atol=1e-9 * max(1.0, abs(uniform[-1]))):
                raise ConfigError(
                    f"dx = {self.dx:g} m does not match the node depths given "
                    f"({z[0]:g} .. {z[-1]:g} m, {z.size} nodes, spacings {np.diff(z).min():g} "
                    f".. {np.diff(z).max():g} m); give dx = None for non-uniform depths, or "
                    "depths spaced exactly dx apart")
            z = uniform
        if z.size < 3:
            raise ConfigError(f"the grid needs at least 3 nodes, got {z.size}")
        if not np.all(np.isfinite(z)) or z[0] < 0 or np.any(np.diff(z) <= 0):
            raise ConfigError(f"node depths must be >= 0 m and increase strictly, got "
                              f"{z.tolist()}")
        if z[-1] > MAX_DEPTH:
            raise ConfigError(f"the deepest node is at {z[-1]:g} m, deeper than the "
                              f"{MAX_DEPTH:g} m a land-surface soil column reaches; give the "
                              "depths in m")
        z.setflags(write=False)
        object.__setattr__(self, "node_depths", z)
        opts = default_options()
        for k, v in dict(self.options).items():
            if k not in OPTIONS:
                raise ConfigError(f"unknown option '{k}'; options: {', '.join(OPTIONS)}")
            if v not in OPTIONS[k].choices:
                raise ConfigError(f"option {k} = {v!r}: choose one of "
                                  f"{', '.join(OPTIONS[k].choices)}")
            opts[k] = v
        object.__setattr__(self, "options", opts)
        bad = jacobi_conflicts(opts)
        if bad:
            raise ConfigError(f"solver 'jacobi' (the published iteration) cannot run with "
                              f"{', '.join(bad)}; it supports only the published model's "
                              f"options ({_jacobi_text()}): use solver 'direct'")
        d_tol, d_iter = SOLVER_DEFAULTS[opts["solver"]]
        if self.tol is None:
            object.__setattr__(self, "tol", d_tol)
        if self.max_iter is None:
            object.__setattr__(self, "max_iter", d_iter)
        object.__setattr__(self, "dt", float(self.dt))
        object.__setattr__(self, "layer_bottoms", tuple(float(b) for b in self.layer_bottoms))
        if self.init_profile is not None:
            p = np.array(self.init_profile, dtype=np.float64).reshape(-1)
            if p.size != z.size:
                raise ConfigError(f"init_profile has {p.size} values for {z.size} nodes")
            p.setflags(write=False)
            object.__setattr__(self, "init_profile", p)
        if opts["top"] == "seb" and z[0] != 0.0:
            raise ConfigError(f"with the surface energy balance at the top (top = \"seb\") the "
                              f"first node is the surface, 0 m; got {z[0]:g} m")

    # ---------------------------------------------------------------- options
    def __getattr__(self, name: str) -> Any:
        opts = self.__dict__.get("options")
        if opts is not None and name in opts:
            return opts[name]
        raise AttributeError(name)

    @property
    def theta(self) -> float:
        """Time weight: 1 (backward Euler) or 1/2 (Crank-Nicolson)."""
        return THETA[self.options["time_scheme"]]

    @property
    def nz(self) -> int:
        return int(self.node_depths.size)

    @property
    def uniform(self) -> bool:
        return self.dx is not None

    @property
    def nlayers(self) -> int:
        return max(1, len(self.layer_bottoms))

    def layer_of_nodes(self) -> np.ndarray:
        """0-based soil layer index of every node (nz,)."""
        return layer_of_nodes(self.node_depths, self.layer_bottoms)

    def geometry(self) -> tuple[np.ndarray, np.ndarray]:
        """Spacings h_i (N,) and control-volume widths w_i (nz,) [m], as the Fortran computes
        them (exactly dx on the uniform grid)."""
        z = self.node_depths
        h = np.full(z.size - 1, self.dx) if self.dx else np.diff(z)
        w = np.empty(z.size)
        w[0] = 0.5 * h[0]
        w[1:-1] = 0.5 * (h[:-1] + h[1:])
        w[-1] = 0.5 * h[-1]
        return h, w

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed; option names are accepted as keywords too."""
        opts = dict(self.options)
        for k in list(changes):
            if k in OPTIONS:
                opts[k] = changes.pop(k)
        if "solver" in changes or opts["solver"] != self.options["solver"]:
            changes.setdefault("tol", None)
            changes.setdefault("max_iter", None)
        return dataclasses.replace(self, options=opts, **changes)

    # ---------------------------------------------------------------- Fortran arrays
    def iopt(self) -> np.ndarray:
        """Fortran option vector iopt(nopt) (int32)."""
        out = np.zeros(NOPT, dtype=np.int32)
        for name, o in OPTIONS.items():
            if o.slot:
                out[o.slot - 1] = o.code(self.options[name])
        out[SETTINGS["max_iter"][1] - 1] = int(self.max_iter)
        out[SETTINGS["spinup_max_cycles"][1] - 1] = int(self.spinup_max_cycles)
        return out

    def rset(self) -> np.ndarray:
        """Fortran real settings rset(nrset)."""
        out = np.zeros(NRSET)
        out[SETTINGS["tol"][1] - 1] = float(self.tol)
        out[SETTINGS["theta"][1] - 1] = self.theta
        out[SETTINGS["spinup_tol"][1] - 1] = float(self.spinup_tol)
        out[SETTINGS["wind_min"][1] - 1] = float(self.wind_min)
        out[SETTINGS["sigma"][1] - 1] = CONSTANTS["sigma"][0]
        return out

    def psurf(self, params: Params) -> np.ndarray:
        """Fortran surface parameter vector psurf(npsurf) (defaults filled; unused 0; an
        unknown Bowen ratio is -1)."""
        full = params.with_defaults(self.options)
        out = np.zeros(NPSURF)
        for p in PARAMETERS.values():
            if p.group in ("surface", "site") and p.name in full:
                out[p.slot - 1] = float(full[p.name])
        if "beta" not in full:
            out[PARAMETERS["beta"].slot - 1] = -1.0
        return out

    def psoil(self, params: Params) -> np.ndarray:
        """Fortran soil parameters of every node psoil(npsoil, nz)."""
        full = params.with_defaults(self.options)
        layer = self.layer_of_nodes()
        out = np.zeros((NPSOIL, self.nz))
        for p in PARAMETERS.values():
            if p.group == "soil" and p.name in full:
                out[p.slot - 1] = np.asarray(full.layers(p.name, self.nlayers))[layer]
        return np.asfortranarray(out)

    def check_params(self, params: Params) -> Params:
        """Params with defaults for the options; checks per-layer lengths.

        Raises:
            ConfigError: a parameter the options use is missing, or a per-layer parameter has
                the wrong number of values.
        """
        full = params.with_defaults(self.options)
        for p in PARAMETERS.values():
            if p.group == "soil" and p.name in full:
                full.layers(p.name, self.nlayers)
        return full


def paper_spec(**changes: Any) -> ModelSpec:
    """The published model: 1 m, 101 nodes, dx = 0.01 m, hourly steps, every default option."""
    z, dx = uniform_grid(1.0, 101)
    spec = ModelSpec(z, dx=dx, dt=3600.0)
    return spec.replace(**changes) if changes else spec


__all__ = ["ModelSpec", "layer_of_nodes", "paper_spec", "stretched_grid", "uniform_grid"]


def _jacobi_text() -> str:
    return ", ".join(f"{k} {' or '.join(v)}" for k, v in JACOBI_OPTIONS.items())

