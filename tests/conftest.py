"""Shared fixtures. Every test runs in float64; data come from the repository's examples/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
PAPER = DATA / "paper"
WP_FILE = DATA / "US-WestPhoenix_clean_observations_v1.nc"

try:
    import torch

    torch.set_default_dtype(torch.float64)
except ImportError:  # pragma: no cover - torch is a hard dependency; tests that need it fail
    pass


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def paper_targets() -> dict[str, list[str]]:
    """The published synthetic targets as printed strings (T1 surface, T2 at 5 cm)."""
    return {name: (PAPER / f"Target_{name}.txt").read_text().split() for name in ("T1", "T2")}


@pytest.fixture(scope="session")
def paper_forcing():
    """The published synthetic forcing, 100 hourly steps."""
    from sebcal.forcing import paper_synthetic

    return paper_synthetic(nt=100, dt=3600.0)


@pytest.fixture(scope="session")
def paper_params():
    """The published true parameters (h = 15, beta = 1.5 give h_eff = 25)."""
    from sebcal.params import Params

    return Params.from_dict({"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0,
                             "h": 15.0, "beta": 1.5})


def paper_grid() -> tuple[np.ndarray, float]:
    """The published grid: 1 m, 101 nodes, dx = 0.01 m."""
    return np.arange(101) * 0.01, 0.01
