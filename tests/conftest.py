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


@pytest.fixture(scope="session")
def paper_spec():
    """The published model: 1 m, 101 nodes, dx = 0.01 m, hourly, default options."""
    from sebcal.spec import paper_spec as make

    return make()


def paper_grid() -> tuple[np.ndarray, float]:
    """The published grid: 1 m, 101 nodes, dx = 0.01 m."""
    return np.arange(101) * 0.01, 0.01


def synthetic_forcing(nt: int = 96, dt: float = 1800.0, soil_moisture: bool = True):
    """Two days of smooth diurnal forcing with every variable the options can use."""
    from sebcal.forcing import Forcing, SoilMoisture

    t = np.arange(nt + 1) * dt
    h = (t / 3600.0) % 24
    data = dict(SWdown=np.clip(800 * np.sin(np.pi * (h - 6) / 12), 0, None),
                LWdown=330 + 10 * np.sin(t / 4e4), Tair=293 + 5 * np.sin(np.pi * (h - 9) / 12),
                Wind=2 + np.sin(t / 5e4), PSurf=np.full(nt + 1, 1e5),
                Qair=np.full(nt + 1, 0.008), LAI=2 + 0.1 * np.sin(t / 1e5),
                Ttop=295 + 8 * np.sin(np.pi * (h - 10) / 12),
                Gtop=60 * np.sin(np.pi * (h - 8) / 12), Tbottom=290 + 0.01 * t / 3600)
    sm = None
    if soil_moisture:
        sm = SoilMoisture([0.02, 0.1, 0.5], np.c_[0.15 + 0.05 * np.sin(t / 3e4),
                                                  np.full(nt + 1, 0.22), np.full(nt + 1, 0.3)])
    return Forcing((t.astype(np.int64)).astype("datetime64[s]"), dt, data, sm, "synthetic")


#: a parameter set every option can use
ALL_PARAMS = dict(alpha=0.2, eps=0.95, T_b=291.0, h_eff=20.0, z0m=0.02, z_ref=10.0, r_s=150.0,
                  tau_sw=0.6, tau_lw=0.7, porosity=0.45, lambda_dry=0.25, lambda_solids=3.0,
                  C_dry=1.2e6, **{"lambda": 0.8, "C": 2.2e6})
