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
    CALL_CHANNELS,
    COMPLAINT_OUTCOME,
    DISPUTE_OUTCOME,
    PAID_OUTCOME,
    PROMISE_OUTCOME,
    UNCONNECTED_OUTCOMES,
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


def stg_contact_history_select(
    as_of: dt.date,
    columns: Sequence[str] = CONTACT_COLUMNS,
    since: dt.date | None = None,
    loan_ids: sa.Select | Sequence[str] | None = None,
    customer_ids: sa.Select | Sequence[str] | None = None,
    where: sa.ColumnElement[bool] | None = None,
    channel: str | None = None,
    shard: Shard | None = None,
) -> sa.Select:
    """``stg_contact_history``'s query, unread: a caller narrows it further (its
    ``selected_columns`` are the contact columns) or aggregates over it in the warehouse,
    through the same known-by-``as_of`` cut."""
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
    return narrow(query, a.c.loan_id, shard)


def stg_contact_frame(conn: Connection, query: sa.Select, vocabulary: bool = True) -> pd.DataFrame:
    """Read a ``stg_contact_history_select`` query, with the vocabulary flags when
    ``vocabulary`` (they need ``channel`` and ``outcome``)."""
    frame = read_frame(conn, query)
    if vocabulary and {"channel", "outcome"} <= set(frame.columns):
        frame = with_vocabulary(frame)
    return frame


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
    query = stg_contact_history_select(
        as_of, columns, since, loan_ids, customer_ids, where, channel, shard
    )
    return stg_contact_frame(conn, query, vocabulary)


def stg_standing_contacts(
    conn: Connection,
    as_of: dt.date,
    before: dt.date,
    columns: Sequence[str] = CONTACT_COLUMNS,
    customer_ids: sa.Select | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Contacts dated before ``before`` (the start of a caller's look-back window) that
    still bind on ``as_of``: a state a contact opened lasts until something closes it,
    however long ago it was. Known-by-``as_of`` as ``stg_contact_history``; no horizon.

    - every ``dispute`` (open until the customer master records it resolved);
    - every promise falling due on ``as_of`` or later, with the ``paid`` contacts on
      those loans (a payment since the promise releases it);
    - each debtor's latest connected call(s) (ties kept): a number whose last answered
      call reached a wrong party stays blocked until a later answered call, and a
      later one in the window supersedes these.
    With the window's own rows they give these rules the same answer as the whole
    history; rolling caps and cooling-off never reach back this far."""
    a = RAW_TABLES["collection_actions"]
    end, start = day_end(as_of), dt.datetime.combine(as_date(before), dt.time())
    old = sa.and_(a.c.action_at < end, a.c.action_at < start)
    if customer_ids is not None:
        old = sa.and_(old, a.c.customer_id.in_(customer_ids))
    promised = sa.and_(a.c.outcome == PROMISE_OUTCOME, a.c.ptp_date >= as_date(as_of))
    promised_loans = sa.select(a.c.loan_id).where(old, promised)
    connected = sa.and_(
        a.c.channel.in_(CALL_CHANNELS),
        sa.or_(a.c.outcome.is_(None), a.c.outcome.not_in(UNCONNECTED_OUTCOMES)),
    )
    last = (
        sa.select(a.c.customer_id, sa.func.max(a.c.action_at).label("last_at"))
        .where(old, connected)
        .group_by(a.c.customer_id)
        .subquery("last_connected")
    )
    is_latest = (
        sa.select(sa.literal(1))
        .where(last.c.customer_id == a.c.customer_id, last.c.last_at == a.c.action_at)
        .exists()
    )
    query = project(a, columns).where(
        old,
        sa.or_(
            a.c.outcome == DISPUTE_OUTCOME,
            promised,
            sa.and_(a.c.outcome == PAID_OUTCOME, a.c.loan_id.in_(promised_loans)),
            sa.and_(connected, is_latest),
        ),
    )
    return read_frame(conn, query)


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
