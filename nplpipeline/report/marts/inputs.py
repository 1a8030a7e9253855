"""What the KPI stage reads for one as-of date, all of it as known on that date.

Only the rows a mart can reach are read, so the inputs grow with the marts' windows,
not with the history (issue #14). Of the actions: this month's and the promises falling
due in it, whenever made (contact marts, collector scorecards); the agencies' over the
agency scorecard's trailing year and their promises due in it; and, for a survey
complaint in that year, the customer's actions of the year and latest ones before it
(the action the complaint is attributed to, by whoever performed it). Repayments are
read from the earliest day any window opens (that year, the promises' days, the
recovery cohort's entry) plus the originals their reversals name, which give a
reversal its loan and performer. The placement history reads the schedule and
repayments of the loans an agency worked, and the first agency action per loan and
agency as one ``GROUP BY`` in the warehouse. The frames the marts sum keep the
warehouse's row order (plain predicates, no joins), so each sum adds the same numbers
in the same order as a read of the whole history did; the rows read by a join only
lend attributes, or sum to figures rounded to the cent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.act.placement.config import load_placement_policy
from nplpipeline.act.placement.history import AGENCY_CHANNEL, placement_history
from nplpipeline.act.placement.tables import agency_placements
from nplpipeline.act.tables import treatment_plan
from nplpipeline.contract import PROMISE_OUTCOME
from nplpipeline.report.marts.recovery import RECOVERY_WINDOW_DAYS
from nplpipeline.report.marts.rows import month_start
from nplpipeline.score.tables import account_scores
from nplpipeline.staging import (
    stg_agencies,
    stg_collectors,
    stg_contact_frame,
    stg_contact_history_select,
    stg_installments,
    stg_loans_as_of,
    stg_repayments_select,
    stg_satisfaction,
    stg_satisfaction_select,
)
from nplpipeline.warehouse.frames import read_frame

_LOANS = ("loan_id", "customer_id", "product", "origination_date", "principal_amount", "status")
_ACTIONS = (
    "action_id", "loan_id", "customer_id", "action_at", "channel", "performed_by", "outcome",
    "ptp_amount", "ptp_date",
)  # fmt: skip
_PLACEMENT_REPAYMENTS = (
    "repayment_id", "loan_id", "paid_at", "amount", "reversal_of", "channel", "agency_id",
)  # fmt: skip


@dataclass(frozen=True)
class MartInputs:
    loans: pd.DataFrame  # as they stood on the as-of date
    repayments: pd.DataFrame  # paid by the as-of date, in the marts' windows (module doc)
    actions: pd.DataFrame  # known by it, those the marts reach, with the contact vocabulary
    satisfaction: pd.DataFrame
    collectors: pd.DataFrame
    agencies: pd.DataFrame
    cohort: pd.DataFrame  # scored cohort with its recorded strategy_arm
    cohort_date: dt.date | None
    cohort_matured: bool
    placements: pd.DataFrame
    tiers_today: pd.DataFrame


def read_cohort(conn: Connection, as_of: dt.date) -> tuple[pd.DataFrame, dt.date | None, bool]:
    """The latest scored cohort whose recovery window closed by ``as_of`` (else the
    oldest), each account with the arm its treatment plan recorded on that date.

    An account of the learned policy's arm whose strategy that policy chose (it had a
    version on the date) has no arm here: its treatment was not the randomised arm's,
    so it would blur the arms' comparison (``mart_nba_comparison`` measures it)."""
    s, p = account_scores.c, treatment_plan.c
    query = sa.select(s.as_of_date).distinct().where(s.as_of_date <= as_of)
    dates = sorted(r[0] for r in conn.execute(query))
    if not dates:
        return pd.DataFrame(), None, False
    matured = [d for d in dates if d + dt.timedelta(days=RECOVERY_WINDOW_DAYS) <= as_of]
    when = matured[-1] if matured else dates[0]
    chosen = sa.and_(p.policy_arm == "nba", p.nba_policy_version.is_not(None))
    arm = (
        sa.select(sa.case((chosen, sa.null()), else_=p.strategy_arm))
        .where(p.as_of_date == s.as_of_date, p.loan_id == s.loan_id)
        .scalar_subquery()
    )
    cohort = read_frame(
        conn,
        sa.select(
            s.as_of_date, s.loan_id, s.customer_id, s.tier, s.product, s.overdue_amount,
            arm.label("strategy_arm"),
        ).where(s.as_of_date == when),
    )  # fmt: skip
    return cohort, when, bool(matured)


