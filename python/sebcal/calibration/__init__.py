"""Calibration: multi-start fits of the PyTorch mirror to observations, with error bars and an
identifiability report (docs/calibration.md).

    from sebcal.calibration import calibrate
    result = calibrate("examples/paper_synthetic_2depth.toml", "out/")
"""

from .run import CalibrationResult, calibrate, calibration_settings
from .space import Coordinate, Space

__all__ = ["calibrate", "CalibrationResult", "calibration_settings", "Space", "Coordinate"]
