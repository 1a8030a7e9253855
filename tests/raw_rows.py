"""Seeding ``raw_*`` tables by hand, as the loader would have written the rows."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from nplpipeline.contract import ENTITIES
from nplpipeline.warehouse.frames import insert_frame
from nplpipeline.warehouse.history import append_versions
from nplpipeline.warehouse.tables import HISTORY_TABLES, RAW_TABLES

DEFAULT_DROP_DATE = pd.Timestamp("2026-01-01")


def insert_raw(
    conn: sa.Connection,
    entity: str,
    rows: list[dict],
    drop_date: pd.Timestamp = DEFAULT_DROP_DATE,
) -> int:
    """Insert ``rows`` into ``raw_<entity>`` (and, for loans and customers, their SCD2
    history, as the loader does): unnamed columns NULL, lineage filled in; a row's
    ``updated_at``, when given, is its version."""
    table = RAW_TABLES[entity]
    source = f"{entity}/{drop_date:%Y-%m-%d}/test.csv"
    lineage = {"_version": drop_date, "_drop_date": drop_date, "_source_file": source}
    full = pd.DataFrame(
        [
            {**{c.name: None for c in table.columns}, **lineage, "_row_number": i + 2, **row}
            for i, row in enumerate(rows)
        ]
    )
    if "updated_at" in full and ENTITIES[entity].version_column:
        full["_version"] = pd.to_datetime(full["updated_at"]).fillna(drop_date)
    if entity in HISTORY_TABLES:
        append_versions(conn, HISTORY_TABLES[entity], ENTITIES[entity].key, full, [source])
    return insert_frame(conn, table, full)
