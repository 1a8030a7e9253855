"""CRM delivery for one as-of date: export the worklist as files, then push it to the CRM.

1. Read the date's ``act_worklist`` rows -- only the allow-listed columns of
   ``payload.FIELDS`` are even selected, so nothing else can leak.
2. Write the bundle ``crm/<as_of>`` to the outbox (local folder or any fsspec URL): one
   table per channel, ``worklist_<channel>``, as CSV (UTF-8 with BOM) and Parquet, plus
   the manifest. Reruns rewrite the same bytes.
3. With a CRM configured: plan the items not yet in the delivery ledger into new
   batches, then push every unacknowledged batch with its idempotency key, recording
   each ack in its own transaction (see ``ledger.py``). Without one: say so and stop.

A batch that exhausts its retries stops the run with ``DeliveryIncompleteError`` naming
how many batches remain; rerunning (or the task's retry) sends only those. A batch the
CRM refuses item by item (400, 413, 422) is split until the refused items stand alone;
they go to ``act_crm_rejections`` with the CRM's reason, and the rest of the day is
delivered. Other 4xx (401, 403, 404, ...) stop the run as permanent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from nplpipeline.act.delivery import ledger  # importing it registers the ledger table
from nplpipeline.act.delivery.client import CrmClient, CrmDeliveryError, CrmRejectedError
from nplpipeline.act.delivery.crm_config import CrmEndpoint, resolve_crm_endpoint
from nplpipeline.act.delivery.export import join_url, write_bundle
from nplpipeline.act.delivery.ledger import PendingBatch
from nplpipeline.act.delivery.payload import FIELD_NAMES, item_json, items, worklist_table
from nplpipeline.act.tables import worklist  # importing registers it for ensure_schema
from nplpipeline.settings import Settings, get_settings, mask_url
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.tables import ensure_schema

log = logging.getLogger(__name__)

BUNDLE_ROOT = "crm"


class DeliveryIncompleteError(CrmDeliveryError):
    """Some batches of the date are still unacknowledged; a rerun sends only those."""

    def __init__(self, message: str, remaining: int, total: int, permanent: bool) -> None:
        super().__init__(message)
        self.remaining = remaining
        self.total = total
        self.permanent = permanent


def bundle_folder(as_of: dt.date) -> str:
    return f"{BUNDLE_ROOT}/{as_of.isoformat()}"


def read_worklist(conn: sa.Connection, as_of: dt.date) -> pa.Table:
    """The date's worklist, allow-listed columns only, typed, ordered by ``item_id``."""
    columns = [worklist.c[name] for name in FIELD_NAMES]
    query = sa.select(*columns).where(worklist.c.as_of_date == as_of).order_by(worklist.c.item_id)
    # Plain rows, not frames.read_frame: its PostgreSQL path cannot parse timestamptz.
    return worklist_table(as_of, (row._mapping for row in conn.execute(query)))


def _table_name(channel: str) -> str:
    return "worklist_" + (re.sub(r"[^a-z0-9]+", "_", channel.lower()).strip("_") or "unknown")


def channel_frames(table: pa.Table) -> dict[str, pd.DataFrame]:
    """One typed frame per channel, in queue order (files people open and work down)."""
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    out: dict[str, pd.DataFrame] = {}
    for channel in sorted(frame["channel"].dropna().unique()):
        part = frame[frame["channel"] == channel]
        part = part.sort_values(["queue", "queue_rank", "item_id"], kind="stable")
        out[_table_name(str(channel))] = part.reset_index(drop=True)
    return out


