"""Differentiable PyTorch mirror of the sebcal scheme ("neural physics").

The discrete diffusion operator is a fixed-weight ``torch.nn.Conv1d`` (:mod:`.layers`); the
default direct solver (:mod:`.solver`) solves every implicit step to round-off and the model
(:mod:`.model`) differentiates the trajectory with the implicit-function theorem; the
``jacobi`` solver is the published conv-sweep iteration. See docs/autodiff.md.

Typical use::

    from sebcal.autodiff import SoilColumn, param_tensors, observe
    model = SoilColumn(spec)
    p = param_tensors([params_1, params_2], requires_grad=True)
    out = model(forcing.data, p)
    t5 = observe.soil_temperature(out.T, out.z, 0.05)       # (B, nt+1)
"""

from __future__ import annotations

from . import observe
from .layers import ColumnError, DiffusionOperator, JacobiSweep
from .model import (
                    FLUX_NAMES,
                    PARAM_NAMES,
                    ColumnOutput,
                    ImplicitTrajectory,
                    SoilColumn,
                    param_tensors,
                    simulate,
)

__all__ = ["SoilColumn", "ColumnOutput", "ImplicitTrajectory", "param_tensors", "simulate",
           "observe", "DiffusionOperator", "JacobiSweep", "FLUX_NAMES", "PARAM_NAMES",
           "ColumnError"]
