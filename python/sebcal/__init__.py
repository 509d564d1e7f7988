"""sebcal: calibrate soil-thermal and surface-energy-balance parameters of land-surface models.

The Python API (docs/api.md) is the command line's verbs as functions: :func:`run` (an
xarray.Dataset), :func:`calibrate` (a :class:`Calibration`), :func:`verify`, :func:`export`,
:func:`validate`; :class:`Params` holds physical parameters (SI units). docs/ has the
equations, the configuration keys, the Fortran interface and the host models.
"""

from __future__ import annotations

from ._version import __version__
from .errors import ConfigError, ForcingError, FortranError, SebcalError
from .params import Params

#: the verbs of the Python API (sebcal.api, docs/api.md), imported on first use so that
#: `import sebcal` stays light
_API = ("run", "calibrate", "verify", "export", "validate", "Calibration")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'sebcal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API))

__all__ = ["Params", "SebcalError", "ConfigError", "ForcingError", "FortranError", "__version__",
           "run", "calibrate", "verify", "export", "validate", "Calibration"]
