"""Differentiable PyTorch mirror of the sebcal scheme ("neural physics").

The discrete diffusion operator is a fixed-weight ``torch.nn.Conv1d`` (:mod:`.layers`); the
default direct solver (:mod:`.implicit`) solves every backward-Euler step to round-off and
differentiates it with the implicit-function theorem; the ``jacobi`` solver is the published
conv-sweep iteration. See docs/autodiff.md.

Typical use::

    from sebcal.autodiff import SoilColumn, param_tensors, observe
    model = SoilColumn.from_config(config)
    p = param_tensors([params_1, params_2], requires_grad=True)
    out = model(forcing.sw_down, forcing.lw_down, forcing.t_air, **p)
    t5 = observe.soil_temperature(out.T, out.z, 0.05)       # (B, nt+1)
"""

from __future__ import annotations

from . import observe
from .layers import FLUX_NAMES, ColumnError, DiffusionOperator, Grid, JacobiSweep
from .model import PARAM_NAMES, ColumnOutput, SoilColumn, param_tensors, simulate_config

__all__ = ["SoilColumn", "ColumnOutput", "param_tensors", "simulate_config", "observe",
           "DiffusionOperator", "JacobiSweep", "Grid", "FLUX_NAMES", "PARAM_NAMES",
           "ColumnError"]
