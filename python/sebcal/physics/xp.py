"""A minimal array namespace so that one function body runs on NumPy (real or complex) arrays
and on PyTorch tensors. Comparisons use the real part, so a complex step passes through
branches unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np


class Namespace:
    """exp, log, log10, sqrt, atan, where, re (real part for comparisons), is_torch."""

    def __init__(self, torch_mode: bool) -> None:
        self.is_torch = torch_mode
        if torch_mode:
            import torch

            self.exp, self.log, self.log10 = torch.exp, torch.log, torch.log10
            self.sqrt, self.atan = torch.sqrt, torch.atan
            self._where = torch.where
            self._torch = torch
        else:
            self.exp, self.log, self.log10 = np.exp, np.log, np.log10
            self.sqrt, self.atan = np.sqrt, np.arctan
            self._where = np.where

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        if self.is_torch:
            t = self._torch
            ref = a if isinstance(a, t.Tensor) else b
            if not isinstance(a, t.Tensor):
                a = t.as_tensor(a, dtype=ref.dtype, device=ref.device)
            if not isinstance(b, t.Tensor):
                b = t.as_tensor(b, dtype=ref.dtype, device=ref.device)
            return t.where(cond, a, b)
        return np.where(cond, a, b)

    def re(self, x: Any) -> Any:
        """Real part (for comparisons); tensors are real already."""
        return x if self.is_torch else np.real(x)

    def take_last(self, values: Any, idx: np.ndarray) -> Any:
        """values[..., idx] for an integer array idx."""
        if self.is_torch:
            return values.index_select(-1, self._torch.as_tensor(idx, device=values.device))
        return values[..., idx]

    def like(self, x: Any, ref: Any) -> Any:
        """x (numbers, an array or a tensor) as an array of ref's kind, dtype and device."""
        if self.is_torch:
            t = self._torch
            if isinstance(x, t.Tensor):
                return x.to(dtype=ref.dtype, device=ref.device)
            return t.as_tensor(np.asarray(x, dtype=np.float64), dtype=ref.dtype,
                               device=ref.device)
        return np.asarray(x, dtype=np.result_type(ref, np.float64))

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        """Clip a real array or tensor to [lo, hi]."""
        if self.is_torch:
            return x.clamp(lo, hi)
        return np.clip(x, lo, hi)


NUMPY = Namespace(False)
_TORCH: Namespace | None = None


def torch_namespace() -> Namespace:
    """The namespace for tensors (imports torch on first use only: the Fortran paths never
    pay for it)."""
    global _TORCH
    if _TORCH is None:
        _TORCH = Namespace(True)
    return _TORCH


def namespace(x: Any) -> Namespace:
    """The torch namespace for tensors, NUMPY otherwise."""
    if type(x).__module__.startswith("torch"):
        return torch_namespace()
    return NUMPY


def __getattr__(name: str) -> Any:
    # TORCH stays importable by name, created on first access
    if name == "TORCH":
        return torch_namespace()
    raise AttributeError(name)
