"""The schedule, the agencies, the collectors and the surveys, as known by D."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.staging.asof import day_end, project
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.shards import Shard, narrow
from nplpipeline.warehouse.tables import RAW_TABLES

INSTALLMENT_COLUMNS: tuple[str, ...] = (
    "loan_id", "installment_no", "due_date", "principal_due", "interest_due", "fee_due",
)  # fmt: skip
AGENCY_COLUMNS: tuple[str, ...] = (
    "agency_id", "name", "commission_rate", "monthly_capacity", "provinces", "active",
)  # fmt: skip
COLLECTOR_COLUMNS: tuple[str, ...] = ("collector_id", "team", "role", "daily_capacity", "active")
SATISFACTION_COLUMNS: tuple[str, ...] = (
    "survey_id", "customer_id", "surveyed_at", "score", "complaint",
)  # fmt: skip


def stg_installments(
    conn: Connection,
    columns: Sequence[str] = INSTALLMENT_COLUMNS,
    loan_ids: sa.Select | Sequence[str] | None = None,
    shard: Shard | None = None,
) -> pd.DataFrame:
    """The repayment schedule (the engine reads only installments due before D), of
    ``shard``'s loans when given."""
    i = RAW_TABLES["installments"]
    query = project(i, columns)
    if loan_ids is not None:
        query = query.where(i.c.loan_id.in_(loan_ids))
    return read_frame(conn, narrow(query, i.c.loan_id, shard))


def stg_agencies(conn: Connection, columns: Sequence[str] = AGENCY_COLUMNS) -> pd.DataFrame:
    a = RAW_TABLES["agencies"]
    return read_frame(conn, project(a, columns).order_by(a.c.agency_id))


def stg_collectors(conn: Connection, columns: Sequence[str] = COLLECTOR_COLUMNS) -> pd.DataFrame:
    c = RAW_TABLES["collectors"]
    return read_frame(conn, project(c, columns).order_by(c.c.collector_id))


def stg_satisfaction_select(
    as_of: dt.date, columns: Sequence[str] = SATISFACTION_COLUMNS
) -> sa.Select:
    """``stg_satisfaction``'s query, unread (e.g. as a subquery of customer ids)."""
    s = RAW_TABLES["satisfaction"]
    return project(s, columns).where(s.c.surveyed_at < day_end(as_of))


def stg_satisfaction(
    conn: Connection, as_of: dt.date, columns: Sequence[str] = SATISFACTION_COLUMNS
) -> pd.DataFrame:
    """Surveys answered on or before ``as_of``."""
    return read_frame(conn, stg_satisfaction_select(as_of, columns))
