"""Loans and customers as they stood on D, from their SCD2 history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.staging.asof import day_end, project, valid_on
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.shards import Shard, narrow
from nplpipeline.warehouse.tables import HISTORY_TABLES

# Everything but PII; a reader may narrow further.
LOAN_COLUMNS: tuple[str, ...] = (
    "loan_id", "customer_id", "product", "origination_date", "principal_amount",
    "annual_interest_rate", "term_months", "currency", "status", "updated_at",
)  # fmt: skip
CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id", "birth_date", "province", "city", "timezone", "monthly_income",
    "employment_type", "do_not_contact", "deceased", "bankruptcy", "dispute_open",
    "vulnerable", "updated_at",
)  # fmt: skip


def _read(
    conn: Connection,
    entity: str,
    key: str,
    as_of: dt.date,
    columns: Sequence[str],
    keys: sa.Select | Sequence[str] | None,
    shard: Shard | None = None,
) -> pd.DataFrame:
    table = valid_on(entity, as_of)
    query = project(table, columns)
    if keys is not None:
        query = query.where(table.c[key].in_(keys))
    if shard is not None and not shard.whole:
        if entity == "loans":
            query = narrow(query, table.c.loan_id, shard)
        else:  # a shard's customers: those of its loans (any version)
            query = query.where(table.c[key].in_(shard_customer_ids(shard)))
    return read_frame(conn, query.order_by(table.c[key]))


def shard_customer_ids(shard: Shard) -> sa.Select:
    """The customers of ``shard``'s loans, as a subquery (any version of the loan)."""
    h = HISTORY_TABLES["loans"]
    return narrow(sa.select(h.c.customer_id).distinct(), h.c.loan_id, shard)


def loan_customer_ids(loan_ids: sa.Select) -> sa.Select:
    """The customers of the loans ``loan_ids`` names, as a subquery (any version of the
    loan, so every customer a loan had is among them)."""
    h = HISTORY_TABLES["loans"]
    return sa.select(h.c.customer_id).distinct().where(h.c.loan_id.in_(loan_ids))


def stg_loans_as_of(
    conn: Connection,
    as_of: dt.date,
    columns: Sequence[str] = LOAN_COLUMNS,
    loan_ids: sa.Select | Sequence[str] | None = None,
    shard: Shard | None = None,
) -> pd.DataFrame:
    """Each loan known by ``as_of`` with the status and terms valid at the end of that day
    (a loan first loaded later does not exist yet); ordered by ``loan_id``; only the
    loans of ``shard`` when given (the predicate runs in the warehouse)."""
    return _read(conn, "loans", "loan_id", as_of, columns, loan_ids, shard)


def stg_customers_as_of(
    conn: Connection,
    as_of: dt.date,
    columns: Sequence[str] = CUSTOMER_COLUMNS,
    customer_ids: sa.Select | Sequence[str] | None = None,
    shard: Shard | None = None,
) -> pd.DataFrame:
    """Each customer's attributes and flags valid at the end of ``as_of`` (PII columns
    only when a caller names them, e.g. the phone for delivery); ordered by id; only
    the customers of ``shard``'s loans when given."""
    return _read(conn, "customers", "customer_id", as_of, columns, customer_ids, shard)


STATUS_TIMELINE_COLUMNS = ("loan_id", "status", "valid_from", "valid_to")


def stg_loan_status_history(
    conn: Connection,
    as_of: dt.date,
    loan_ids: sa.Select | Sequence[str] | None = None,
    shard: Shard | None = None,
) -> pd.DataFrame:
    """Every status version of the loans known by ``as_of``, with its validity interval
    (``valid_to`` NULL while open): what a multi-date computation needs to ask each date's
    status without reading the warehouse once per date. Versions from after ``as_of``
    are left out, and a version still open on ``as_of`` is open here."""
    h = HISTORY_TABLES["loans"]
    end = day_end(as_of)
    valid_to = sa.case((h.c.valid_to >= end, sa.null()), else_=h.c.valid_to)
    query = sa.select(h.c.loan_id, h.c.status, h.c.valid_from, valid_to.label("valid_to")).where(
        h.c.valid_from < end
    )
    if loan_ids is not None:
        query = query.where(h.c.loan_id.in_(loan_ids))
    return read_frame(conn, narrow(query, h.c.loan_id, shard))


def status_on(timeline: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Each loan's status valid at the end of ``as_of`` (index ``loan_id``); loans first
    seen later are absent. Pure: ``timeline`` is ``stg_loan_status_history``'s frame."""
    end = pd.Timestamp(day_end(as_of))
    valid_to = pd.to_datetime(timeline["valid_to"])
    live = (pd.to_datetime(timeline["valid_from"]) < end) & (valid_to.isna() | (valid_to >= end))
    rows = timeline.loc[live]
    return pd.Series(rows["status"].to_numpy(), index=pd.Index(rows["loan_id"], name="loan_id"))
