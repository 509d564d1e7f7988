"""Exceptions raised by sebcal.

Every error a user can cause (a bad config, a bad forcing file, a parameter outside its
physical bounds, an error code from the Fortran scheme) is a :class:`SebcalError`, whose
message names the file, variable or key at fault and says how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SebcalError(Exception):
    """Base class of every error sebcal raises on purpose."""


class ConfigError(SebcalError, ValueError):
    """A configuration file or value is malformed, unknown or out of range."""


class ForcingError(SebcalError, ValueError):
    """A forcing or observation file is missing, incomplete or inconsistent."""


class Interrupted(SebcalError):
    """The user interrupted (Ctrl-C) a long job; the message says what was kept (exit 130)."""


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


def did_you_mean(word: object, names: Iterable[str]) -> str:
    """" (did you mean 'x'?)" for the valid name nearest to ``word`` (case-insensitive too),
    or "" when none is near: the hint every unknown-name error carries."""
    names = list(names)
    near = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    if not near:
        lower = {n.lower(): n for n in names}
        near = [lower[m] for m in difflib.get_close_matches(str(word).lower(), list(lower),
                                                            n=1, cutoff=0.6)]
    return f" (did you mean '{near[0]}'?)" if near else ""