def year_ago(as_of: dt.date) -> dt.date:
    """The first day of the agency scorecard's trailing year, as ``scorecards`` counts it."""
    return (pd.Timestamp(as_of) - pd.DateOffset(years=1)).date()


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _due_between(c: sa.ColumnCollection, first: dt.date, last: dt.date) -> sa.ColumnElement:
    """Promises falling due ``first``..``last`` (the kept rates judge these, whenever made)."""
    return sa.and_(c.outcome == PROMISE_OUTCOME, c.ptp_date >= first, c.ptp_date <= last)


def _complainers(as_of: dt.date, since: dt.date) -> sa.Select:
    """Customers with a survey complaint answered from ``since`` to ``as_of``."""
    sub = stg_satisfaction_select(as_of, ("customer_id", "surveyed_at", "complaint")).subquery()
    return sa.select(sub.c.customer_id).where(
        sub.c.complaint.is_(True), sub.c.surveyed_at >= _midnight(since)
    )


def read_actions(
    conn: Connection, as_of: dt.date, since: dt.date, performers: Sequence[str]
) -> pd.DataFrame:
    """The actions the marts read, in warehouse order: this month's, the promises falling
    due in it, and the trailing year's of ``performers`` (the agencies: only theirs are
    scored over a year) with their promises due in it; then, in any order (``merge_asof``
    sorts), the complainers' other actions of the year and their latest ones before it."""
    query = stg_contact_history_select(as_of, _ACTIONS)
    c = query.selected_columns
    month = month_start(as_of).date()
    of_performers = sa.and_(
        c.performed_by.in_(list(performers)),
        sa.or_(c.action_at >= _midnight(since), _due_between(c, since, as_of)),
    )
    reached = sa.or_(c.action_at >= _midnight(month), _due_between(c, month, as_of), of_performers)
    recent = stg_contact_frame(conn, query.where(reached))
    complainers = _complainers(as_of, since)
    before = stg_contact_history_select(
        as_of, ("customer_id", "action_at"), customer_ids=complainers
    ).subquery()
    last = (
        sa.select(before.c.customer_id, sa.func.max(before.c.action_at).label("last_at"))
        .where(before.c.action_at < _midnight(since))
        .group_by(before.c.customer_id)
        .subquery("last_before")
    )
    is_last = (
        sa.select(sa.literal(1))
        .where(last.c.customer_id == c.customer_id, last.c.last_at == c.action_at)
        .exists()
    )
    others = query.where(
        c.customer_id.in_(complainers),
        ~sa.func.coalesce(reached, False),
        sa.or_(c.action_at >= _midnight(since), is_last),
    )
    older = stg_contact_frame(conn, others)
    return pd.concat([recent, older], ignore_index=True) if len(older) else recent


def _first_promise_day(conn: Connection, as_of: dt.date, since: dt.date) -> dt.date | None:
    """The day the earliest promise falling due from ``since`` to ``as_of`` was made."""
    query = stg_contact_history_select(as_of, ("action_at", "outcome", "ptp_date"))
    sub = query.where(_due_between(query.selected_columns, since, as_of)).subquery()
    first = conn.execute(sa.select(sa.func.min(sub.c.action_at))).scalar()
    return None if first is None else pd.Timestamp(first).date()


def read_repayments(conn: Connection, as_of: dt.date, since: dt.date) -> pd.DataFrame:
    """Repayments paid from ``since`` to ``as_of`` in warehouse order, then the earlier
    originals their reversals name (outside every window: they only lend attributes)."""
    window = stg_repayments_select(as_of, since=since)
    reversed_ids = (
        stg_repayments_select(as_of, ("reversal_of",), since=since).subquery("reversals").c
    )
    query = stg_repayments_select(as_of)
    c = query.selected_columns
    originals = query.where(
        c.paid_at < _midnight(since),
        c.repayment_id.in_(
            sa.select(reversed_ids.reversal_of).where(reversed_ids.reversal_of.is_not(None))
        ),
    )
    recent, older = read_frame(conn, window), read_frame(conn, originals)
    return pd.concat([recent, older], ignore_index=True) if len(older) else recent


