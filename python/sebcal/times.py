"""Times: one parser for every date-time sebcal reads, one formatter, and CF time decoding.

All times are UTC. Text may carry ``Z``, ``UTC``/``GMT`` or a numeric offset (``+05:30``),
which is applied; text without one is taken as UTC. Inside sebcal a time is a
``numpy.datetime64[s]`` or seconds since 1970-01-01T00:00:00 UTC (float64).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

import numpy as np

__all__ = ["TimeError", "parse_time", "seconds", "iso", "decode_cf"]


class TimeError(ValueError):
    """A value is not a time; the message says what was given and how to write one."""


_ISO_RE = re.compile(
    r"^\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ]\s*(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?P<frac>\.\d*)?)?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?\s*$",
    re.IGNORECASE,
)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
EXAMPLE = "write it as ISO 8601 UTC, e.g. \"2012-05-01T07:00:00Z\""


def seconds(value: Any, *, whole: bool = False) -> float:
    """Seconds since 1970 UTC of ISO text, a datetime/date (naive = UTC), or a datetime64.

    Args:
        whole: refuse a fraction of a second.

    Raises:
        TimeError: not a time, an impossible date, NaT, or a fraction with ``whole``.
    """
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise TimeError(f"NaT is not a time; {EXAMPLE}")
        ms = value.astype("datetime64[ms]")
        if whole and ms.astype("datetime64[s]") != value:
            raise TimeError(f"{value} is not a whole second; give whole seconds")
        return float(ms.astype(np.int64)) / 1000.0
    if isinstance(value, _dt.datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
        if whole and when.microsecond:
            raise TimeError(f"{value.isoformat()} has a fraction of a second; give whole seconds")
        return (when - _EPOCH).total_seconds()
    if isinstance(value, _dt.date):
        return float((value - _dt.date(1970, 1, 1)).days * 86400)
    if isinstance(value, str):
        m = _ISO_RE.match(value)
        if not m:
            raise TimeError(f"\"{value}\" is not an ISO 8601 date-time; {EXAMPLE}")
        try:
            base = _dt.datetime(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"] or 0),
                                int(m["mi"] or 0), int(m["s"] or 0), tzinfo=_dt.UTC)
        except ValueError as exc:
            raise TimeError(f"\"{value}\" is not a valid date ({exc}); {EXAMPLE}") from None
        secs = (base - _EPOCH).total_seconds()
        if m["frac"] and len(m["frac"]) > 1:
            frac = float(m["frac"])
            if whole and frac:
                raise TimeError(f"\"{value}\" has a fraction of a second; give whole seconds")
            secs += frac
        tz = (m["tz"] or "").upper()
        if tz and tz not in ("Z", "UTC", "GMT"):
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            hh, mm = (int(digits), 0) if len(digits) <= 2 else (int(digits[:-2]), int(digits[-2:]))
            secs -= sign * (hh * 3600 + mm * 60)
        return float(secs)
    raise TimeError(f"{value!r} ({type(value).__name__}) is not a time; {EXAMPLE}")


def parse_time(value: Any) -> np.datetime64:
    """A whole-second UTC ``datetime64[s]`` (see :func:`seconds`)."""
    return np.datetime64(int(round(seconds(value, whole=True))), "s")


def iso(t: Any, *, suffix: str = "Z") -> str:
    """``YYYY-MM-DDThh:mm:ssZ`` of a datetime64 or of seconds since 1970 (fractions kept to ms)."""
    if isinstance(t, np.datetime64):
        return f"{np.datetime_as_string(t.astype('datetime64[s]'))}{suffix}"
    secs = float(t)
    whole = int(math.floor(secs))
    text = str(np.datetime64(whole, "s"))
    frac = secs - whole
    if frac > 1e-6:
        text += f"{frac:.3f}".lstrip("0")
    return f"{text}{suffix}"


def decode_cf(values: np.ndarray, units: str, calendar: str = "standard") -> np.ndarray:
    """Seconds since 1970 UTC (float64) of CF time values, decoded by cftime (offsets in the
    reference date are applied).

    Raises:
        TimeError: units that are not "<unit> since <date>", or a calendar other than the
            real (standard/Gregorian) one, which flux-tower data always use.
    """
    import cftime

    cal = (calendar or "standard").strip().lower()
    if cal not in ("standard", "gregorian", "proleptic_gregorian"):
        raise TimeError(f"calendar '{calendar}' is not supported; flux-tower times must use the "
                        "standard (Gregorian) calendar")
    if not re.match(r"^\s*\w+\s+since\s+\S", str(units), re.IGNORECASE):
        raise TimeError(f"time units '{units}' are not understood; use "
                        "'<seconds|minutes|hours|days> since YYYY-MM-DD[Thh:mm:ss][Z|+hh:mm]'")
    vals = np.asarray(values)
    try:
        dates = cftime.num2date(vals, str(units), cal, only_use_cftime_datetimes=False,
                                only_use_python_datetimes=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise TimeError(f"time units '{units}' are not understood ({exc}); use "
                        "'<seconds|minutes|hours|days> since YYYY-MM-DD...'") from None
    us = np.asarray(dates, dtype="datetime64[us]").astype(np.int64)
    return us.astype(np.float64) / 1e6
