"""Loans that can be in arrears and on book on given dates: a superset, decided in SQL.

The features stage keeps a row only for a loan with DPD > 0 that is on book on the
as-of date (a few percent of the book), yet preparing the delinquency engine costs the
same per loan whether it gets a row or not. This query names the loans that *can* get
a row, so the stage reads and prepares only those.

Why it is a superset of the engine's DPD > 0 (``delinquency/allocation.py``), per loan
and date d, with the rows the stage reads (repayments paid before the end of the data
date ``known``, so late-arriving rows and reversals count by their own dates; the whole
schedule; the status versions loaded by ``known``):

- the engine settles the pot P = clip(net paid by d, 0, total scheduled) oldest
  installment first. DPD > 0 means an installment due strictly before d has more than
  the tolerance T left: either the first row k not fully paid (what is left is the sum
  due through k minus P) or an untouched later row j with more than T due. Rows are
  settled in due-date order and amounts are not negative (the contract's range rules),
  so all that is due through k or j is part of D(d), the sum due strictly before d,
  and D(d) - P > T follows. A loan with net > total has P = total >= D(d) and is not
  delinquent, so for the others P = max(net, 0): the condition below.
- net: a row counts negatively when ``reversal_of`` is not NULL and not blank after
  trimming spaces; the engine trims any whitespace, so SQL calls at least the engine's
  reversals reversals and its net is never above the engine's (the safe direction).
- money is NUMERIC(18, 2), so the sums are exact, as the engine's whole cents are; a
  NULL amount counts 0 in both.
- on book: some status version loaded by ``known`` is valid at the end of d (the
  interval ``stg_loan_status_history`` and ``status_on`` give it) and on book.

Loans are not checked for being originated or known by d: the readers and the engine
still decide that on what they read, as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from nplpipeline.staging.asof import day_end
from nplpipeline.warehouse.shards import Shard, narrow
from nplpipeline.warehouse.tables import HISTORY_TABLES, RAW_TABLES


def stg_arrears_candidates(
    dates: Sequence[dt.date],
    known: dt.date,
    on_book_statuses: Sequence[str],
    tolerance_cents: int,
    shard: Shard | None = None,
) -> sa.Select:
    """``loan_id`` of every loan that on some date in ``dates`` has an on-book status
    and more than ``tolerance_cents`` due strictly before the date and not covered by
    its net repayments dated by then (as known by ``known``); of ``shard`` when given.

    One scan of each table for all dates: per loan and date a conditional sum, so the
    weekly training's eighteen month-ends cost what one date does."""
    dates = sorted(set(dates))
    if not dates:
        raise ValueError("stg_arrears_candidates needs at least one date")
    # Rows known by the end of d, and never past the data date's end (what is read).
    ends = [min(day_end(d), day_end(known)) for d in dates]
    due = _due_before(dates, shard)
    paid = _net_paid_by(ends, shard)
    book = _on_book_at(ends, on_book_statuses, shard)
    in_arrears = [
        sa.and_(
            book.c[f"on_book_{k}"] == 1,
            (due.c[f"due_{k}"] - sa.func.greatest(sa.func.coalesce(paid.c[f"paid_{k}"], 0), 0))
            * 100
            > tolerance_cents,
        )
        for k in range(len(dates))
    ]
    return (
        sa.select(due.c.loan_id)
        .join(book, book.c.loan_id == due.c.loan_id)
        .outerjoin(paid, paid.c.loan_id == due.c.loan_id)
        .where(sa.or_(*in_arrears))
    )


def _due_before(dates: Sequence[dt.date], shard: Shard | None) -> sa.Subquery:
    """Per loan, everything due strictly before each date (installments due that day
    are not late)."""
    i = RAW_TABLES["installments"]
    principal, interest, fee = (
        sa.func.coalesce(i.c[c], 0) for c in ("principal_due", "interest_due", "fee_due")
    )
    total = principal + interest + fee
    sums = [
        sa.func.sum(sa.case((i.c.due_date < d, total), else_=0)).label(f"due_{k}")
        for k, d in enumerate(dates)
    ]
    query = sa.select(i.c.loan_id, *sums).where(i.c.due_date < dates[-1])
    return narrow(query, i.c.loan_id, shard).group_by(i.c.loan_id).subquery("due_before")


def _net_paid_by(ends: Sequence[dt.datetime], shard: Shard | None) -> sa.Subquery:
    """Per loan, payments minus reversals paid before each end, by their own dates."""
    r = RAW_TABLES["repayments"]
    payment = sa.func.nullif(sa.func.trim(r.c.reversal_of), "").is_(None)
    signed = sa.case((payment, r.c.amount), else_=-r.c.amount)
    sums = [
        sa.func.sum(sa.case((r.c.paid_at < end, signed), else_=0)).label(f"paid_{k}")
        for k, end in enumerate(ends)
    ]
    query = sa.select(r.c.loan_id, *sums).where(r.c.paid_at < max(ends))
    return narrow(query, r.c.loan_id, shard).group_by(r.c.loan_id).subquery("net_paid")


def _on_book_at(
    ends: Sequence[dt.datetime], on_book_statuses: Sequence[str], shard: Shard | None
) -> sa.Subquery:
    """Per loan, 1 when an on-book status version is valid at each end, else 0."""
    h = HISTORY_TABLES["loans"]
    flags = [
        sa.func.max(
            sa.case(
                (
                    sa.and_(
                        h.c.valid_from < end, sa.or_(h.c.valid_to.is_(None), h.c.valid_to >= end)
                    ),
                    1,
                ),
                else_=0,
            )
        ).label(f"on_book_{k}")
        for k, end in enumerate(ends)
    ]
    query = sa.select(h.c.loan_id, *flags).where(
        h.c.status.in_(list(on_book_statuses)), h.c.valid_from < max(ends)
    )
    return narrow(query, h.c.loan_id, shard).group_by(h.c.loan_id).subquery("on_book")
