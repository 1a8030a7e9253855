"""Contact history known by D, each row flagged with the contract's contact vocabulary.

*Known by D* means dated before D, or dated D and arrived in a drop dated D or earlier.
A CRM or an agency exports a day's performed contacts with the next day's drop, so
without the second clause a rerun of D after D + 1's drop would see D's own contacts
-- the ones D's worklist caused -- and decide differently (cadence, caps, promises)
from the run it repeats, and a closed day's contact KPIs would move. Rows dated before
D count whatever their drop, so a catch-up load (years of history in one drop dated
later) still answers every earlier date.

The flags come from ``nplpipeline.contract`` (the one definition the guardrails, the
facts and the marts share), so a count over them is the same count everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.contract import (
    COMPLAINT_OUTCOME,
    PROMISE_OUTCOME,
    is_call_attempt,
    is_connected_call,
    is_conversation,
    is_right_party_call,
)
from nplpipeline.staging.asof import as_date, day_end, project
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.shards import Shard, narrow
from nplpipeline.warehouse.tables import RAW_TABLES

CONTACT_COLUMNS: tuple[str, ...] = (
    "action_id", "loan_id", "customer_id", "action_at", "channel", "performed_by",
    "outcome", "ptp_amount", "ptp_date", "offer",
)  # fmt: skip
VOCABULARY_COLUMNS: tuple[str, ...] = (
    "is_call_attempt", "is_connected", "is_conversation", "is_right_party", "is_promise",
    "is_complaint",
)  # fmt: skip


def with_vocabulary(actions: pd.DataFrame) -> pd.DataFrame:
    """``actions`` plus one boolean column per counted kind of contact."""
    channel, outcome = actions["channel"], actions["outcome"]
    return actions.assign(
        is_call_attempt=is_call_attempt(channel),
        is_connected=is_connected_call(channel, outcome),
        is_conversation=is_conversation(channel, outcome),
        is_right_party=is_right_party_call(channel, outcome),
        is_promise=outcome.eq(PROMISE_OUTCOME).fillna(False).astype(bool),
        is_complaint=outcome.eq(COMPLAINT_OUTCOME).fillna(False).astype(bool),
    )


def stg_contact_history(
    conn: Connection,
    as_of: dt.date,
    columns: Sequence[str] = CONTACT_COLUMNS,
    since: dt.date | None = None,
    loan_ids: sa.Select | Sequence[str] | None = None,
    customer_ids: sa.Select | Sequence[str] | None = None,
    where: sa.ColumnElement[bool] | None = None,
    vocabulary: bool = True,
    channel: str | None = None,
    shard: Shard | None = None,
) -> pd.DataFrame:
    """Collection actions known by ``as_of`` (dated before it, or on it and arrived by
    it; on or after ``since``), with the vocabulary flags when ``vocabulary`` (they need
    ``channel`` and ``outcome``); of ``shard``'s loans when given."""
    a = RAW_TABLES["collection_actions"]
    day_start = dt.datetime.combine(as_date(as_of), dt.time())
    query = project(a, columns).where(
        a.c.action_at < day_end(as_of),
        sa.or_(a.c.action_at < day_start, a.c._drop_date <= as_date(as_of)),
    )
    if since is not None:
        query = query.where(a.c.action_at >= dt.datetime.combine(since, dt.time()))
    if loan_ids is not None:
        query = query.where(a.c.loan_id.in_(loan_ids))
    if customer_ids is not None:
        query = query.where(a.c.customer_id.in_(customer_ids))
    if channel is not None:
        query = query.where(a.c.channel == channel)
    if where is not None:
        query = query.where(where)
    frame = read_frame(conn, narrow(query, a.c.loan_id, shard))
    if vocabulary and {"channel", "outcome"} <= set(frame.columns):
        frame = with_vocabulary(frame)
    return frame


def stg_contacted_loan_ids(
    as_of: dt.date, channel: str | None = None, outcome: str | None = None
) -> sa.Select:
    """Loan ids with a contact known by ``as_of`` (of ``channel`` / with ``outcome`` when
    given), as a subquery: other readers narrow their reads with it in SQL, through the
    same as-of cut as the contact history itself."""
    a = RAW_TABLES["collection_actions"]
    query = sa.select(a.c.loan_id).where(a.c.action_at < day_end(as_of))
    if channel is not None:
        query = query.where(a.c.channel == channel)
    if outcome is not None:
        query = query.where(a.c.outcome == outcome)
    return query
