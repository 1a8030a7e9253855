"""Repayments known by D, raw and as signed flows (reversals netted by their own date)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.report.kpis.repayments import repayment_flows
from nplpipeline.staging.asof import day_end, project
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.shards import Shard, narrow
from nplpipeline.warehouse.tables import RAW_TABLES

REPAYMENT_COLUMNS: tuple[str, ...] = (
    "repayment_id", "loan_id", "paid_at", "amount", "reversal_of", "channel", "agency_id",
    "collector_id",
)  # fmt: skip


def stg_repayments_select(
    as_of: dt.date,
    columns: Sequence[str] = REPAYMENT_COLUMNS,
    loan_ids: sa.Select | Sequence[str] | None = None,
    since: dt.date | None = None,
    shard: Shard | None = None,
) -> sa.Select:
    """``stg_repayments``' query, unread: a caller narrows it further (its
    ``selected_columns`` are the repayment columns) or aggregates over it in the
    warehouse, through the same paid-by-``as_of`` cut."""
    r = RAW_TABLES["repayments"]
    query = project(r, columns).where(r.c.paid_at < day_end(as_of))
    if since is not None:
        query = query.where(r.c.paid_at >= dt.datetime.combine(since, dt.time()))
    if loan_ids is not None:
        query = query.where(r.c.loan_id.in_(loan_ids))
    return narrow(query, r.c.loan_id, shard)


def stg_repayments(
    conn: Connection,
    as_of: dt.date,
    columns: Sequence[str] = REPAYMENT_COLUMNS,
    loan_ids: sa.Select | Sequence[str] | None = None,
    since: dt.date | None = None,
    shard: Shard | None = None,
) -> pd.DataFrame:
    """Repayment rows paid on or before ``as_of`` (and on or after ``since``), of
    ``shard``'s loans when given."""
    return read_frame(conn, stg_repayments_select(as_of, columns, loan_ids, since, shard))


def stg_signed_repayments(
    conn: Connection,
    as_of: dt.date,
    loan_ids: sa.Select | Sequence[str] | None = None,
    since: dt.date | None = None,
) -> pd.DataFrame:
    """Money flows known by ``as_of``: a payment positive, a reversal negative on the day
    it was booked (``repayment_flows``), so sums are net of reversals."""
    columns = ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of")
    return repayment_flows(stg_repayments(conn, as_of, columns, loan_ids, since))
