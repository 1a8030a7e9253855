"""Reading a test's warehouse back: one transaction, and whole tables in key order.

Many tests compare the tables one run wrote with another's (sharded against unsharded,
streamed against whole-book, backfill against daily runs). A warehouse returns rows in
no fixed order, so the tables are sorted by their primary key (every column for a
keyless table) and given a fresh index before they are compared. The warehouse is the
one the settings name (``NPL_WAREHOUSE_URL``, set per test by ``npl_env``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa

from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import read_frame


def read(query: sa.Select) -> pd.DataFrame:
    """``query``'s rows, read in one transaction on a fresh engine."""
    with transaction(get_settings().warehouse_url) as conn:
        return read_frame(conn, query)


def read_tables(
    tables: Iterable[sa.Table],
    as_of: dt.date | None = None,
    leave_out: Collection[str] = (),
) -> dict[str, pd.DataFrame]:
    """Each table by name, in key order: all rows, or those of one ``as_of_date``.

    ``leave_out`` columns are dropped before sorting (values that legitimately differ
    between the runs compared, e.g. labels that fill in as data arrives)."""
    out = {}
    with transaction(get_settings().warehouse_url) as conn:
        for table in tables:
            query = sa.select(table)
            if as_of is not None:
                query = query.where(table.c.as_of_date == as_of)
            frame = read_frame(conn, query)
            frame = frame.drop(columns=[c for c in frame.columns if c in leave_out])
            keys = list(table.primary_key.columns.keys()) or list(frame.columns)
            out[table.name] = frame.sort_values(keys).reset_index(drop=True)
    return out


def assert_same_tables(
    got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame], **compare: Any
) -> None:
    """Every table in ``want`` equals ``got``'s (``compare``: ``assert_frame_equal``'s
    options, e.g. ``check_dtype=False`` across warehouses' type mappings)."""
    for name, frame in want.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name, **compare)
