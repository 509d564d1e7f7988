"""Meteorological forcing and observed series: the synthetic forcing of the published model,
the ALMA/CF NetCDF reader, the AmeriFlux/FLUXNET CSV reader, and the Forcing container
(docs/forcing.md).

* :mod:`.core` -- :class:`Forcing`, :class:`SoilMoisture`
* :mod:`.synthetic` -- :func:`paper_synthetic`
* :mod:`.series` -- time-stamped tables sampled at the model levels (gaps, resampling, QC)
* :mod:`.alma` -- NetCDF files; :mod:`.csvfiles` -- AmeriFlux/FLUXNET CSV files
* :mod:`.memory` -- an xarray.Dataset or pandas.DataFrame read like a file
* :mod:`.load` -- :func:`load_forcing`, the ``[forcing]`` table of a config;
  :func:`forcing_from_data` for in-memory data
"""

from .alma import file_time_range, parse_length, read_alma, variable_depth
from .core import Forcing, SoilMoisture
from .load import forcing_from_data, load_forcing, open_table
from .series import sample
from .synthetic import paper_synthetic
from .units import ALIASES

__all__ = ["ALIASES", "Forcing", "SoilMoisture", "file_time_range", "forcing_from_data",
           "load_forcing",
           "open_table", "paper_synthetic", "parse_length", "read_alma", "sample",
           "variable_depth"]
