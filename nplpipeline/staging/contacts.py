"""Contact history known by D, each row flagged with the contract's contact vocabulary.

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
from nplpipeline.staging.asof import day_end, project
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
    shard: Shard | None = None,
) -> pd.DataFrame:
    """Collection actions dated on or before ``as_of`` (and on or after ``since``), with
    the vocabulary flags when ``vocabulary`` (they need ``channel`` and ``outcome``); of
    ``shard``'s loans when given."""
    a = RAW_TABLES["collection_actions"]
    query = project(a, columns).where(a.c.action_at < day_end(as_of))
    if since is not None:
        query = query.where(a.c.action_at >= dt.datetime.combine(since, dt.time()))
    if loan_ids is not None:
        query = query.where(a.c.loan_id.in_(loan_ids))
    if customer_ids is not None:
        query = query.where(a.c.customer_id.in_(customer_ids))
    if where is not None:
        query = query.where(where)
    frame = read_frame(conn, narrow(query, a.c.loan_id, shard))
    if vocabulary and {"channel", "outcome"} <= set(frame.columns):
        frame = with_vocabulary(frame)
    return frame
