"""The forcing container: every forcing variable at the model time levels, in SI units.

The model is stepped at t_n = start + n dt, n = 0..nt, and takes the forcing at the new level
n+1 for the step n -> n+1 (docs/theory.md). Variables are named as in
:data:`sebcal.vocabulary.FORCING` (SWdown, LWdown, Tair, Wind, PSurf, Qair, LAI, Ttop, Gtop,
Tbottom); soil moisture, which varies with depth, is a :class:`SoilMoisture`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ForcingError
from ..times import iso
from ..vocabulary import FORCING, NFORC, default_options, forcing_needed, soil_moisture_needed
from .units import PLAUSIBLE


@dataclass(frozen=True, eq=False)
class SoilMoisture:
    """Volumetric soil moisture [m3 m-3] at sensor depths and the model levels.

    Attributes:
        depths: sensor depths [m], increasing, (nd,).
        values: (nt+1, nd).
    """

    depths: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        d = np.array(self.depths, dtype=np.float64).reshape(-1)
        v = np.array(self.values, dtype=np.float64)
        if v.ndim == 1:
            v = v[:, None]
        if v.ndim != 2 or v.shape[1] != d.size or d.size < 1:
            raise ForcingError(f"soil moisture: {d.size} depths but values of shape {v.shape}")
        if np.any(np.diff(d) <= 0) or np.any(d < 0):
            raise ForcingError(f"soil moisture: depths must be >= 0 and increase, got "
                               f"{d.tolist()}")
        if not np.all(np.isfinite(v)):
            raise ForcingError("soil moisture has missing values in the run window; fill them "
                               "(gap_policy = \"interpolate\") or choose another window")
        if np.any(v < 0) or np.any(v > 1):
            raise ForcingError(f"soil moisture must be a volume fraction in [0, 1] m3 m-3; got "
                               f"{v.min():.4g}..{v.max():.4g} (percent?)")
        d.setflags(write=False)
        v.setflags(write=False)
        object.__setattr__(self, "depths", d)
        object.__setattr__(self, "values", v)

    def at_nodes(self, z: np.ndarray) -> np.ndarray:
        """(nz, nt+1): linear in depth between sensors, constant above the shallowest and below
        the deepest."""
        z = np.asarray(z, dtype=np.float64)
        if self.depths.size == 1:
            return np.repeat(self.values[:, :1].T, z.size, axis=0)
        out = np.empty((z.size, self.values.shape[0]))
        for n in range(self.values.shape[0]):
            out[:, n] = np.interp(z, self.depths, self.values[n])
        return out


@dataclass(frozen=True, eq=False)
class Forcing:
    """Forcing at the model time levels t_n = start + n dt, n = 0..nt.

    Attributes:
        time: datetime64[s] UTC time of each level, (nt+1,).
        dt: model time step [s].
        data: variable name (vocabulary.FORCING) -> values (nt+1,) in SI units.
        soil_moisture: soil moisture by depth, or None.
        source: ``'paper_synthetic'`` or the file(s) read.
        time_note: how the file's times were read (time zone, stamp position), or "".

    Arrays are read-only copies. Equality is identity.
    """

    time: np.ndarray
    dt: float
    data: Mapping[str, np.ndarray] = field(default_factory=dict)
    soil_moisture: SoilMoisture | None = None
    source: str = ""
    time_note: str = ""

    def __post_init__(self) -> None:
        time = np.array(self.time, dtype="datetime64[s]").reshape(-1)
        if time.size < 1:
            raise ForcingError("Forcing: the time axis is empty; it needs nt + 1 >= 1 levels.")
        try:
            dt = float(self.dt)
        except (TypeError, ValueError):
            raise ForcingError(f"Forcing: dt = {self.dt!r} is not a number of seconds.") from None
        if not (math.isfinite(dt) and dt > 0.0):
            raise ForcingError(f"Forcing: dt = {dt} s; the time step must be positive.")
        object.__setattr__(self, "dt", dt)
        time.setflags(write=False)
        object.__setattr__(self, "time", time)
        data = {}
        for name, values in dict(self.data).items():
            if name not in FORCING:
                raise ForcingError(f"Forcing ({self.source}): unknown variable '{name}'; forcing "
                                   f"variables: {', '.join(FORCING)}")
            arr = np.array(values, dtype=np.float64).reshape(-1)
            if arr.size == 1 and time.size > 1:
                arr = np.full(time.size, arr[0])
            if arr.shape != time.shape:
                raise ForcingError(
                    f"Forcing ({self.source}): {name} has {arr.size} values but the time axis "
                    f"has {time.size}; every forcing array needs one value per time level.")
            if not np.all(np.isfinite(arr)):
                bad = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise ForcingError(
                    f"Forcing ({self.source}): {name} [{FORCING[name].unit}] is not finite at "
                    f"level {bad} ({iso(time[bad], suffix=' UTC')}); fill the gap before "
                    "building the forcing.")
            arr.setflags(write=False)
            data[name] = arr
        object.__setattr__(self, "data", data)
        if self.soil_moisture is not None and self.soil_moisture.values.shape[0] != time.size:
            raise ForcingError(f"Forcing ({self.source}): soil moisture has "
                               f"{self.soil_moisture.values.shape[0]} levels, the time axis "
                               f"{time.size}")
        object.__setattr__(self, "source", str(self.source))

    def check_plausible(self) -> None:
        """Raise ForcingError when a value lies outside the plausible range of its quantity
        (units.PLAUSIBLE: a unit mistake, a corrupt file, a typo in a synthetic setting).
        Every forcing a configuration loads is checked; a Forcing built in code (e.g. a
        closed-form test) is checked when it asks."""
        for name, arr in self.data.items():
            lo, hi, why = PLAUSIBLE.get(name, (-math.inf, math.inf, ""))
            out = np.flatnonzero((arr < lo) | (arr > hi))
            if out.size:
                bad = int(out[0])
                raise ForcingError(
                    f"Forcing ({self.source or 'given'}): {name} = {arr[bad]:.6g} "
                    f"{FORCING[name].unit} at level {bad} ({iso(self.time[bad], suffix=' UTC')})"
                    f" is outside the plausible range [{lo:g}, {hi:g}] ({why}); {out.size} "
                    "value(s) are. Check the units and the values given.")

    @property
    def nt(self) -> int:
        """Number of model steps, len(time) - 1."""
        return int(self.time.size - 1)

    # the three forcing terms of the published model
    @property
    def sw_down(self) -> np.ndarray:
        return self.data["SWdown"]

    @property
    def lw_down(self) -> np.ndarray:
        return self.data["LWdown"]

    @property
    def t_air(self) -> np.ndarray:
        return self.data["Tair"]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def replace(self, **changes: Any) -> Forcing:
        """A copy with some variables replaced (name -> values), or time/dt/soil_moisture."""
        data = dict(self.data)
        kw = {}
        for k, v in changes.items():
            if k in ("time", "dt", "soil_moisture", "source", "time_note"):
                kw[k] = v
            else:
                data[k] = v
        return Forcing(time=kw.get("time", self.time), dt=kw.get("dt", self.dt), data=data,
                       soil_moisture=kw.get("soil_moisture", self.soil_moisture),
                       source=kw.get("source", self.source),
                       time_note=kw.get("time_note", self.time_note))

    def window(self, first: int, last: int) -> Forcing:
        """Levels first..last (inclusive) as a new Forcing."""
        sm = None
        if self.soil_moisture is not None:
            sm = SoilMoisture(self.soil_moisture.depths,
                              self.soil_moisture.values[first:last + 1])
        return Forcing(self.time[first:last + 1], self.dt,
                       {k: v[first:last + 1] for k, v in self.data.items()}, sm, self.source,
                       self.time_note)

    # ------------------------------------------------------------------ model arrays
    def check(self, options: Mapping[str, str]) -> None:
        """Raise ForcingError when a variable the options need is absent."""
        missing = [n for n in forcing_needed(options) if n not in self.data]
        if missing:
            raise ForcingError(
                f"forcing ({self.source or 'given'}) lacks {', '.join(missing)}, which the "
                f"options need ({_why(missing, options)}); "
                f"add {'them' if len(missing) > 1 else 'it'}"
                " to the forcing file or the [forcing] table (docs/forcing.md)")
        if soil_moisture_needed(options) and self.soil_moisture is None:
            raise ForcingError(
                f"forcing ({self.source or 'given'}) has no soil moisture, which the options "
                "need (soil_thermal = \"johansen\" or surface_resistance = \"soil_moisture\"); "
                "add [forcing.soil_moisture] (docs/forcing.md)")

    def rows(self, options: Mapping[str, str] | None = None) -> np.ndarray:
        """Fortran forcing array (nforc, nt+1) of the variables the options need (the others
        0); raises ForcingError when one is absent (see :meth:`check`)."""
        options = dict(options or default_options())
        self.check(options)
        out = np.zeros((NFORC, self.time.size), order="F")
        for name in forcing_needed(options):
            out[FORCING[name].row - 1] = self.data[name]
        return out

    def theta_at(self, z: np.ndarray, options: Mapping[str, str]) -> np.ndarray | None:
        """Soil moisture at the nodes (nz, nt+1), or None when the options do not use it."""
        if not soil_moisture_needed(options):
            return None
        self.check(options)
        return self.soil_moisture.at_nodes(z)


def _why(names: list[str], options: Mapping[str, str]) -> str:
    keys = []
    for n in names:
        for cond in FORCING[n].used:
            keys += [k for k in cond if k not in keys]
    return ", ".join(f"{k} = \"{options.get(k)}\"" for k in keys)


__all__ = ["Forcing", "SoilMoisture"]
