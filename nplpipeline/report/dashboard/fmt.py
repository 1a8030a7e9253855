"""How figures are printed: one function per kind, shared by page, report and tests.

The tests compare the text on screen with these functions applied to the table values,
so a change of format here cannot make the page and the check drift apart. Missing
values print as an em dash, never as "nan" or "None".
"""

from __future__ import annotations

import datetime as dt
import html

MISSING = "—"


def pct(value: float | None, digits: int = 1) -> str:
    """A ratio as a percentage: 0.634 -> '63.4%'."""
    return MISSING if value is None else f"{value * 100:.{digits}f}%"


def pp(value: float | None, digits: int = 1) -> str:
    """A difference of ratios in percentage points, signed: 0.034 -> '+3.4 pp'."""
    return MISSING if value is None else f"{value * 100:+.{digits}f} pp"


def money(value: float | None) -> str:
    """An amount in whole currency units with thousands separators: '1,234,568'."""
    return MISSING if value is None else f"{value:,.0f}"


def signed(value: float | None, digits: int = 1) -> str:
    """A signed difference with thousands separators: 12.345 -> '+12.3'."""
    return MISSING if value is None else f"{value:+,.{digits}f}"


def count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,d}"


def number(value: float | None, digits: int = 3) -> str:
    """A plain statistic (PSI, AUC, composite score): '0.183'."""
    return MISSING if value is None else f"{value:.{digits}f}"


def months(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f} months"


def day(value: dt.date | None) -> str:
    return MISSING if value is None else value.isoformat()


def raw(value: object) -> str:
    """A value for a ``data-*`` attribute: exact (round-trip float repr), '' when missing."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def esc(text: object) -> str:
    """Text or attribute value, HTML-escaped (quotes included)."""
    return html.escape(str(text), quote=True)


def attrs(**values: object) -> str:
    """``data-*`` attributes from keywords: ``a_b`` -> ``data-a-b``, ``from_`` -> ``data-from``."""
    return "".join(
        f' data-{k.rstrip("_").replace("_", "-")}="{esc(raw(v))}"' for k, v in values.items()
    )
