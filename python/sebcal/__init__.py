"""sebcal: calibrate soil-thermal and surface-energy-balance parameters of land-surface models.

The public API is small: :class:`Params` (the physical parameters, SI units),
:func:`load_config` (a TOML run configuration), :func:`run` (a forward run with the Fortran
reference scheme). See docs/ for the equations, the configuration keys and the Fortran
interface.
"""

from __future__ import annotations

from ._version import __version__
from .errors import ConfigError, ForcingError, FortranError, SebcalError
from .params import Params

__all__ = ["Params", "SebcalError", "ConfigError", "ForcingError", "FortranError", "__version__"]
