"""The synthetic forcing of the published forward model (docs/theory.md sec. 5).

With t = n dt measured from local midnight, t24 = t mod 86400 s,

    theta = (t24 - t_rise)/(t_set - t_rise) pi/2 + (t24 - t_set)/(t_set - t_rise) pi/2,
    theta clipped to [-pi/2, pi/2],
    K_down = k_peak cos(theta),   L_down = const,   Ta = const.

At night cos(+-pi/2) = 6.1e-17, so K_down = 4.9e-14 W m-2, not 0: the published targets were
computed with these values, so they are kept. Constant wind, pressure, humidity, LAI and soil
moisture can be added for the options that need them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ForcingError
from .core import Forcing, SoilMoisture
from .series import check_dt, check_nt, start_seconds, time_axis


def paper_synthetic(nt: int = 100, dt: float = 3600.0, start: Any = "2000-01-01T00:00:00", *,
                    k_peak: float = 800.0, lw_down: float = 100.0, t_air: float = 296.0,
                    sunrise_h: float = 7.0, sunset_h: float = 21.0, wind: float | None = None,
                    psurf: float | None = None, qair: float | None = None,
                    lai: float | None = None, soil_moisture: float | None = None) -> Forcing:
    """The synthetic forcing of the published forward model.

    Args:
        nt: number of steps; the forcing has nt + 1 levels.
        dt: time step [s] (a whole number of seconds).
        start: nominal UTC time of level 0, for the time axis only; the shortwave cycle always
            takes t = 0 as local midnight.
        k_peak: peak downward shortwave at "solar noon", (sunrise_h + sunset_h)/2 [W m-2].
        lw_down: constant downward longwave [W m-2].
        t_air: constant air temperature [K].
        sunrise_h, sunset_h: hours after midnight [h].
        wind [m s-1], psurf [Pa], qair [kg kg-1], lai [m2 m-2]: constants for the options that
            need them (None: absent).
        soil_moisture: a constant volumetric soil moisture at every depth [m3 m-3] (None:
            absent).
    """
    nt = check_nt(nt)
    dt = check_dt(dt)
    for label, value in (("k_peak", k_peak), ("lw_down", lw_down), ("t_air", t_air),
                         ("sunrise_h", sunrise_h), ("sunset_h", sunset_h)):
        if not isinstance(value, (int, float, np.floating, np.integer)) or \
                not math.isfinite(float(value)):
            raise ForcingError(f"paper_synthetic: {label} = {value!r} must be a finite number.")
    if not 0.0 <= float(sunrise_h) < float(sunset_h) <= 24.0:
        raise ForcingError(
            f"paper_synthetic: sunrise_h = {sunrise_h} and sunset_h = {sunset_h}; they need "
            "0 <= sunrise_h < sunset_h <= 24 (hours after local midnight).")
    if float(t_air) <= 0.0:
        raise ForcingError(f"paper_synthetic: t_air = {t_air} K must be positive (Kelvin).")
    start_s = start_seconds(start)
    t = np.arange(nt + 1, dtype=np.float64) * dt
    t24 = np.mod(t, 86400.0)
    trise = float(sunrise_h) * 3600.0
    tset = float(sunset_h) * 3600.0
    # the same expression and order of operations as the published notebook
    theta = (t24 - trise) / (tset - trise) * np.pi / 2 + (t24 - tset) / (tset - trise) * np.pi / 2
    theta = np.clip(theta, -np.pi / 2, np.pi / 2)
    data = {"SWdown": float(k_peak) * np.cos(theta), "LWdown": np.full(nt + 1, float(lw_down)),
            "Tair": np.full(nt + 1, float(t_air))}
    for name, value in (("Wind", wind), ("PSurf", psurf), ("Qair", qair), ("LAI", lai)):
        if value is not None:
            data[name] = np.full(nt + 1, float(value))
    sm = None
    if soil_moisture is not None:
        sm = SoilMoisture([0.0], np.full((nt + 1, 1), float(soil_moisture)))
    return Forcing(time=time_axis(start_s, nt, dt), dt=dt, data=data, soil_moisture=sm,
                   source="paper_synthetic")