def _policy_meta(settings: Settings) -> dict[str, str]:
    path = settings.policy_file
    return {"policy": path.name, "policy_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def export_files(settings: Settings, as_of: dt.date, table: pa.Table) -> dict[str, Any]:
    """Write the ``crm/<as_of>`` bundle and return its manifest."""
    meta = {
        "as_of": as_of.isoformat(),
        "kind": "crm_worklist",
        "payload_fields": list(FIELD_NAMES),
        "payload_doc": "docs/crm-payload.md",
        **_policy_meta(settings),
    }
    return write_bundle(settings.outbox_dir, bundle_folder(as_of), channel_frames(table), meta)


# 4xx that say "something in these items is wrong": splitting the batch finds the item.
# Others (401, 403, 404, 415, ...) concern the request itself: splitting cannot help.
ITEM_LEVEL_STATUSES = frozenset({400, 413, 422})


@dataclass
class _PushTally:
    sent: int = 0
    replayed: int = 0
    items_sent: int = 0
    split: int = 0
    rejected: int = 0


def _isolate(engine: sa.Engine, as_of: dt.date, batch: PendingBatch, exc: CrmRejectedError):
    """A refused batch: its halves to send next, or (one item) its rejection recorded."""
    with begin(engine) as conn:
        if len(batch.item_ids) > 1:
            ledger.record_attempts(conn, as_of, batch.batch_key, exc.attempts)
            return ledger.split_batch(conn, as_of, batch)
        reason = {
            "http_status": exc.status,
            "error_code": exc.code,
            "error_field": exc.field,
            "attempts": exc.attempts,
        }
        ledger.record_rejection(conn, as_of, batch, reason)
    return []


def _incomplete(
    engine: sa.Engine, as_of: dt.date, batch: PendingBatch, exc: CrmDeliveryError
) -> DeliveryIncompleteError:
    with begin(engine) as conn:
        ledger.record_attempts(conn, as_of, batch.batch_key, exc.attempts)
        counts = ledger.ledger_counts(conn, as_of)
    remaining = counts.batches - counts.acknowledged_batches
    return DeliveryIncompleteError(
        f"CRM delivery for {as_of} incomplete: {remaining} of {counts.batches}"
        f" batch(es) unacknowledged after batch {batch.batch_no} failed ({exc});"
        " a rerun sends only those",
        remaining=remaining,
        total=counts.batches,
        permanent=exc.permanent,
    )


def push_pending(engine: sa.Engine, as_of: dt.date, endpoint: CrmEndpoint) -> dict[str, int]:
    """Send every unacknowledged batch of the date; ack each in its own transaction.

    A batch refused with an item-level 4xx is split in halves, sent next, until every
    refused item stands alone and goes to ``act_crm_rejections``; the rest is delivered.
    """
    with begin(engine) as conn:
        queue = deque(ledger.pending_batches(conn, as_of))
        before = ledger.ledger_counts(conn, as_of)
    tally = _PushTally()
    if queue:
        log.info("CRM %s: %d unacknowledged batch(es) to send", as_of, len(queue))
    with CrmClient(endpoint) as client:
        while queue:
            batch = queue.popleft()
            try:
                result = client.push_batch(as_of, batch.batch_key, batch.items)
            except CrmRejectedError as exc:
                if exc.status not in ITEM_LEVEL_STATUSES:
                    raise _incomplete(engine, as_of, batch, exc) from exc
                halves = _isolate(engine, as_of, batch, exc)
                queue.extendleft(reversed(halves))
                tally.split += int(bool(halves))
                tally.rejected += int(not halves)
                continue
            except CrmDeliveryError as exc:
                raise _incomplete(engine, as_of, batch, exc) from exc
            with begin(engine) as conn:  # the ack, and nothing else, in this transaction
                ledger.mark_acknowledged(
                    conn, as_of, batch.batch_key, result.receipt, result.attempts
                )
            tally.sent += 1
            tally.replayed += int(result.replayed)
            tally.items_sent += len(batch.item_ids)
    return {
        "already_acknowledged": before.acknowledged_batches,
        "sent": tally.sent,
        "replayed": tally.replayed,
        "items_sent": tally.items_sent,
        "split_batches": tally.split,
        "rejected_items": tally.rejected,
    }


def run_crm_delivery(
    as_of: dt.date, settings: Settings | None = None, endpoint: CrmEndpoint | None = None
) -> dict[str, Any]:
    """Export ``as_of``'s worklist to the outbox and deliver it to the CRM exactly once.

    ``endpoint`` defaults to ``resolve_crm_endpoint()`` (env, then Airflow connection);
    when neither is set, only the files are written and ``crm`` says "not configured".
    """
    settings = settings or get_settings()
    endpoint = endpoint or resolve_crm_endpoint()
    with opened(settings.warehouse_url) as engine:
        with begin(engine) as conn:
            ensure_schema(conn)
            table = read_worklist(conn, as_of)
        manifest = export_files(settings, as_of, table)
        summary: dict[str, Any] = {
            "as_of": as_of.isoformat(),
            "rows": table.num_rows,
            "files": len(manifest["files"]),
            "outbox": mask_url(join_url(settings.outbox_dir, bundle_folder(as_of))),
            "crm": mask_url(endpoint.url) if endpoint else "not configured",
            "batches": 0,
            "new_batches": 0,
            "already_acknowledged": 0,
            "sent": 0,
            "replayed": 0,
            "items_sent": 0,
            "split_batches": 0,
            "rejected_items": 0,
            "rejected_open": 0,
        }
        if endpoint is None:
            log.warning(
                "CRM delivery %s: no CRM configured (NPL_CRM_URL or Airflow connection"
                " npl_crm): exported %d rows as files only",
                as_of,
                table.num_rows,
            )
            return summary
        payloads = {rec["item_id"]: item_json(rec) for rec in items(table)}
        with begin(engine) as conn:
            summary["new_batches"] = ledger.plan_batches(conn, as_of, payloads, endpoint.batch_size)
        summary.update(push_pending(engine, as_of, endpoint))
        with begin(engine) as conn:
            summary["batches"] = ledger.ledger_counts(conn, as_of).batches
            summary["rejected_open"] = ledger.rejection_count(conn, as_of)
    log.info("CRM delivery %s to %s: %s", as_of, endpoint.describe(), summary)
    if summary["rejected_open"]:
        log.warning(
            "CRM delivery %s: %d item(s) refused by the CRM are held in act_crm_rejections"
            " (everything else was delivered); correct their worklist rows and rerun",
            as_of,
            summary["rejected_open"],
        )
    return summary
