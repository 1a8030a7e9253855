"""The delinquency stage: warehouse raw tables in, one as-of date's snapshot out.

Rerunning a date replaces that date's partition of ``int_delinquency_snapshot``, so a
rerun or a backfill never duplicates.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import pandas as pd
from sqlalchemy.engine import Connection

from nplpipeline.delinquency.engine import compute_snapshot
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import Settings, get_settings
from nplpipeline.staging import stg_installments, stg_loans_as_of, stg_repayments
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.partitions import replace_partition

log = logging.getLogger(__name__)

_LOAN_COLUMNS = (
    "loan_id", "customer_id", "product", "origination_date", "principal_amount", "status",
)  # fmt: skip


def read_inputs(conn: Connection, as_of: dt.date) -> dict[str, pd.DataFrame]:
    """Loans as they stood on ``as_of``, the schedule, and repayments paid by then."""
    return {
        "loans": stg_loans_as_of(conn, as_of, _LOAN_COLUMNS),
        "installments": stg_installments(conn),
        "repayments": stg_repayments(
            conn, as_of, ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of")
        ),
    }


def run_delinquency_snapshot(as_of: dt.date, settings: Settings | None = None) -> dict[str, object]:
    """Compute and store the snapshot for ``as_of``; returns small counts for logs and XCom."""
    settings = settings or get_settings()
    policy = settings.policy.delinquency
    engine = create_warehouse_engine(settings.warehouse_url)
    clock = time.perf_counter()
    try:
        with begin(engine) as conn:
            ensure_schema(conn)
            frames = read_inputs(conn, as_of)
        read_s, clock = time.perf_counter() - clock, time.perf_counter()
        snapshot = compute_snapshot(
            frames["loans"], frames["installments"], frames["repayments"], as_of, policy
        )
        compute_s, clock = time.perf_counter() - clock, time.perf_counter()
        with begin(engine) as conn:
            rows = replace_partition(conn, delinquency_snapshot, "as_of_date", as_of, snapshot)
        write_s = time.perf_counter() - clock
    finally:
        engine.dispose()
    delinquent = int((snapshot["dpd"] > 0).sum())
    npl = int(snapshot["is_npl"].sum())
    log.info(
        "delinquency %s: %d loans, %d delinquent, %d NPL (read %.1fs, compute %.1fs, write %.1fs)",
        as_of, rows, delinquent, npl, read_s, compute_s, write_s,
    )  # fmt: skip
    return {
        "as_of": as_of.isoformat(),
        "loans": rows,
        "delinquent": delinquent,
        "npl": npl,
        "seconds": {
            "read": round(read_s, 2),
            "compute": round(compute_s, 2),
            "write": round(write_s, 2),
        },
    }
