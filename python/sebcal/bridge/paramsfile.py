"""params.json is read by :mod:`sebcal.paramsfile` (one schema for writer and readers)."""

from ..paramsfile import SCHEMA_VERSION, Calibrated, load_params

__all__ = ["SCHEMA_VERSION", "Calibrated", "load_params"]
