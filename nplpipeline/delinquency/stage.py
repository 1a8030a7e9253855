"""The delinquency stage: warehouse raw tables in, one as-of date's snapshot out.

Rerunning a date replaces that date's partition of ``int_delinquency_snapshot``, so a
rerun or a backfill never duplicates. With a ``shard`` (``warehouse/shards.py``) the
stage reads only that shard's loans, schedule and repayments (the predicate runs in the
warehouse) and replaces only that shard's rows of the date.
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
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.partitions import replace_shard
from nplpipeline.warehouse.shards import Shard

log = logging.getLogger(__name__)

_LOAN_COLUMNS = (
    "loan_id", "customer_id", "product", "origination_date", "principal_amount", "status",
)  # fmt: skip


def read_inputs(
    conn: Connection, as_of: dt.date, shard: Shard | None = None
) -> dict[str, pd.DataFrame]:
    """Loans as they stood on ``as_of``, the schedule, and repayments paid by then (of
    ``shard``'s loans when given)."""
    repayment_columns = ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of")
    return {
        "loans": stg_loans_as_of(conn, as_of, _LOAN_COLUMNS, shard=shard),
        "installments": stg_installments(conn, shard=shard),
        "repayments": stg_repayments(conn, as_of, repayment_columns, shard=shard),
    }


def run_delinquency_snapshot(
    as_of: dt.date, settings: Settings | None = None, shard: Shard | None = None
) -> dict[str, object]:
    """Compute and store the snapshot for ``as_of`` (one shard's rows when ``shard`` is
    given); returns small counts for logs and XCom."""
    settings = settings or get_settings()
    policy = settings.policy.delinquency
    clock = time.perf_counter()
    with opened(settings.warehouse_url) as engine:
        with begin(engine) as conn:
            ensure_schema(conn)
            frames = read_inputs(conn, as_of, shard)
        read_s, clock = time.perf_counter() - clock, time.perf_counter()
        snapshot = compute_snapshot(
            frames["loans"], frames["installments"], frames["repayments"], as_of, policy
        )
        compute_s, clock = time.perf_counter() - clock, time.perf_counter()
        with begin(engine) as conn:
            rows = replace_shard(conn, delinquency_snapshot, as_of, shard, snapshot)
        write_s = time.perf_counter() - clock
    delinquent = int((snapshot["dpd"] > 0).sum())
    npl = int(snapshot["is_npl"].sum())
    log.info(
        "delinquency %s shard %s: %d loans, %d delinquent, %d NPL "
        "(read %.1fs, compute %.1fs, write %.1fs)",
        as_of, (shard or Shard()).label(), rows, delinquent, npl, read_s, compute_s, write_s,
    )  # fmt: skip
    return {
        "as_of": as_of.isoformat(),
        "shard": (shard or Shard()).to_xcom(),
        "loans": rows,
        "delinquent": delinquent,
        "npl": npl,
        "seconds": {
            "read": round(read_s, 2),
            "compute": round(compute_s, 2),
            "write": round(write_s, 2),
        },
    }
