"""Opening the warehouse: one SQLAlchemy code path for DuckDB and PostgreSQL.

DuckDB is the embedded default (a single file, columnar, vectorised: a 10M-loan
portfolio's analytics run on a laptop); PostgreSQL is the shared warehouse BI tools
connect to. Only bulk transport differs by dialect (see ``frames.py``); every table,
query and transaction is the same SQLAlchemy Core.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

_LOCK_RETRY_SECONDS = (0.2, 0.5, 1, 2, 4, 8, 15, 30)


def create_warehouse_engine(url: str) -> Engine:
    """An engine for ``url``; for a DuckDB file, its folder is created on first use.

    DuckDB allows one writing process per file, so its connections are not pooled:
    a task holds the file only while it works, and parallel Airflow tasks take turns
    (see :func:`begin`).
    """
    parsed = make_url(url)
    # hide_parameters: a failed statement's error must not quote row values (PII).
    if parsed.get_backend_name() == "duckdb":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return sa.create_engine(parsed, poolclass=NullPool, hide_parameters=True)
    return sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


def dialect(bind: Engine | Connection) -> str:
    return bind.dialect.name


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


@contextmanager
def begin(engine: Engine) -> Iterator[Connection]:
    """A transaction; waits politely while another process holds a DuckDB file lock."""
    for delay in (*_LOCK_RETRY_SECONDS, None):
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            if delay is None or not _is_lock_conflict(exc):
                raise
            time.sleep(delay)
            continue
        break
    try:
        with conn.begin():
            yield conn
    finally:
        conn.close()


@contextmanager
def opened(url: str) -> Iterator[Engine]:
    """An engine for ``url`` that is disposed when the block ends, even on error.

    A stage or a test opens the warehouse for one piece of work and must not leave a
    pooled connection (or, for DuckDB, the file) behind for the next process."""
    engine = create_warehouse_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def transaction(url: str) -> Iterator[Connection]:
    """One transaction on a fresh engine for ``url``: the one-shot read or write."""
    with opened(url) as engine, begin(engine) as conn:
        yield conn
