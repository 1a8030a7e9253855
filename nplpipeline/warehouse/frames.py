"""Moving data frames in and out of the warehouse at columnar speed.

Row-by-row ``INSERT`` is what makes warehouse loads slow; each dialect has a bulk path
that takes a whole column batch: DuckDB scans a registered Arrow table in place,
PostgreSQL streams CSV through ``COPY``. Everything else about a load (which table,
which transaction) is shared SQLAlchemy.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

_ARROW_TYPES: dict[type, pa.DataType] = {
    sa.String: pa.string(),
    sa.BigInteger: pa.int64(),
    sa.Integer: pa.int64(),
    sa.Boolean: pa.bool_(),
    sa.Date: pa.date32(),
    sa.DateTime: pa.timestamp("us"),
    sa.Numeric: pa.float64(),
    sa.Float: pa.float64(),
}


def arrow_type(sql_type: sa.types.TypeEngine) -> pa.DataType:
    for cls, arrow in _ARROW_TYPES.items():
        if isinstance(sql_type, cls):
            return arrow
    raise TypeError(f"no Arrow type for {sql_type!r}")


def to_arrow(frame: pd.DataFrame, table: sa.Table) -> pa.Table:
    """The frame as an Arrow table typed like ``table`` (only the table's columns, in order)."""
    arrays = []
    for column in table.columns:
        values = frame[column.name]
        target = arrow_type(column.type)
        if pa.types.is_timestamp(target) or pa.types.is_date32(target):
            values = pd.to_datetime(values)
            arr = pa.array(values, from_pandas=True)
            arr = arr.cast(pa.timestamp("us")) if pa.types.is_timestamp(arr.type) else arr
            arrays.append(arr.cast(target))
            continue
        arrays.append(pa.array(values, type=target, from_pandas=True))
    return pa.Table.from_arrays(arrays, names=[c.name for c in table.columns])


def duckdb_driver(conn: Connection) -> Any:
    """The caller's DuckDB connection, ready for a statement of its own.

    DuckDB 2 refuses a new statement on a connection whose last result was not read to
    its end, and SQLAlchemy's ``scalar()``/``first()`` stop after one row. ``complete()``
    runs such a result to its end without reading it (a no-op when none is pending), so
    the bulk paths below work after any Core query in the same transaction."""
    raw = conn.connection.driver_connection
    raw.complete()
    return raw


def insert_frame(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Append ``frame`` to ``table`` inside the caller's transaction; returns rows written."""
    if frame.empty:
        return 0
    data = to_arrow(frame, table)
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    if conn.dialect.name == "duckdb":
        raw = duckdb_driver(conn)
        view = f"_npl_frame_{uuid.uuid4().hex}"
        raw.register(view, data)
        try:
            raw.execute(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM {view}')
        finally:
            raw.unregister(view)
    elif conn.dialect.name == "postgresql":
        buffer = io.BytesIO()
        pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False))
        cursor = conn.connection.driver_connection.cursor()
        sql = f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT csv)'
        with cursor.copy(sql) as copy:
            copy.write(buffer.getvalue())
    else:  # any other SQLAlchemy dialect: correct, just not bulk-fast
        conn.execute(table.insert(), data.to_pylist())
    return data.num_rows


@dataclass(frozen=True)
class Read:
    """One ``read_frame`` call as a recorder sees it: the SQL and the rows it returned."""

    sql: str
    rows: int


_recorders: list[list[Read]] = []


@contextmanager
def recording_reads() -> Iterator[list[Read]]:
    """Collect every ``read_frame`` made inside the block (statements bypass SQLAlchemy's
    events: the bulk paths run on the driver). For tests and profiles: which tables a
    stage reads, and how many rows; the SQL holds no values, the stage tables do."""
    reads: list[Read] = []
    _recorders.append(reads)
    try:
        yield reads
    finally:
        _recorders.remove(reads)


def read_frame(conn: Connection, query: sa.Select) -> pd.DataFrame:
    """Run a Core ``select`` and return a typed frame (money as float64, dates as datetime64)."""
    frame = _read_frame(conn, query)
    if _recorders:
        sql = str(query.compile(conn))
        for reads in _recorders:
            reads.append(Read(sql, len(frame)))
    return frame


def _read_frame(conn: Connection, query: sa.Select) -> pd.DataFrame:
    schema = pa.schema([pa.field(col.name, arrow_type(col.type)) for col in query.selected_columns])
    if conn.dialect.name == "duckdb":
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        table = duckdb_driver(conn).sql(sql).to_arrow_table()
        table = table.cast(schema)
    elif conn.dialect.name == "postgresql":
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        cursor = conn.connection.driver_connection.cursor()
        buffer = io.BytesIO()
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)") as copy:
            for block in copy:
                buffer.write(block)
        buffer.seek(0)
        table = (
            pacsv.read_csv(
                buffer,
                convert_options=pacsv.ConvertOptions(
                    column_types=schema,
                    strings_can_be_null=True,
                    true_values=["t", "true"],
                    false_values=["f", "false"],
                ),
            )
            if buffer.getbuffer().nbytes
            else schema.empty_table()
        )
        table = table.select(schema.names).cast(schema)
    else:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return table.to_pandas(date_as_object=False)


def read_raw(conn: Connection, columns: Mapping[str, Sequence[str]]) -> dict[str, pd.DataFrame]:
    """Chosen columns of ``raw_<entity>`` tables, one typed frame per entity."""
    from nplpipeline.warehouse.tables import RAW_TABLES

    return {
        entity: read_frame(conn, sa.select(*(RAW_TABLES[entity].c[c] for c in names)))
        for entity, names in columns.items()
    }
