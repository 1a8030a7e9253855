"""What the KPI stage reads for one as-of date, all of it as known on that date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.act.placement.config import load_placement_policy
from nplpipeline.act.placement.history import placement_history
from nplpipeline.act.placement.tables import agency_placements
from nplpipeline.act.tables import treatment_plan
from nplpipeline.report.marts.recovery import RECOVERY_WINDOW_DAYS
from nplpipeline.score.tables import account_scores
from nplpipeline.staging import (
    stg_agencies,
    stg_collectors,
    stg_contact_history,
    stg_installments,
    stg_loans_as_of,
    stg_repayments,
    stg_satisfaction,
)
from nplpipeline.warehouse.frames import read_frame

_LOANS = ("loan_id", "customer_id", "product", "origination_date", "principal_amount", "status")
_ACTIONS = (
    "action_id", "loan_id", "customer_id", "action_at", "channel", "performed_by", "outcome",
    "ptp_amount", "ptp_date",
)  # fmt: skip


@dataclass(frozen=True)
class MartInputs:
    loans: pd.DataFrame  # as they stood on the as-of date
    repayments: pd.DataFrame  # paid on or before the as-of date
    actions: pd.DataFrame  # dated on or before it, with the contact vocabulary
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


def read_placements(conn: Connection, inputs: dict[str, pd.DataFrame], as_of: dt.date):
    """Every placement known by ``as_of``; the schedule it needs (the whole book's) is read
    here and let go at once, not held beside the stage's other inputs."""
    own = read_frame(conn, sa.select(agency_placements))
    history = placement_history(
        own, inputs["actions"], stg_installments(conn), inputs["repayments"], as_of,
        load_placement_policy().placement_period_days,
    )  # fmt: skip
    return pd.DataFrame(
        {
            "loan_id": history["loan_id"],
            "agency_id": history["agency_id"],
            "placed_at": history["start_date"],
            "recalled_at": history["end_date"],
            "placed_balance": history["balance_placed"],
        }
    )


def read_mart_inputs(conn: Connection, as_of: dt.date) -> MartInputs:
    s = account_scores.c
    events = {
        "actions": stg_contact_history(conn, as_of, _ACTIONS),
        "repayments": stg_repayments(conn, as_of),
    }
    cohort, cohort_date, matured = read_cohort(conn, as_of)
    tiers = sa.select(s.loan_id, s.tier).where(s.as_of_date == as_of)
    return MartInputs(
        loans=stg_loans_as_of(conn, as_of, _LOANS),
        repayments=events["repayments"],
        actions=events["actions"],
        satisfaction=stg_satisfaction(conn, as_of),
        collectors=stg_collectors(conn),
        agencies=stg_agencies(conn),
        cohort=cohort,
        cohort_date=cohort_date,
        cohort_matured=matured,
        placements=read_placements(conn, events, as_of),
        tiers_today=read_frame(conn, tiers),
    )
