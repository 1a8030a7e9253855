"""Looking up only the keys a batch names, never a whole table's key column.

An orphan check asks "which of these ``loan_id`` values are loaded?", not "what are all
loaded loans?": at 1M loans the second question reads 1M keys (25M for installments'
children) into Python to answer for a day's few thousand rows. The batch's distinct
values go into a temporary table and the warehouse answers with a semi-join
(``col IN (SELECT value FROM stage)``), on DuckDB and PostgreSQL alike, so the rows
read are bounded by the batch, not by the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.warehouse.frames import insert_frame, read_frame
from nplpipeline.warehouse.scratch import scratch_table


def keys_present(
    conn: Connection,
    table: sa.Table,
    column: str,
    values: pd.Series,
    *where: sa.ColumnElement[bool],
) -> pd.Index:
    """The distinct ``table.column`` values that are among ``values`` (and match ``where``)."""
    wanted = pd.Series(values).dropna().drop_duplicates()
    target = table.c[column]
    if wanted.empty:
        return pd.Index([], dtype=object, name=column)
    with scratch_table(conn, f"_want_{table.name}", [sa.Column("value", target.type)]) as stage:
        insert_frame(conn, stage, pd.DataFrame({"value": wanted.to_numpy(dtype=object)}))
        query = sa.select(target).distinct().where(target.in_(sa.select(stage.c.value)), *where)
        found = read_frame(conn, query)[column]
    return pd.Index(found, name=column)


@contextmanager
def staged_keys(conn: Connection, query: sa.Select, name: str) -> Iterator[sa.Select]:
    """``query``'s single key column computed once into a temporary table, as a
    ``SELECT`` readers can semi-join (``col IN (...)``); dropped on leaving.

    Passing ``query`` itself to several readers would make the warehouse evaluate it
    once per reader."""
    (column,) = query.selected_columns
    with scratch_table(conn, f"_keys_{name}", [sa.Column("value", column.type)]) as stage:
        conn.execute(stage.insert().from_select(["value"], query))
        yield sa.select(stage.c.value)
