"""The current view of a history entity, derived once per load from its SCD-2 history.

A load of a history entity (loans, customers) appends every version to
``raw_<entity>_history`` and, in the same transaction, records the files it loaded in
``ops_current_view_backlog``; :func:`refresh_current_view` then replaces the current row
of every key those files touched by the key's open version (``valid_to`` NULL), which is
by construction the row ``upsert_latest`` would have kept (``warehouse.history``).

Why not merge each batch into the current view as other entities do: on DuckDB every
batch's scattered deletes made its commit re-read and rewrite the row groups they hit,
so a 10M-loan history load grew quadratically (benchmarks/README, "10M loans"). One
refresh per load writes the view once.

Crash safety: a load stopped between a batch and the refresh leaves that batch's files
in the backlog, and the next load of the entity refreshes them before it loads anything;
until then the current view lags the history by those files, never the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.contract import ENTITIES
from nplpipeline.warehouse.frames import insert_frame
from nplpipeline.warehouse.scratch import has_rows, scratch_table
from nplpipeline.warehouse.tables import HISTORY_TABLES, RAW_TABLES, current_view_backlog


def defer_current_rows(conn: Connection, entity: str, files: Sequence[str]) -> None:
    """Note that ``files``' versions are in the history but not yet in the current view."""
    backlog = current_view_backlog
    names = list(files)
    conn.execute(
        backlog.delete().where(backlog.c.entity == entity, backlog.c.source_file.in_(names))
    )
    insert_frame(conn, backlog, pd.DataFrame({"entity": entity, "source_file": names}))


def has_backlog(conn: Connection, entity: str) -> bool:
    backlog = current_view_backlog
    return has_rows(conn, sa.select(sa.literal(1)).where(backlog.c.entity == entity))


def refresh_current_view(conn: Connection, entity: str) -> int:
    """Bring the current view of ``entity`` up to its history for the backlog's files and
    clear them from the backlog; returns the current rows written.

    An empty view (a first or a restarted history load) takes every open version in one
    scan; otherwise only the keys the backlog's files touched are replaced."""
    history, current = HISTORY_TABLES[entity], RAW_TABLES[entity]
    columns = [c.name for c in current.columns]
    open_versions = sa.select(*(history.c[c] for c in columns)).where(history.c.valid_to.is_(None))
    if has_rows(conn, current):
        written = _replace_touched(conn, entity, open_versions)
    else:
        written = _insert(conn, current, columns, open_versions)
    backlog = current_view_backlog
    conn.execute(backlog.delete().where(backlog.c.entity == entity))
    return written


def _replace_touched(conn: Connection, entity: str, open_versions: sa.Select) -> int:
    """Replace the current rows of the keys the backlog's files have versions of."""
    history, current = HISTORY_TABLES[entity], RAW_TABLES[entity]
    key = ENTITIES[entity].key
    backlog = current_view_backlog
    files = sa.select(backlog.c.source_file).where(backlog.c.entity == entity)
    key_columns = (sa.Column(k, history.c[k].type) for k in key)
    with scratch_table(conn, f"_touched_{entity}", key_columns) as touched:
        keys = sa.select(*(history.c[k] for k in key)).where(history.c._source_file.in_(files))
        conn.execute(touched.insert().from_select(list(key), keys.distinct()))
        same_key = sa.and_(*(touched.c[k] == current.c[k] for k in key))
        conn.execute(current.delete().where(sa.exists().where(same_key)))
        opened = sa.and_(*(touched.c[k] == history.c[k] for k in key))
        columns = [c.name for c in current.columns]
        return _insert(conn, current, columns, open_versions.where(sa.exists().where(opened)))


def _insert(conn: Connection, table: sa.Table, columns: list[str], rows: sa.Select) -> int:
    result = conn.execute(
        table.insert().from_select(columns, rows).execution_options(preserve_rowcount=True)
    )
    return int(result.rowcount or 0)
