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
from nplpipeline.warehouse.shards import Shard, shard_predicate


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


def replace_shard(
    conn: Connection,
    table: sa.Table,
    as_of: dt.date,
    shard: Shard | None,
    frame: pd.DataFrame,
    partition_column: str = "as_of_date",
) -> int:
    """Replace the rows of ``as_of``'s partition whose ``loan_id`` is in ``shard`` (the whole
    partition for the whole book): a shard's rerun rewrites only its own rows."""
    if shard is None or shard.whole:
        return replace_partition(conn, table, partition_column, as_of, frame)
    if not frame.empty:
        wrong = pd.to_datetime(frame[partition_column]).dt.date != as_of
        if wrong.any():
            n = int(wrong.sum())
            raise ValueError(f"{n} rows of the frame are not in partition {as_of} of {table.name}")
    where = sa.and_(table.c[partition_column] == as_of, shard_predicate(table.c.loan_id, shard))
    return replace_where(conn, table, where, frame)
