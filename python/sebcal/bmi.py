"""sebcal as a Basic Model Interface 2.0 component (CSDMS BMI; bmipy).

    from sebcal.bmi import SebcalBmi
    m = SebcalBmi()
    m.initialize("examples/west_phoenix_published.toml")
    while m.get_current_time() < m.get_end_time():
        m.update()
    m.get_value("soil__temperature", T)          # K at every node, depth positive down

One instance is one soil column whose state, parameters and forcing belong to the instance
(sebcal.fortran.Column): instances never share anything, and may run in several threads.

Variables (CSDMS standard names, UDUNITS units; docs/frameworks.md lists them all):

* state and outputs: ``soil__temperature`` (grid 0, the nodes), ``land_surface__temperature``
  and the surface fluxes (grid 1, scalars);
* inputs: the forcing of the next step (``land_surface_air__temperature``, ...) and, when
  the options use it, ``soil_water__volume_fraction`` at the nodes; after each update they
  are refilled from the configuration's forcing file, so ``set_value`` replaces a value for
  the next step only (a coupler sets them before every update);
* parameters: every parameter the options use, settable between steps; a bad value raises
  with the scheme's message and the previous value stays. Surface parameters are scalars
  (grid 1); soil parameters have one value per soil layer (grid 2, the layer bottoms).

Time is in seconds since the first level of the run (start 0, end nt dt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, SebcalError
from .forcing.units import PLAUSIBLE
from .vocabulary import (
    CSDMS_NAMES,
    FLUX_NAMES,
    FLUX_UNIT,
    FORCING,
    PARAMETERS,
    forcing_needed,
    soil_moisture_needed,
)

try:
    from bmipy import Bmi
except ImportError as _exc:  # bmipy is the optional extra sebcal[bmi]
    raise ImportError("sebcal.bmi needs bmipy: pip install 'sebcal[bmi]' (or bmipy)") from _exc

GRID_NODES, GRID_SCALAR, GRID_LAYERS = 0, 1, 2


class _Var:
    """One BMI variable: its sebcal name, array, unit, grid and role."""

    __slots__ = ("key", "array", "unit", "grid", "role")

    def __init__(self, key: str, array: np.ndarray, unit: str, grid: int, role: str) -> None:
        self.key, self.array, self.unit, self.grid, self.role = key, array, unit, grid, role


class SebcalBmi(Bmi):
    """The sebcal soil column and surface energy balance as a BMI 2.0 component."""

    _name = "sebcal soil column and surface energy balance"

    def __init__(self) -> None:
        self._vars: dict[str, _Var] = {}
        self._column = None
        self._k = 0
        self._nt = 0

    # ------------------------------------------------------------------ control
    def initialize(self, config_file: str | None = None) -> None:
        """Read a sebcal configuration (TOML, docs/config.md): grid, options, parameters,
        forcing; set the initial state as ``sebcal run`` does (uniform, profile, observed or
        spin-up)."""
        if not config_file:
            raise ConfigError("SebcalBmi.initialize needs a sebcal configuration file "
                              "(TOML, docs/config.md)")
        from .config import load_config
        from .fortran import Column, simulate
        from .observations import prepare
        from .runner import forcing_for

        config = load_config(Path(config_file))
        from .estimate import check_memory, forward_run

        check_memory(forward_run(config.spec, config.nt))
        forcing = forcing_for(config)
        config = prepare(config, forcing)
        spec = config.spec
        params = spec.check_params(config.params)
        self._spec, self._forcing = spec, forcing
        self._nt = forcing.nt
        self._rows = forcing.rows(spec.options)
        self._theta = forcing.theta_at(spec.node_depths, spec.options)
        # the initial state as a run sets it: the Fortran initial_state on the first levels
        # (a spin-up repeats the first day)
        last = min(self._nt, round(86400.0 / spec.dt)) if spec.init == "spinup" else 0
        first = simulate(spec, forcing.window(0, last), params)
        self._column = Column(spec, params, state=first.T[0], g=float(first.fluxes["Qg"][0]))
        self._k = 0
        self._build_vars(params)
        for var in self._vars.values():
            if var.role == "output" and var.key in first.fluxes:
                var.array[0] = first.fluxes[var.key][0]     # the fluxes of the initial state

    def _build_vars(self, params) -> None:
        spec, col = self._spec, self._column
        v: dict[str, _Var] = {}
        v[CSDMS_NAMES["T"][0]] = _Var("T", col.state, "K", GRID_NODES, "state")
        v[CSDMS_NAMES["Ts"][0]] = _Var("Ts", col.state[0:1], "K", GRID_SCALAR, "output")
        for name in FLUX_NAMES:
            v[CSDMS_NAMES[name][0]] = _Var(name, np.full(1, np.nan), FLUX_UNIT, GRID_SCALAR,
                                           "output")
        for name in forcing_needed(spec.options):
            v[CSDMS_NAMES[name][0]] = _Var(name, np.zeros(1), FORCING[name].unit, GRID_SCALAR,
                                           "forcing")
        if soil_moisture_needed(spec.options):
            v[CSDMS_NAMES["theta"][0]] = _Var("theta", np.zeros(spec.nz), "m3 m-3", GRID_NODES,
                                              "forcing")
        for p in PARAMETERS.values():
            if p.group == "state" or not p.is_used(spec.options) or p.name not in params:
                continue
            if p.group == "soil":
                arr = np.array(params.layers(p.name, spec.nlayers), dtype=np.float64)
                v[CSDMS_NAMES[p.name][0]] = _Var(p.name, arr, p.unit, GRID_LAYERS, "parameter")
            else:
                v[CSDMS_NAMES[p.name][0]] = _Var(p.name, np.array([float(params[p.name])]),
                                                 p.unit, GRID_SCALAR, "parameter")
        self._vars = v
        self._refill_forcing()

    def _refill_forcing(self) -> None:
        """Inputs hold the forcing of the next step (the last level once the run is over)."""
        n = min(self._k + 1, self._nt)
        for var in self._vars.values():
            if var.role == "forcing":
                if var.key == "theta":
                    var.array[:] = self._theta[:, n]
                else:
                    var.array[0] = self._rows[FORCING[var.key].row - 1, n]

    def update(self) -> None:
        """Advance one time step with the current inputs."""
        self._need_init()
        if self._k >= self._nt:
            raise SebcalError(f"the run is over: all {self._nt} steps of the forcing are done "
                              f"(time {self.get_end_time():g} s)")
        rows = self._rows[:, self._k + 1:self._k + 2].copy(order="F")
        theta = None
        for var in self._vars.values():
            if var.role == "forcing":
                if var.key == "theta":
                    theta = var.array.reshape(-1, 1).copy(order="F")
                else:
                    rows[FORCING[var.key].row - 1, 0] = var.array[0]
        _, fluxes = self._column.advance(rows, theta)
        for var in self._vars.values():
            if var.role == "output" and var.key in fluxes:
                var.array[0] = fluxes[var.key][0]
        self._k += 1
        self._refill_forcing()

    def update_until(self, time: float) -> None:
        """Advance to ``time`` [s], a whole number of steps after the current time."""
        self._need_init()
        steps = (float(time) - self.get_current_time()) / self._spec.dt
        n = round(steps)
        if abs(steps - n) > 1e-9 * max(1.0, abs(steps)) or n < 0:
            raise SebcalError(f"update_until({time:g}): the time must be the current time "
                              f"{self.get_current_time():g} s plus a whole number of steps of "
                              f"{self._spec.dt:g} s")
        for _ in range(n):
            self.update()

    def finalize(self) -> None:
        self._vars = {}
        self._column = None

    def _need_init(self) -> None:
        if self._column is None:
            raise SebcalError("SebcalBmi: call initialize(config_file) first")

    # ------------------------------------------------------------------ information
    def get_component_name(self) -> str:
        return self._name

    def get_input_item_count(self) -> int:
        return len(self.get_input_var_names())

    def get_output_item_count(self) -> int:
        return len(self.get_output_var_names())

    # the BMI 1 spellings, which bmi-tester still looks for
    get_input_var_name_count = get_input_item_count
    get_output_var_name_count = get_output_item_count

    def get_input_var_names(self) -> tuple[str, ...]:
        return tuple(n for n, v in self._vars.items()
                     if v.role in ("forcing", "parameter", "state"))

    def get_output_var_names(self) -> tuple[str, ...]:
        return tuple(n for n, v in self._vars.items()
                     if v.role in ("output", "state", "parameter"))

    # ------------------------------------------------------------------ variables
    def _var(self, name: str) -> _Var:
        try:
            return self._vars[name]
        except KeyError:
            self._need_init()
            raise KeyError(f"no BMI variable '{name}'; the variables are: "
                           f"{', '.join(self._vars)}") from None

    def get_var_type(self, name: str) -> str:
        return str(self._var(name).array.dtype)

    def get_var_units(self, name: str) -> str:
        return self._var(name).unit

    def get_var_itemsize(self, name: str) -> int:
        return int(self._var(name).array.itemsize)

    def get_var_nbytes(self, name: str) -> int:
        return int(self._var(name).array.nbytes)

    def get_var_location(self, name: str) -> str:
        self._var(name)
        return "node"

    def get_var_grid(self, name: str) -> int:
        return self._var(name).grid

    # ------------------------------------------------------------------ time
    def get_current_time(self) -> float:
        return float(self._k * self._spec.dt) if self._column is not None else 0.0

    def get_start_time(self) -> float:
        return 0.0

    def get_end_time(self) -> float:
        return float(self._nt * self._spec.dt) if self._column is not None else 0.0

    def get_time_units(self) -> str:
        return "s"

    def get_time_step(self) -> float:
        self._need_init()
        return float(self._spec.dt)

    # ------------------------------------------------------------------ getters and setters
    def get_value(self, name: str, dest: np.ndarray) -> np.ndarray:
        dest[:] = self._var(name).array.reshape(-1)
        return dest

    def get_value_ptr(self, name: str) -> np.ndarray:
        """The variable's own array: the state and outputs change in place at each update;
        writing into the state changes the model's state. Parameters come read-only (set them
        with set_value, which checks them)."""
        var = self._var(name)
        if var.role == "parameter":
            view = var.array.view()
            view.flags.writeable = False
            return view
        return var.array

    def get_value_at_indices(self, name: str, dest: np.ndarray, inds: np.ndarray) -> np.ndarray:
        dest[:] = self._var(name).array.reshape(-1)[np.asarray(inds)]
        return dest

    def set_value(self, name: str, src: np.ndarray) -> None:
        var = self._var(name)
        values = np.asarray(src, dtype=np.float64).reshape(-1)
        if values.size != var.array.size:
            raise ValueError(f"{name}: {values.size} values given, the variable has "
                             f"{var.array.size}")
        self._set(var, name, np.arange(var.array.size), values)

    def set_value_at_indices(self, name: str, inds: np.ndarray, src: np.ndarray) -> None:
        var = self._var(name)
        self._set(var, name, np.asarray(inds).reshape(-1),
                  np.asarray(src, dtype=np.float64).reshape(-1))

    def _set(self, var: _Var, name: str, inds: np.ndarray, values: np.ndarray) -> None:
        if var.role == "output":
            raise ValueError(f"{name} is an output of the scheme; it cannot be set")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name}: values must be finite, got {values}")
        # the plausible ranges the forcing readers apply (forcing.units.PLAUSIBLE): a value a
        # file could not bring in cannot come through the setter either
        key = "SoilTemp" if var.role == "state" else \
            "SoilMoist" if var.key == "theta" else var.key
        lo, hi, why = PLAUSIBLE.get(key, (-np.inf, np.inf, ""))
        bad = np.flatnonzero((values < lo) | (values > hi))
        if var.role in ("state", "forcing") and bad.size:
            hint = " (degrees Celsius?)" if var.unit == "K" and values[bad[0]] < lo else ""
            raise ValueError(f"{name} ({var.key}) = {values[bad[0]]:.6g} {var.unit} is outside "
                             f"the plausible range [{lo:g}, {hi:g}] ({why}){hint}; the previous "
                             "value stays")
        if var.role in ("state", "forcing"):
            var.array[inds] = values
        else:
            new = var.array.copy()
            new[inds] = values
            self._set_parameter(var, name, new)

    def _set_parameter(self, var: _Var, name: str, new: np.ndarray) -> None:
        col = self._column
        value: Any = float(new[0]) if var.grid == GRID_SCALAR else \
            (float(new[0]) if new.size == 1 else [float(x) for x in new])
        try:
            col.set_params(col.params.replace(**{var.key: value}))
        except SebcalError as exc:
            raise ValueError(f"{name} ({var.key}) = {value}: {exc}; the previous value "
                             f"{var.array.tolist()} stays") from exc
        var.array[:] = new

    # ------------------------------------------------------------------ grids
    def _grid_check(self, grid: int) -> None:
        self._need_init()
        if grid not in (GRID_NODES, GRID_SCALAR, GRID_LAYERS):
            raise KeyError(f"no grid {grid}: 0 soil nodes, 1 surface (scalars), 2 soil layers")

    def get_grid_rank(self, grid: int) -> int:
        self._grid_check(grid)
        return 0 if grid == GRID_SCALAR else 1

    def get_grid_size(self, grid: int) -> int:
        self._grid_check(grid)
        if grid == GRID_NODES:
            return int(self._spec.nz)
        if grid == GRID_LAYERS:
            return int(self._spec.nlayers)
        return 1

    def get_grid_type(self, grid: int) -> str:
        self._grid_check(grid)
        return "scalar" if grid == GRID_SCALAR else "rectilinear"

    def get_grid_shape(self, grid: int, shape: np.ndarray) -> np.ndarray:
        self._grid_check(grid)
        shape[:] = [self.get_grid_size(grid)] if grid != GRID_SCALAR else []
        return shape

    def _coords(self, grid: int) -> np.ndarray:
        """Depth below the surface [m], positive down: the nodes, or the layer bottoms."""
        self._grid_check(grid)
        if grid == GRID_NODES:
            return np.asarray(self._spec.node_depths, dtype=np.float64)
        if grid == GRID_LAYERS:
            bottoms = self._spec.layer_bottoms or (float(self._spec.node_depths[-1]),)
            return np.asarray(bottoms, dtype=np.float64)
        return np.zeros(1)

    def get_grid_x(self, grid: int, x: np.ndarray) -> np.ndarray:
        """Depth [m], positive down (the only coordinate of the column grids)."""
        x[:] = self._coords(grid)
        return x

    def get_grid_y(self, grid: int, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the soil column grids have one coordinate (x, depth)")

    def get_grid_z(self, grid: int, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the soil column grids have one coordinate (x, depth)")

    def get_grid_spacing(self, grid: int, spacing: np.ndarray) -> np.ndarray:
        raise NotImplementedError("grids are rectilinear: use get_grid_x")

    def get_grid_origin(self, grid: int, origin: np.ndarray) -> np.ndarray:
        raise NotImplementedError("grids are rectilinear: use get_grid_x")

    def get_grid_node_count(self, grid: int) -> int:
        return self.get_grid_size(grid)

    def get_grid_edge_count(self, grid: int) -> int:
        return max(0, self.get_grid_size(grid) - 1)

    def get_grid_face_count(self, grid: int) -> int:
        return 0

    def get_grid_edge_nodes(self, grid: int, edge_nodes: np.ndarray) -> np.ndarray:
        n = self.get_grid_size(grid)
        edge_nodes[:] = np.column_stack([np.arange(n - 1), np.arange(1, n)]).reshape(-1)
        return edge_nodes

    def get_grid_face_edges(self, grid: int, face_edges: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the soil column has no faces")

    def get_grid_face_nodes(self, grid: int, face_nodes: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the soil column has no faces")

    def get_grid_nodes_per_face(self, grid: int, nodes_per_face: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the soil column has no faces")

    # ------------------------------------------------------------------ docs
    @staticmethod
    def markdown_variables() -> str:
        """The table of BMI variable names of docs/frameworks.md (``make docs``)."""
        lines = ["| CSDMS name | sebcal name | unit | role | grid | in the registry |",
                 "|---|---|---|---|---|---|"]
        roles = {"T": ("state (in/out)", "0 nodes"), "Ts": ("output", "1 scalar"),
                 "theta": ("input (when used)", "0 nodes")}
        for key, (name, coined) in CSDMS_NAMES.items():
            if key in roles:
                role, grid = roles[key]
                unit = "K" if key in ("T", "Ts") else "m3 m-3"
            elif key in FLUX_NAMES:
                role, grid, unit = "output", "1 scalar", FLUX_UNIT
            elif key in FORCING:
                role, grid, unit = "input (when used)", "1 scalar", FORCING[key].unit
            else:
                p = PARAMETERS[key]
                role = "parameter (in/out, when used)"
                grid = "2 layers" if p.group == "soil" else "1 scalar"
                unit = p.unit
            lines.append(f"| `{name}` | `{key}` | {unit} | {role} | {grid} | "
                         f"{'coined' if coined else 'yes'} |")
        return "\n".join(lines) + "\n"


__all__ = ["SebcalBmi"]
