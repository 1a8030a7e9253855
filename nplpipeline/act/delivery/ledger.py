"""The delivery ledger's rules: plan first, send what is unacknowledged, ack one batch at a time.

Exactly-once towards the CRM rests on four things:

* **Planning is deterministic and happens once per item.** Only items of the date that
  are not in the ledger yet are planned, sorted by ``item_id`` and cut into batches; a
  batch's idempotency key is ``sha256(as_of + "\\n" + sorted "item_id<TAB>sha256(payload)"
  lines)``: the same date, items and payloads always give the same key, and a changed
  payload gives a new one. Planning commits in one transaction, so a crash leaves either
  no plan or the whole plan.
* **A batch is always resent with the same key and the same bytes.** The payload is
  frozen in the ledger at planning time, so a retry, a task retry or a rerun days later
  replays exactly what the CRM may already hold, and the CRM's idempotency answers with
  its original receipt instead of applying the batch twice.
* **The ack is written in a transaction of its own, after the CRM answered.** A crash
  between the CRM's ack and the ledger write leaves the batch unacknowledged here; the
  next run resends it with the same key and the CRM replays its receipt.
* **A refused batch is split, never resent as is.** A 4xx means the CRM applied nothing
  of the batch, so its items may be re-keyed: the batch is cut in two halves with keys
  of their own (``split_batch``) until each refused item stands alone. That item leaves
  the ledger for ``act_crm_rejections`` (``record_rejection``); the rest is delivered.
  Planning skips an item whose current payload is the refused one, and plans it anew
  -- new payload, new key -- once its worklist row was corrected.

So a row is never planned twice (primary key), never sent under two keys unless the CRM
refused the first, and never skipped (a run ends only when no unacknowledged row
remains, or raises).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.act.delivery.tables import crm_delivery_ledger as ledger
from nplpipeline.act.delivery.tables import crm_rejections
from nplpipeline.warehouse.frames import insert_frame

_PLAN_LOCK = 0x6E706C_C7A  # PostgreSQL advisory lock: one planner at a time


@dataclass(frozen=True)
class PendingBatch:
    """An unacknowledged batch, ready to (re)send exactly as planned."""

    batch_no: int
    batch_key: str
    item_ids: tuple[str, ...]
    payloads: tuple[str, ...]  # each item's frozen JSON text

    @property
    def items(self) -> tuple[dict[str, Any], ...]:
        return tuple(json.loads(p) for p in self.payloads)


@dataclass(frozen=True)
class LedgerCounts:
    rows: int
    batches: int
    acknowledged_rows: int
    acknowledged_batches: int


def utcnow() -> dt.datetime:
    """Naive UTC, as the ledger's timestamps are stored."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def payload_sha256(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def batch_key(as_of: dt.date, payloads: Mapping[str, str]) -> str:
    """The idempotency key of ``item_id -> payload``: same date, items and payloads, same key."""
    lines = (f"{item_id}\t{payload_sha256(payloads[item_id])}" for item_id in sorted(payloads))
    text = as_of.isoformat() + "\n" + "\n".join(lines)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _refused(conn: Connection, as_of: dt.date) -> set[tuple[str, str]]:
    """(item_id, payload_sha256) pairs the CRM refused on this date."""
    query = sa.select(crm_rejections.c.item_id, crm_rejections.c.payload_sha256).where(
        crm_rejections.c.as_of_date == as_of
    )
    return {(item_id, sha) for item_id, sha in conn.execute(query)}


def _last_batch_no(conn: Connection, as_of: dt.date) -> int:
    # fetch every row (not .scalar()): DuckDB refuses new work beside an unfinished result
    query = sa.select(sa.func.max(ledger.c.batch_no)).where(ledger.c.as_of_date == as_of)
    (last,) = conn.execute(query).one()
    return int(last or 0)


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
    refused = _refused(conn, as_of)
    new_ids = sorted(
        i for i in set(payloads) - planned if (i, payload_sha256(payloads[i])) not in refused
    )
    if not new_ids:
        return 0
    first_no = _last_batch_no(conn, as_of) + 1
    stamp = now or utcnow()
    rows: list[dict[str, Any]] = []
    chunks = [new_ids[i : i + batch_size] for i in range(0, len(new_ids), batch_size)]
    for offset, chunk in enumerate(chunks):
        key = batch_key(as_of, {i: payloads[i] for i in chunk})
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
            payloads=tuple(p for _, p in rows),
        )
        for (no, key), rows in grouped.items()
    ]


def split_batch(conn: Connection, as_of: dt.date, batch: PendingBatch) -> list[PendingBatch]:
    """Re-plan a refused batch of two or more items as two halves with keys of their own.

    Safe only because a 4xx means the CRM applied nothing under the old key; the halves
    are numbered after the date's last batch and replace the refused one in the ledger.
    """
    if len(batch.item_ids) < 2:
        raise ValueError("a batch of one item cannot be split")
    middle = len(batch.item_ids) // 2
    first_no = _last_batch_no(conn, as_of) + 1
    halves: list[PendingBatch] = []
    for offset, part in enumerate((slice(0, middle), slice(middle, None))):
        ids, payloads = batch.item_ids[part], batch.payloads[part]
        key = batch_key(as_of, dict(zip(ids, payloads, strict=True)))
        halves.append(PendingBatch(first_no + offset, key, ids, payloads))
        conn.execute(
            ledger.update()
            .where(
                ledger.c.as_of_date == as_of,
                ledger.c.batch_key == batch.batch_key,
                ledger.c.item_id.in_(ids),
                ledger.c.acknowledged_at.is_(None),
            )
            .values(batch_no=first_no + offset, batch_key=key)
        )
    return halves


def record_rejection(
    conn: Connection,
    as_of: dt.date,
    batch: PendingBatch,
    reason: Mapping[str, Any],
    now: dt.datetime | None = None,
) -> None:
    """Move a refused one-item batch from the ledger to ``act_crm_rejections``.

    ``reason`` holds ``http_status``, ``error_code``, ``error_field`` and ``attempts``:
    codes and names only, never values.
    """
    (item_id,), (payload,) = batch.item_ids, batch.payloads
    on_item = (ledger.c.as_of_date == as_of) & (ledger.c.item_id == item_id)
    (spent,) = conn.execute(sa.select(ledger.c.attempts).where(on_item)).one()
    conn.execute(ledger.delete().where(on_item, ledger.c.batch_key == batch.batch_key))
    row = {
        "as_of_date": as_of,
        "item_id": item_id,
        "payload_sha256": payload_sha256(payload),
        "batch_key": batch.batch_key,
        "http_status": int(reason["http_status"]),
        "error_code": reason.get("error_code"),
        "error_field": reason.get("error_field"),
        "attempts": int(spent or 0) + int(reason.get("attempts", 0)),
        "rejected_at": now or utcnow(),
    }
    insert_frame(conn, crm_rejections, pd.DataFrame([row]))


def rejection_count(conn: Connection, as_of: dt.date) -> int:
    """Items of the date refused by the CRM and not delivered since (in no ledger row)."""
    delivered = sa.select(ledger.c.item_id).where(ledger.c.as_of_date == as_of)
    query = sa.select(sa.func.count(sa.distinct(crm_rejections.c.item_id))).where(
        crm_rejections.c.as_of_date == as_of, crm_rejections.c.item_id.not_in(delivered)
    )
    (count,) = conn.execute(query).one()
    return int(count or 0)


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
