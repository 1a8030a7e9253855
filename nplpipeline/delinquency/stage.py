"""The delinquency stage: warehouse raw tables in, one as-of date's snapshot out.

Rerunning a date replaces that date's partition of ``int_delinquency_snapshot``, so a
rerun or a backfill never duplicates.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from nplpipeline.delinquency.engine import compute_snapshot
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.partitions import replace_partition
from nplpipeline.warehouse.tables import RAW_TABLES, delinquency_snapshot, ensure_schema

log = logging.getLogger(__name__)

_INPUTS = {
    "loans": (
        "loan_id", "customer_id", "product", "origination_date", "principal_amount", "status",
    ),
    "installments": (
        "loan_id", "installment_no", "due_date", "principal_due", "interest_due", "fee_due",
    ),
    "repayments": ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of"),
}  # fmt: skip


def run_delinquency_snapshot(as_of: dt.date, settings: Settings | None = None) -> dict[str, object]:
    """Compute and store the snapshot for ``as_of``; returns small counts for logs and XCom."""
    settings = settings or get_settings()
    policy = settings.policy.delinquency
    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            ensure_schema(conn)
            frames = {
                name: read_frame(conn, sa.select(*(RAW_TABLES[name].c[c] for c in columns)))
                for name, columns in _INPUTS.items()
            }
        snapshot = compute_snapshot(
            frames["loans"], frames["installments"], frames["repayments"], as_of, policy
        )
        with begin(engine) as conn:
            rows = replace_partition(conn, delinquency_snapshot, "as_of_date", as_of, snapshot)
    finally:
        engine.dispose()
    delinquent = int((snapshot["dpd"] > 0).sum())
    npl = int(snapshot["is_npl"].sum())
    log.info("delinquency %s: %d loans, %d delinquent, %d NPL", as_of, rows, delinquent, npl)
    return {"as_of": as_of.isoformat(), "loans": rows, "delinquent": delinquent, "npl": npl}
