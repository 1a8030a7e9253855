"""The delivery ledger's rules: plan first, send what is unacknowledged, ack one batch at a time.

Exactly-once towards the CRM rests on three things:

* **Planning is deterministic and happens once per item.** Only items of the date that
  are not in the ledger yet are planned, sorted by ``item_id`` and cut into batches; a
  batch's idempotency key is ``sha256(as_of + "\\n" + sorted item ids)``. Planning commits
  in one transaction, so a crash leaves either no plan or the whole plan.
* **A batch is always resent with the same key and the same bytes.** The payload is
  frozen in the ledger at planning time, so a retry, a task retry or a rerun days later
  replays exactly what the CRM may already hold, and the CRM's idempotency answers with
  its original receipt instead of applying the batch twice.
* **The ack is written in a transaction of its own, after the CRM answered.** A crash
  between the CRM's ack and the ledger write leaves the batch unacknowledged here; the
  next run resends it with the same key and the CRM replays its receipt.

So a row is never planned twice (primary key), never sent under two keys, and never
skipped (a run ends only when no unacknowledged row remains, or raises).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.act.delivery.tables import crm_delivery_ledger as ledger
from nplpipeline.warehouse.frames import insert_frame

_PLAN_LOCK = 0x6E706C_C7A  # PostgreSQL advisory lock: one planner at a time


@dataclass(frozen=True)
class PendingBatch:
    """An unacknowledged batch, ready to (re)send exactly as planned."""

    batch_no: int
    batch_key: str
    item_ids: tuple[str, ...]
    items: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class LedgerCounts:
    rows: int
    batches: int
    acknowledged_rows: int
    acknowledged_batches: int


def utcnow() -> dt.datetime:
    """Naive UTC, as the ledger's timestamps are stored."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def batch_key(as_of: dt.date, item_ids: Iterable[str]) -> str:
    """The idempotency key: the same date and items always give the same key."""
    text = as_of.isoformat() + "\n" + "\n".join(sorted(item_ids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_batches(
    conn: Connection,
    as_of: dt.date,
    payloads: Mapping[str, str],
    batch_size: int,
    now: dt.datetime | None = None,
) -> int:
    """Plan the date's not-yet-planned items (``item_id`` -> payload JSON); returns new batches."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PLAN_LOCK})
    on_date = ledger.c.as_of_date == as_of
    planned = set(conn.execute(sa.select(ledger.c.item_id).where(on_date)).scalars())
    new_ids = sorted(set(payloads) - planned)
    if not new_ids:
        return 0
    # fetch every row (not .scalar()): DuckDB refuses new work beside an unfinished result
    (last,) = conn.execute(sa.select(sa.func.max(ledger.c.batch_no)).where(on_date)).one()
    first_no = int(last or 0) + 1
    stamp = now or utcnow()
    rows: list[dict[str, Any]] = []
    chunks = [new_ids[i : i + batch_size] for i in range(0, len(new_ids), batch_size)]
    for offset, chunk in enumerate(chunks):
        key = batch_key(as_of, chunk)
        rows += [
            {
                "as_of_date": as_of,
                "item_id": item_id,
                "batch_no": first_no + offset,
                "batch_key": key,
                "planned_at": stamp,
                "acknowledged_at": None,
                "attempts": 0,
                "crm_receipt": None,
                "payload": payloads[item_id],
            }
            for item_id in chunk
        ]
    insert_frame(conn, ledger, pd.DataFrame(rows))
    return len(chunks)


def pending_batches(conn: Connection, as_of: dt.date) -> list[PendingBatch]:
    """The date's unacknowledged batches, in batch order, each with its frozen items."""
    query = (
        sa.select(ledger.c.batch_no, ledger.c.batch_key, ledger.c.item_id, ledger.c.payload)
        .where(ledger.c.as_of_date == as_of, ledger.c.acknowledged_at.is_(None))
        .order_by(ledger.c.batch_no, ledger.c.item_id)
    )
    grouped: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for batch_no, key, item_id, payload in conn.execute(query):
        grouped.setdefault((int(batch_no), key), []).append((item_id, payload))
    return [
        PendingBatch(
            batch_no=no,
            batch_key=key,
            item_ids=tuple(i for i, _ in rows),
            items=tuple(json.loads(p) for _, p in rows),
        )
        for (no, key), rows in grouped.items()
    ]


def mark_acknowledged(
    conn: Connection,
    as_of: dt.date,
    key: str,
    receipt: str,
    attempts: int,
    now: dt.datetime | None = None,
) -> int:
    """Record the CRM's ack of one batch (call in a transaction of its own); returns rows."""
    result = conn.execute(
        ledger.update()
        .where(
            ledger.c.as_of_date == as_of,
            ledger.c.batch_key == key,
            ledger.c.acknowledged_at.is_(None),
        )
        .values(
            acknowledged_at=now or utcnow(),
            crm_receipt=receipt,
            attempts=ledger.c.attempts + attempts,
        )
    )
    return int(result.rowcount or 0)


def record_attempts(conn: Connection, as_of: dt.date, key: str, attempts: int) -> None:
    """Count the requests a batch used without being acknowledged."""
    conn.execute(
        ledger.update()
        .where(ledger.c.as_of_date == as_of, ledger.c.batch_key == key)
        .values(attempts=ledger.c.attempts + attempts)
    )


def ledger_counts(conn: Connection, as_of: dt.date) -> LedgerCounts:
    acked = ledger.c.acknowledged_at.is_not(None)
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(sa.distinct(ledger.c.batch_no)),
            sa.func.count().filter(acked),
            sa.func.count(sa.distinct(ledger.c.batch_no)).filter(acked),
        ).where(ledger.c.as_of_date == as_of)
    ).one()
    return LedgerCounts(*(int(v or 0) for v in row))
