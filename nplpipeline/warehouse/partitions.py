"""Idempotent writes: a task's output for one as-of date replaces that date's rows.

Rerunning or backfilling a date therefore yields the same table, never duplicates, on
every dialect (DELETE + INSERT in one transaction rather than dialect-specific
partition DDL).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.warehouse.frames import insert_frame


def replace_where(
    conn: Connection,
    table: sa.Table,
    where: sa.ColumnElement[bool] | None,
    frame: pd.DataFrame,
) -> int:
    """Delete the rows ``where`` selects (all rows when None), then insert ``frame``, in the
    caller's transaction: the one idempotent write every stage builds on."""
    conn.execute(table.delete() if where is None else table.delete().where(where))
    return insert_frame(conn, table, frame)


def replace_partition(
    conn: Connection,
    table: sa.Table,
    partition_column: str,
    value: dt.date,
    frame: pd.DataFrame,
) -> int:
    """Replace every row of ``table`` whose ``partition_column`` equals ``value``."""
    if not frame.empty:
        wrong = pd.to_datetime(frame[partition_column]).dt.date != value
        if wrong.any():
            raise ValueError(
                f"{int(wrong.sum())} rows of the frame are not in partition {value} of {table.name}"
            )
    return replace_where(conn, table, table.c[partition_column] == value, frame)


def partition_values(conn: Connection, table: sa.Table, partition_column: str) -> list[dt.date]:
    query = sa.select(table.c[partition_column]).distinct().order_by(table.c[partition_column])
    return [row[0] for row in conn.execute(query)]
