"""Upsert by key where the latest version wins, whatever order drops are replayed in.

A row's version is ``(_version, _drop_date, _source_file, _row_number)``: its
``updated_at`` (or its drop date for entities without one), then where it came from as a
deterministic tie-break. Loading the same drops in any order therefore converges to the
same table, which is what makes a replayed, late or duplicated drop harmless.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.warehouse.frames import insert_frame
from nplpipeline.warehouse.scratch import has_rows, scratch_table

_ORDER = ("_version", "_drop_date", "_source_file", "_row_number")


def _newer(a: sa.Table, b: sa.Table) -> sa.ColumnElement[bool]:
    """``a``'s version sorts after ``b``'s (lexicographic, written out for every dialect)."""
    clauses = []
    for i, col in enumerate(_ORDER):
        equal_before = [a.c[c] == b.c[c] for c in _ORDER[:i]]
        clauses.append(sa.and_(*equal_before, a.c[col] > b.c[col]))
    return sa.or_(*clauses)


def upsert_latest(
    conn: Connection, target: sa.Table, key: tuple[str, ...], frame: pd.DataFrame
) -> int:
    """Merge ``frame`` (one row per key) into ``target``; returns how many rows it changed.

    A history load mostly brings keys the table does not hold yet: into an empty table
    the frame is appended in bulk (``insert_frame``: DuckDB's Arrow scan, PostgreSQL's
    COPY), and when no staged key is in the table the stage is appended whole, skipping
    the version comparison. Either way the table ends as the general merge leaves it."""
    if frame.empty:
        return 0
    if not has_rows(conn, target):
        return insert_frame(conn, target, frame)
    stage_columns = (sa.Column(c.name, c.type) for c in target.columns)
    with scratch_table(conn, f"_stage_{target.name}", stage_columns) as stage:
        insert_frame(conn, stage, frame)
        same_key = sa.and_(*(stage.c[k] == target.c[k] for k in key))
        columns = [c.name for c in target.columns]
        overlap = sa.select(sa.literal(1)).select_from(stage).where(sa.exists().where(same_key))
        if not has_rows(conn, overlap):
            conn.execute(target.insert().from_select(columns, sa.select(*stage.c)))
            return len(frame)
        conn.execute(target.delete().where(sa.exists().where(same_key, _newer(stage, target))))
        missing = ~sa.exists().where(same_key)
        inserted = conn.execute(
            target.insert()
            .from_select(columns, sa.select(*(stage.c[c] for c in columns)).where(missing))
            .execution_options(preserve_rowcount=True)  # PostgreSQL keeps it only if asked
        )
        return int(inserted.rowcount or 0)  # the replaced rows are inserted again
