"""The observation operators on tensors: those of :mod:`sebcal.physics.observe`, which work
on tensors (differentiably) and on NumPy arrays alike; see there."""

from ..physics.observe import (
    OBSERVABLES,
    equivalent,
    ground_heat_flux,
    interpolation_weights,
    soil_temperature,
    surface_temperature,
)

__all__ = ["OBSERVABLES", "equivalent", "ground_heat_flux", "interpolation_weights",
           "soil_temperature", "surface_temperature"]
