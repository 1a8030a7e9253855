"""As-of calendars: month-ends, and the month-ends before a date (for lagged features)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

_EPOCH = dt.date(1970, 1, 1)


def as_date(value: dt.date | dt.datetime | pd.Timestamp | str) -> dt.date:
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date()
    return value


def epoch_day(value: dt.date) -> int:
    """Days since 1970-01-01: the integer clock every vectorised comparison here uses."""
    return (as_date(value) - _EPOCH).days


def month_end(value: dt.date) -> dt.date:
    d = as_date(value)
    first_next = (d.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first_next - dt.timedelta(days=1)


def month_ends(start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """Every month-end in [start, end], oldest first."""
    start, end = as_date(start), as_date(end)
    months = np.arange(
        np.datetime64(start, "M"), np.datetime64(end, "M") + 1, dtype="datetime64[M]"
    )
    ends = [((m + 1).astype("datetime64[D]") - 1).astype(dt.date) for m in months]
    return [d for d in ends if start <= d <= end]


def previous_month_ends(as_of: dt.date, count: int) -> list[dt.date]:
    """The ``count`` month-ends strictly before ``as_of``, most recent first."""
    as_of = as_date(as_of)
    out: list[dt.date] = []
    cursor = as_of.replace(day=1) - dt.timedelta(days=1)  # end of the previous month
    while len(out) < count:
        out.append(cursor)
        cursor = cursor.replace(day=1) - dt.timedelta(days=1)
    return out
