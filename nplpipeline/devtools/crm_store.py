"""The stand-in CRM's store: SQLite (stdlib), one transaction per applied batch.

The stand-in used to rewrite its whole state as one JSON file per batch, so a long live
run (90 days x thousands of items a day) spent ever more time rewriting what it already
held. Here a batch inserts its own rows only (its receipt, its new items, a count bump
for items already held for the date, the counters), and a reader asks for one date's
items through the primary key. Without a file the store lives in memory.

Tables: ``batches`` (one per idempotency key), ``items`` (one per (as_of_date,
item_id), with how often it was applied), ``counters`` (name -> value). Receipts and
items are JSON text, so a receipt keeps its type (text or integer).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS batches (batch_key TEXT PRIMARY KEY, receipt TEXT NOT NULL,"
    " as_of_date TEXT NOT NULL, items INTEGER NOT NULL, body_sha256 TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS items (as_of_date TEXT NOT NULL, item_id TEXT NOT NULL,"
    " count INTEGER NOT NULL, receipt TEXT NOT NULL, item TEXT NOT NULL,"
    " PRIMARY KEY (as_of_date, item_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
_CHUNK = 500  # ids per IN (...) lookup, well under SQLite's variable limit


def connect(path: Path | None) -> sqlite3.Connection:
    """The store at ``path`` (created when missing), or an in-memory one."""
    if path is None:
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")  # readers in other processes never block
        conn.execute("PRAGMA synchronous=NORMAL")
    for statement in _SCHEMA:
        conn.execute(statement)
    return conn


def held_ids(conn: sqlite3.Connection, as_of: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the store already holds for ``as_of``."""
    held: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT item_id FROM items WHERE as_of_date = ? AND item_id IN ({marks})",
            (as_of, *chunk),
        )
        held.update(r[0] for r in rows)
    return held


def split_items(
    conn: sqlite3.Connection, as_of: str, items: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """(new items by id, duplicates by id): an item is a duplicate when the store already
    holds it for ``as_of`` or the batch repeats it."""
    ids = [str(item["item_id"]) for item in items]
    held = held_ids(conn, as_of, ids)
    new: dict[str, dict[str, Any]] = {}
    bumps: dict[str, int] = {}
    for item_id, item in zip(ids, items, strict=True):
        if item_id in held or item_id in new:
            bumps[item_id] = bumps.get(item_id, 0) + 1
        else:
            new[item_id] = item
    return new, bumps


def write_batch(
    conn: sqlite3.Connection,
    key: str,
    batch: dict[str, Any],
    split: tuple[dict[str, dict[str, Any]], dict[str, int]],
    counters: dict[str, int],
) -> None:
    """Record one applied batch, its items (``split_items``) and the counters, in one
    transaction."""
    as_of, receipt = batch["as_of_date"], json.dumps(batch["receipt"])
    new, bumps = split
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?)",
            (key, receipt, as_of, batch["items"], batch["body_sha256"], batch["applied_at"]),
        )
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, 1, ?, ?)",
            [(as_of, i, receipt, json.dumps(it, ensure_ascii=False)) for i, it in new.items()],
        )
        conn.executemany(
            "UPDATE items SET count = count + ? WHERE as_of_date = ? AND item_id = ?",
            [(n, as_of, i) for i, n in bumps.items()],
        )
        conn.executemany(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value ="
            " excluded.value",
            list(counters.items()),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def batch(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT receipt, as_of_date, items, body_sha256, applied_at FROM batches"
        " WHERE batch_key = ?",
        (key,),
    ).fetchone()
    return None if row is None else _batch(row)


def _batch(row: tuple) -> dict[str, Any]:
    receipt, as_of, n, sha, at = row
    return {
        "receipt": json.loads(receipt),
        "as_of_date": as_of,
        "items": n,
        "body_sha256": sha,
        "applied_at": at,
    }


def batches(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        "SELECT batch_key, receipt, as_of_date, items, body_sha256, applied_at FROM batches"
        " ORDER BY rowid"
    )
    return {r[0]: _batch(r[1:]) for r in rows}


def batch_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM batches").fetchone()[0])


def counters(conn: sqlite3.Connection) -> dict[str, int]:
    return {name: int(value) for name, value in conn.execute("SELECT name, value FROM counters")}


def items_on(conn: sqlite3.Connection, as_of: str) -> dict[str, dict[str, Any]]:
    """item_id -> {"count", "receipt", "item"} for one date."""
    rows = conn.execute(
        "SELECT item_id, count, receipt, item FROM items WHERE as_of_date = ? ORDER BY item_id",
        (as_of,),
    )
    return {
        i: {"count": n, "receipt": json.loads(r), "item": json.loads(it)} for i, n, r, it in rows
    }


def items_by_date(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT as_of_date, count(*) FROM items GROUP BY as_of_date ORDER BY 1")
    return {d: int(n) for d, n in rows}


def applied_items(path: Path, as_of: str) -> list[dict[str, Any]] | None:
    """The items a stand-in CRM store at ``path`` applied for ``as_of`` (read-only, from
    any process); None when there is no store."""
    if not Path(path).exists():
        return None
    conn = sqlite3.connect(path)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'items'").fetchone() is None:
            return []
        return [slot["item"] for slot in items_on(conn, as_of).values()]
    finally:
        conn.close()
