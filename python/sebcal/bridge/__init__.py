"""Bridge to host land-surface models: export calibrated parameters, check their transfer.

* :func:`export` writes the fitted parameters into a host's input files (the scheme's own
  namelist, JULES vn7 namelists, Noah-MP v5 NoahmpTable.TBL, a CTSM 5 surface dataset, a
  SUEWS supy 2026 YAML config), editing the user's templates so that only sebcal's entries
  change; each host is one module of :mod:`sebcal.bridge.hosts` (rows, options, writer).
* :func:`transfer` runs the parameters on a host's soil layers and compares the skill with
  the fine calibration grid.
* :func:`sebcal.paramsfile.load_params` reads params.json.
"""

from __future__ import annotations

from ..paramsfile import SCHEMA_VERSION, Calibrated, load_params
from .common import ExportResult, Item
from .export import export
from .hosts import HOSTS, LAYERS, SOURCES, check_host, markdown_table
from .transfer import TransferResult, host_grid, transfer

__all__ = ["HOSTS", "LAYERS", "SOURCES", "SCHEMA_VERSION", "Calibrated", "ExportResult", "Item",
           "check_host", "export", "host_grid", "load_params", "markdown_table", "transfer",
           "TransferResult"]
