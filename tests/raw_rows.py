"""Seeding ``raw_*`` tables by hand, as the loader would have written the rows."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from nplpipeline.warehouse.frames import insert_frame
from nplpipeline.warehouse.tables import RAW_TABLES

DEFAULT_DROP_DATE = pd.Timestamp("2026-01-01")


def insert_raw(
    conn: sa.Connection,
    entity: str,
    rows: list[dict],
    drop_date: pd.Timestamp = DEFAULT_DROP_DATE,
) -> int:
    """Insert ``rows`` into ``raw_<entity>``: unnamed columns NULL, lineage filled in."""
    table = RAW_TABLES[entity]
    lineage = {"_version": drop_date, "_drop_date": drop_date, "_source_file": f"{entity}/test.csv"}
    full = [
        {**{c.name: None for c in table.columns}, **lineage, "_row_number": i + 2, **row}
        for i, row in enumerate(rows)
    ]
    return insert_frame(conn, table, pd.DataFrame(full))
