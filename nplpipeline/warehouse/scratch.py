"""Scratch tables and row probes shared by the warehouse's bulk writes.

Upserts, partition rewrites and key lookups stage a frame or a key list in a temporary
table so the warehouse can join against it; each needs a unique name, the same
``TEMPORARY`` DDL and a drop even when the statement fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def has_rows(conn: Connection, source: sa.Table | sa.Select) -> bool:
    """Whether ``source`` (a table, or a query) yields any row: one ``LIMIT 1`` probe."""
    if not isinstance(source, sa.Select):
        source = sa.select(sa.literal(1)).select_from(source)
    return conn.execute(source.limit(1)).first() is not None


@contextmanager
def scratch_table(
    conn: Connection, prefix: str, columns: Iterable[sa.Column]
) -> Iterator[sa.Table]:
    """A temporary table of ``columns`` under a unique ``prefix_<hex>`` name, created in
    ``conn``'s transaction and dropped on leaving."""
    table = sa.Table(
        f"{prefix}_{uuid.uuid4().hex[:12]}", sa.MetaData(), *columns, prefixes=["TEMPORARY"]
    )
    table.create(conn)
    try:
        yield table
    finally:
        table.drop(conn)
