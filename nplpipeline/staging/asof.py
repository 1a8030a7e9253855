"""The as-of selection every staging reader shares: the version valid at the end of D."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa

from nplpipeline.warehouse.tables import HISTORY_TABLES


def as_date(value: dt.date | pd.Timestamp) -> dt.date:
    return pd.Timestamp(value).date()


def day_end(as_of: dt.date) -> dt.datetime:
    """The first instant after ``as_of``: everything known "by D" is dated before it."""
    return dt.datetime.combine(as_date(as_of) + dt.timedelta(days=1), dt.time())


def valid_on(entity: str, as_of: dt.date) -> sa.Table:
    """The history of ``entity`` narrowed to the version valid at the end of ``as_of``
    (one row per key; keys first seen after ``as_of`` are absent)."""
    history = HISTORY_TABLES[entity]
    end = day_end(as_of)
    h = history.c
    return (
        sa.select(history)
        .where(h.valid_from < end, sa.or_(h.valid_to.is_(None), h.valid_to >= end))
        .subquery(f"{entity}_as_of")
    )


def project(table: sa.FromClause, columns: Sequence[str]) -> sa.Select:
    return sa.select(*(table.c[c] for c in columns))