def _agency_starts(conn: Connection, as_of: dt.date) -> tuple[pd.DataFrame, sa.Select]:
    """Per loan and performer of agency actions, the first such action (``GROUP BY`` in
    the warehouse: ``lender_placements`` keeps only that), and those loans as a subquery."""
    columns = ("loan_id", "customer_id", "channel", "performed_by", "action_at")
    sub = stg_contact_history_select(as_of, columns, channel=AGENCY_CHANNEL).subquery("agency")
    starts = read_frame(
        conn,
        sa.select(
            sub.c.loan_id, sa.func.min(sub.c.customer_id).label("customer_id"), sub.c.channel,
            sub.c.performed_by, sa.func.min(sub.c.action_at).label("action_at"),
        ).group_by(sub.c.loan_id, sub.c.channel, sub.c.performed_by),
    )  # fmt: skip
    return starts, sa.select(sub.c.loan_id)


def _placement_repayments(conn: Connection, as_of: dt.date, loans: sa.Select) -> pd.DataFrame:
    """What the placement history reads of repayments: every row of ``loans`` (their
    balance when placed) and every agency repayment with its reversals (what was collected)."""
    agency = stg_repayments_select(as_of, ("repayment_id", "channel")).subquery("agency_paid")
    query = stg_repayments_select(as_of, _PLACEMENT_REPAYMENTS)
    c = query.selected_columns
    agency_ids = sa.select(agency.c.repayment_id).where(agency.c.channel == AGENCY_CHANNEL)
    return read_frame(
        conn,
        query.where(
            sa.or_(c.loan_id.in_(loans), c.channel == AGENCY_CHANNEL, c.reversal_of.in_(agency_ids))
        ),
    )


def placements_frame(history: pd.DataFrame) -> pd.DataFrame:
    """The placement history in the marts' vocabulary (placed, recalled, balance)."""
    return pd.DataFrame(
        {
            "loan_id": history["loan_id"],
            "agency_id": history["agency_id"],
            "placed_at": history["start_date"],
            "recalled_at": history["end_date"],
            "placed_balance": history["balance_placed"],
        }
    )


def read_placements(conn: Connection, as_of: dt.date) -> pd.DataFrame:
    """Every placement known by ``as_of``; only the loans an agency worked have their
    schedule and repayments read, and only for this (their balance when placed)."""
    own = read_frame(conn, sa.select(agency_placements))
    starts, loans = _agency_starts(conn, as_of)
    history = placement_history(
        own, starts, stg_installments(conn, loan_ids=loans),
        _placement_repayments(conn, as_of, loans), as_of,
        load_placement_policy().placement_period_days,
    )  # fmt: skip
    return placements_frame(history)


def events_since(as_of: dt.date, cohort_date: dt.date | None, first_promise: dt.date | None):
    """The first day any mart reads repayments for: the trailing year, the recovery
    cohort's entry (the day after its date), the earliest promise judged."""
    days = [year_ago(as_of)]
    if cohort_date is not None:
        days.append(cohort_date + dt.timedelta(days=1))
    if first_promise is not None:
        days.append(first_promise)
    return min(days)


def read_loans(conn: Connection, as_of: dt.date) -> pd.DataFrame:
    """The loans as they stood on ``as_of``, the columns the marts read."""
    return stg_loans_as_of(conn, as_of, _LOANS)


def read_mart_inputs(
    conn: Connection, as_of: dt.date, loans: pd.DataFrame | None = None
) -> MartInputs:
    """Everything the marts read but the snapshots; ``loans`` when already read."""
    s = account_scores.c
    cohort, cohort_date, matured = read_cohort(conn, as_of)
    since = year_ago(as_of)
    paid_since = events_since(as_of, cohort_date, _first_promise_day(conn, as_of, since))
    tiers = sa.select(s.loan_id, s.tier).where(s.as_of_date == as_of)
    placements, agencies = read_placements(conn, as_of), stg_agencies(conn)
    performers = sorted({*placements["agency_id"].dropna(), *agencies["agency_id"].dropna()})
    return MartInputs(
        loans=read_loans(conn, as_of) if loans is None else loans,
        repayments=read_repayments(conn, as_of, paid_since),
        actions=read_actions(conn, as_of, since, performers),
        satisfaction=stg_satisfaction(conn, as_of),
        collectors=stg_collectors(conn),
        agencies=agencies,
        cohort=cohort,
        cohort_date=cohort_date,
        cohort_matured=matured,
        placements=placements,
        tiers_today=read_frame(conn, tiers),
    )
