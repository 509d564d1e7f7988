"""The scheme's physics as array functions, written once for NumPy and PyTorch.

The PyTorch mirror (:mod:`sebcal.autodiff`) evaluates them on tensors, so autograd
differentiates them; its NumPy time loop evaluates them on complex arrays, whose imaginary
part carries a complex-step derivative (Ts + i s gives dG/dTs = Im G / s exactly). The Fortran
scheme (fortran/sebcal_surface.f90, sebcal_soil.f90) implements the same equations on its own;
``sebcal verify`` and the tests hold the two to round-off. Equation numbers: docs/theory.md.
"""

from .soil import coefficients, node_properties
from .surface import surface_balance, transmissions
from .xp import NUMPY, Namespace, namespace, torch_namespace


def __getattr__(name: str):
    # TORCH (the tensor namespace) imports torch, so it is made on first access only
    if name == "TORCH":
        return torch_namespace()
    raise AttributeError(name)


__all__ = ["surface_balance", "transmissions", "coefficients", "node_properties", "NUMPY",
           "TORCH", "Namespace", "namespace", "torch_namespace"]
