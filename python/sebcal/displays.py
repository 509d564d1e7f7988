"""Tables for people: DataFrames that print whole, numbers to significant digits (the
Python API's ``Calibration.parameters`` and ``.metrics``; docs/api.md, "Displays")."""

from __future__ import annotations

import math
import numbers
from typing import Any

import pandas as pd


def significant(x: Any, digits: int) -> str:
    """``x`` rounded to ``digits`` significant digits: plain notation from 1e-3 to 1e6
    (183575.597 -> "183600" with 4), else scientific ("2.200e+06")."""
    if x is None:
        return ""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return str(x)
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0.0:
        return "0"
    if 1e-3 <= abs(x) < 1e6:
        r = float(f"{x:.{digits}g}")
        decimals = max(digits - 1 - math.floor(math.log10(abs(r))), 0)
        return f"{r:.{decimals}f}"
    return f"{x:.{digits - 1}e}"


def cell(v: Any, digits: int) -> str:
    """A table cell as text: numbers to ``digits`` significant digits, lists joined."""
    if isinstance(v, (list, tuple)):
        return ", ".join(cell(x, digits) for x in v)
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return significant(float(v), digits)
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def styled(df: Any, digits: int, caption: str = "") -> Any:
    """A pandas Styler of ``df`` with ``digits`` significant digits."""
    st = pd.DataFrame(df).style.format(lambda v: cell(v, digits))
    return st.set_caption(caption) if caption else st


class Table(pd.DataFrame):
    """A DataFrame whose print shows every column (never cut to the terminal's width), numbers
    to ``digits`` significant digits, and whose notebook display is the same table as HTML.
    The numbers keep full precision; any operation returns a plain DataFrame."""

    _metadata = ["digits"]

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self) -> str:
        d = getattr(self, "digits", 4)
        return pd.DataFrame(self).to_string(
            formatters={c: (lambda v, d=d: cell(v, d)) for c in self.columns})

    def _repr_html_(self) -> str:
        return styled(self, getattr(self, "digits", 4)).to_html()


def table(df: Any, digits: int) -> Table:
    """``df`` as a :class:`Table` printed with ``digits`` significant digits."""
    out = Table(df)
    out.digits = digits
    return out


__all__ = ["Table", "cell", "significant", "styled", "table"]
