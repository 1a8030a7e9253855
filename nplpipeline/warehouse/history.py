"""SCD type 2 history: every version of a changing entity with its validity interval.

A version is valid from its ``_version`` (the source's ``updated_at``) until the next
version's, in the order ``(_version, _drop_date, _source_file, _row_number)`` -- the
order ``upsert_latest`` uses, so the open version (``valid_to`` NULL) of every key is
exactly the row of the current view. Two versions with the same ``updated_at`` give the
earlier one an empty interval: the later load wins, as it does in the current view.
Intervals are recomputed in SQL for the keys a load touched, so loading drops late or
out of order still yields the intervals an in-order load would have.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.warehouse.frames import insert_frame

VERSION_ORDER = ("_version", "_drop_date", "_source_file", "_row_number")


def _key_stage(conn: Connection, history: sa.Table, key: tuple[str, ...]) -> sa.Table:
    stage = sa.Table(
        f"_keys_{history.name}_{uuid.uuid4().hex[:12]}",
        sa.MetaData(),
        *(sa.Column(k, history.c[k].type) for k in key),
        prefixes=["TEMPORARY"],
    )
    stage.create(conn)
    return stage


def _close_intervals(conn: Connection, history: sa.Table, key: tuple[str, ...], keys: sa.Table):
    """Set every touched key's ``valid_to`` to its next version's ``valid_from``."""
    h = history.c
    touched = sa.exists().where(*(keys.c[k] == h[k] for k in key))
    following = (
        sa.select(
            *(h[c] for c in (*key, *VERSION_ORDER)),
            sa.func.lead(h.valid_from)
            .over(partition_by=[h[k] for k in key], order_by=[h[c] for c in VERSION_ORDER])
            .label("next_from"),
        )
        .where(touched)
        .subquery("following")
    )
    same_row = [h[c] == following.c[c] for c in (*key, *VERSION_ORDER)]
    conn.execute(history.update().where(*same_row).values(valid_to=following.c.next_from))


def append_versions(
    conn: Connection,
    history: sa.Table,
    key: tuple[str, ...],
    frame: pd.DataFrame,
    reloaded_files: Sequence[str],
) -> int:
    """Add ``frame``'s rows (every version, not just the latest) to ``history``, replacing
    the versions earlier loads of ``reloaded_files`` wrote; returns the rows added."""
    keys = _key_stage(conn, history, key)
    try:
        files = list(reloaded_files)
        previous = sa.select(*(history.c[k] for k in key)).where(history.c._source_file.in_(files))
        conn.execute(keys.insert().from_select(list(key), previous))
        conn.execute(history.delete().where(history.c._source_file.in_(files)))
        versions = frame.assign(valid_from=frame["_version"], valid_to=pd.NaT)
        added = insert_frame(conn, history, versions)
        insert_frame(conn, keys, frame[list(key)].drop_duplicates())
        _close_intervals(conn, history, key, keys)
        return added
    finally:
        keys.drop(conn)


def seed_from_current(conn: Connection, history: sa.Table, current: sa.Table) -> int:
    """Start an empty history from the current view (a warehouse loaded before history
    existed): each key's one known version, open-ended. Does nothing once history has rows."""
    if conn.execute(sa.select(sa.literal(1)).select_from(history).limit(1)).first():
        return 0
    columns = [c.name for c in current.columns]
    select = sa.select(*current.c, current.c._version.label("valid_from"))
    result = conn.execute(history.insert().from_select([*columns, "valid_from"], select))
    return int(result.rowcount or 0)
