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
how many batches remain; rerunning (or the task's retry) sends only those.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from nplpipeline.act.delivery import ledger  # importing it registers the ledger table
from nplpipeline.act.delivery.client import CrmClient, CrmDeliveryError
from nplpipeline.act.delivery.crm_config import CrmEndpoint, resolve_crm_endpoint
from nplpipeline.act.delivery.export import join_url, write_bundle
from nplpipeline.act.delivery.payload import FIELD_NAMES, item_json, items, worklist_table
from nplpipeline.act.tables import worklist  # importing registers it for ensure_schema
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
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


def push_pending(engine: sa.Engine, as_of: dt.date, endpoint: CrmEndpoint) -> dict[str, int]:
    """Send every unacknowledged batch of the date; ack each in its own transaction."""
    with begin(engine) as conn:
        pending = ledger.pending_batches(conn, as_of)
        before = ledger.ledger_counts(conn, as_of)
    sent = replayed = items_sent = 0
    if pending:
        log.info("CRM %s: %d unacknowledged batch(es) to send", as_of, len(pending))
    with CrmClient(endpoint) as client:
        for batch in pending:
            try:
                result = client.push_batch(as_of, batch.batch_key, batch.items)
            except CrmDeliveryError as exc:
                with begin(engine) as conn:
                    ledger.record_attempts(conn, as_of, batch.batch_key, exc.attempts)
                remaining = len(pending) - sent
                raise DeliveryIncompleteError(
                    f"CRM delivery for {as_of} incomplete: {remaining} of {before.batches}"
                    f" batch(es) unacknowledged after batch {batch.batch_no} failed ({exc});"
                    " a rerun sends only those",
                    remaining=remaining,
                    total=before.batches,
                    permanent=exc.permanent,
                ) from exc
            with begin(engine) as conn:  # the ack, and nothing else, in this transaction
                ledger.mark_acknowledged(
                    conn, as_of, batch.batch_key, result.receipt, result.attempts
                )
            sent += 1
            replayed += int(result.replayed)
            items_sent += len(batch.items)
    return {
        "already_acknowledged": before.acknowledged_batches,
        "sent": sent,
        "replayed": replayed,
        "items_sent": items_sent,
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
    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            ensure_schema(conn)
            table = read_worklist(conn, as_of)
        manifest = export_files(settings, as_of, table)
        summary: dict[str, Any] = {
            "as_of": as_of.isoformat(),
            "rows": table.num_rows,
            "files": len(manifest["files"]),
            "outbox": join_url(settings.outbox_dir, bundle_folder(as_of)),
            "crm": endpoint.url if endpoint else "not configured",
            "batches": 0,
            "new_batches": 0,
            "already_acknowledged": 0,
            "sent": 0,
            "replayed": 0,
            "items_sent": 0,
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
    finally:
        engine.dispose()
    log.info("CRM delivery %s to %s: %s", as_of, endpoint.describe(), summary)
    return summary
