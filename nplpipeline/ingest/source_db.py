"""Pulling from a source database: each pull lands as an ordinary drop.

An incremental extract (rows changed since the entity's watermark) is written as a
Parquet file into the landing zone, ``<entity>/<as-of>/source-db.parquet``, and then
loaded by exactly the same path as a file drop: typing, rules, quarantine, audit,
upsert. One load path means a database source gets every guarantee a file source has,
and a rerun for the same date rewrites the same file with the same rows, which the
checksum then recognises as already loaded.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nplpipeline.contract import ENTITIES, Entity
from nplpipeline.schema import ensure_schema
from nplpipeline.warehouse.engine import begin
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.tables import watermarks

# Column that orders an entity's changes when it has no updated_at.
_CHANGE_COLUMN = {"collection_actions": "action_at", "satisfaction": "surveyed_at"}
# Small reference tables are pulled whole every time.
_FULL_EXTRACT = {"agencies", "collectors"}
SOURCE_FILE_NAME = "source-db.parquet"


def change_column(entity: Entity) -> str | None:
    return entity.version_column or _CHANGE_COLUMN.get(entity.name)


def _source_table(source: Connection, name: str, schema: str | None) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=source, schema=schema)


def _extract_query(
    entity: Entity,
    table: sa.Table,
    since: dt.datetime | None,
    up_to_end: dt.datetime,
    loans: sa.Table | None,
) -> sa.Select:
    present = [c for c in entity.columns if c in table.c]
    query = sa.select(*(table.c[c] for c in present))
    column = change_column(entity)
    if entity.name in _FULL_EXTRACT:
        return query
    if column:
        query = query.where(table.c[column] < up_to_end)
        return query.where(table.c[column] > since) if since else query
    # installments carry no timestamp: take the schedules of loans that changed
    if entity.name == "installments" and loans is not None:
        changed = sa.select(loans.c.loan_id).where(loans.c.updated_at < up_to_end)
        if since:
            changed = changed.where(loans.c.updated_at > since)
        return query.where(table.c.loan_id.in_(changed))
    return query


def read_watermark(conn: Connection, entity: str) -> dt.datetime | None:
    row = conn.execute(
        sa.select(watermarks.c.watermark).where(watermarks.c.entity == entity)
    ).first()
    return row[0] if row else None


def _as_text(table: pa.Table) -> pa.Table:
    """Text columns, like a CSV drop: the load path types them by the contract."""
    out = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_timestamp(column.type):
            column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
        elif pa.types.is_date(column.type):
            column = pc.strftime(column, format="%Y-%m-%d")
        out[name] = column.cast(pa.string())
    return pa.table(out)


def extract_to_landing(
    source: Engine,
    warehouse: Engine,
    landing_dir: Path,
    entity_name: str,
    as_of: dt.date,
    schema: str | None = None,
    lookback: dt.timedelta = dt.timedelta(hours=1),
) -> int:
    """Land the entity's changes up to the end of ``as_of``; returns rows landed.

    The watermark moves to the newest change seen; the next pull starts ``lookback``
    before it, because a source transaction may commit a row with an older timestamp
    after a pull. Rows seen twice are harmless: the upsert keeps the latest version.
    """
    entity = ENTITIES[entity_name]
    with begin(warehouse) as conn:
        ensure_schema(conn)
        since = read_watermark(conn, entity_name)
    up_to_end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    with source.connect() as src:
        table = _source_table(src, entity_name, schema)
        loans = _source_table(src, "loans", schema) if entity_name == "installments" else None
        query = _extract_query(entity, table, since - lookback if since else None, up_to_end, loans)
        frame = read_frame(src, query)  # columnar transport where the dialect has one
    if frame.empty:
        return 0
    folder = landing_dir / entity_name / as_of.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    data = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(_as_text(data), folder / SOURCE_FILE_NAME)
    column = change_column(entity)
    if column and column in frame and frame[column].notna().any():
        newest = pd.Timestamp(frame[column].max()).to_pydatetime()
        _store_watermark(warehouse, entity_name, newest, as_of)
    return len(frame)


def _store_watermark(warehouse: Engine, entity: str, value: dt.datetime, as_of: dt.date) -> None:
    with begin(warehouse) as conn:
        current = read_watermark(conn, entity)
        if current is not None and current >= value:
            return
        conn.execute(watermarks.delete().where(watermarks.c.entity == entity))
        conn.execute(watermarks.insert().values(entity=entity, watermark=value, as_of_date=as_of))
