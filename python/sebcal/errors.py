"""Exceptions raised by sebcal.

Every error a user can cause (a bad config, a bad forcing file, a parameter outside its
physical bounds, an error code from the Fortran scheme) is a :class:`SebcalError`, whose
message names the file, variable or key at fault and says how to fix it.
"""

from __future__ import annotations


class SebcalError(Exception):
    """Base class of every error sebcal raises on purpose."""


class ConfigError(SebcalError, ValueError):
    """A configuration file or value is malformed, unknown or out of range."""


class ForcingError(SebcalError, ValueError):
    """A forcing or observation file is missing, incomplete or inconsistent."""


class FortranError(SebcalError, RuntimeError):
    """The Fortran scheme returned a non-zero error flag.

    Attributes:
        errflg: the scheme's integer error code (non-zero).
        errmsg: the scheme's message.
    """

    def __init__(self, errflg: int, errmsg: str, routine: str = "") -> None:
        self.errflg = int(errflg)
        self.errmsg = errmsg.strip()
        where = f" in {routine}" if routine else ""
        super().__init__(f"Fortran scheme error {self.errflg}{where}: {self.errmsg}")
