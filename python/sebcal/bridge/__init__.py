"""Bridge to host land-surface models: export calibrated parameters, check their transfer.

* :func:`load_params` reads and validates params.json (the output of ``sebcal calibrate``).
* :func:`export` writes the parameters into a host's input file (sebcal namelist, JULES
  namelists, Noah-MP parameter table, CLM surface data, SUEWS YAML), optionally into a copy of
  the user's template in which only the entries sebcal owns change.
* :func:`transfer` runs the parameters on a host's soil layers and compares the skill with
  the fine calibration grid.

The mapping (host entry, unit, conversion, caveat, source) is one table,
:data:`sebcal.bridge.hosts.MAPPINGS`, printed in docs/hosts.md.
"""

from __future__ import annotations

from .hosts import HOSTS, LAYERS, MAPPINGS, SOURCES, Entry, check_host, markdown_table
from .paramsfile import SCHEMA_VERSION, Calibrated, load_params
from .transfer import TransferResult, host_grid, transfer
from .writers import OPTIONS, ExportResult, Item, export

__all__ = ["HOSTS", "LAYERS", "MAPPINGS", "SOURCES", "OPTIONS", "SCHEMA_VERSION", "Entry",
           "Calibrated", "ExportResult", "Item", "TransferResult", "check_host",
           "markdown_table", "load_params", "export", "transfer", "host_grid"]
