"""The star schema: conformed dimensions and the two facts, built from intermediate tables.

Dimensions are small and describe the state on the latest date run (SCD type 1): a run
for that date or a later one rewrites them whole, a rerun of an earlier date leaves them
as the later run wrote them -- except ``dim_date``, which always covers every fact date.
Facts are partitioned by date: ``fact_account_day`` per as-of date, ``fact_action`` for
a trailing window of action dates, because whether a promise was kept is only known once
it falls due, so recent days are restated until they settle; a rerun of an earlier date
judges its promises as of the latest run, so it never takes a settled flag back.
Contact flags are the contract's vocabulary, carried from staging.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.act.placement.tables import agency_placements
from nplpipeline.act.tables import treatment_plan, worklist
from nplpipeline.config.policy import Policy
from nplpipeline.contract import PROMISE_OUTCOME
from nplpipeline.delinquency.coerce import to_epoch_days
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.features.borrowers import BorrowerAttributes
from nplpipeline.features.config import load_feature_config
from nplpipeline.report.kpis.contact import promise_outcomes
from nplpipeline.report.marts import tables as t
from nplpipeline.score.tables import account_scores
from nplpipeline.staging import (
    stg_agencies,
    stg_collectors,
    stg_contact_history,
    stg_contacted_loan_ids,
    stg_customers_as_of,
    stg_loans_as_of,
    stg_repayments,
    stg_signed_repayments,
)
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.partitions import replace_partition, replace_where

# The calendar reaches back far enough for the trailing-year marts and their comparisons.
DATE_DAYS_BACK = 2 * 366
# Promises fall due within weeks; restating this many days of actions settles them.
ACTION_RESTATE_DAYS = 60


def _dim_date(first: dt.date, last: dt.date) -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D")
    return pd.DataFrame(
        {
            "date_key": days,
            "year": days.year,
            "quarter": days.quarter,
            "month": days.month,
            "month_start": days.to_period("M").to_timestamp(),
            "is_month_end": days.is_month_end,
            "iso_week": days.isocalendar().week.to_numpy(dtype=int),
            "weekday": days.weekday + 1,
        }
    )


def _dim_loan(conn: Connection, as_of: dt.date) -> pd.DataFrame:
    """Loans as they stood on ``as_of``; age bands are ages on that date, not today."""
    loans = stg_loans_as_of(
        conn, as_of, ["loan_id", "customer_id", "product", "origination_date", "principal_amount"]
    )
    customers = stg_customers_as_of(
        conn,
        as_of,
        [
            "customer_id",
            "birth_date",
            "monthly_income",
            "employment_type",
            "province",
            "updated_at",
        ],
    )
    attrs = BorrowerAttributes(customers, loans, load_feature_config())
    day = int(to_epoch_days(pd.Series([pd.Timestamp(as_of)]))[0])
    bands = attrs.frame(np.arange(len(loans)), day)
    return pd.DataFrame(
        {
            "loan_id": loans["loan_id"],
            "customer_id": loans["customer_id"],
            "product": loans["product"],
            "province": bands["province"],
            "vintage": pd.to_datetime(loans["origination_date"]).dt.strftime("%Y-%m"),
            "principal_amount": loans["principal_amount"],
            "age_band": bands["age_band"],
            "income_band": bands["income_band"],
        }
    )


def latest_run(conn: Connection) -> dt.date | None:
    """The latest as-of date the KPI stage has written (None before the first run)."""
    value = conn.execute(sa.select(sa.func.max(t.kpi.c.as_of_date))).scalar()
    return pd.Timestamp(value).date() if value is not None else None


def _date_span(conn: Connection, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar: back far enough for the trailing-year marts, forward to every fact
    and every date already in it, so no fact row is ever left without its date."""
    snap, fad, fa, dd = delinquency_snapshot.c, t.fact_account_day.c, t.fact_action.c, t.dim_date.c
    bounds = conn.execute(
        sa.select(
            sa.select(sa.func.min(snap.as_of_date)).scalar_subquery(),
            sa.select(sa.func.min(dd.date_key)).scalar_subquery(),
            sa.select(sa.func.min(fa.action_date)).scalar_subquery(),
            sa.select(sa.func.max(dd.date_key)).scalar_subquery(),
            sa.select(sa.func.max(fad.as_of_date)).scalar_subquery(),
            sa.select(sa.func.max(fa.action_date)).scalar_subquery(),
        )
    ).one()
    days = [pd.Timestamp(b).date() for b in bounds if b is not None]
    low = [pd.Timestamp(b).date() for b in bounds[:3] if b is not None]
    first = min([as_of - dt.timedelta(days=DATE_DAYS_BACK), *low])
    return first, max([as_of, *days])


def build_dimensions(
    conn: Connection,
    as_of: dt.date,
    policy: Policy,
    targets: dict[str, float],
    latest: dt.date | None = None,
) -> dict[str, int]:
    """Extend ``dim_date``; rewrite every other dimension unless a later date has run
    (then they stay as that run wrote them). Returns row counts."""
    first, last = _date_span(conn, as_of)
    dates = {t.dim_date.name: replace_where(conn, t.dim_date, None, _dim_date(first, last))}
    if latest is not None and as_of < latest:
        return dates
    tiers = pd.DataFrame(
        [
            {
                "tier": tier.name,
                "label_zh": tier.label_zh,
                "strategy": tier.strategy,
                "sort_order": i,
                "target_recovery_rate": targets.get(tier.name),
            }
            for i, tier in enumerate(policy.tiering.tiers)
        ]
    )
    arms = pd.DataFrame(
        [
            {"tier": tier, "strategy_arm": arm, "strategy_name": a.strategy, "share": a.share}
            for tier, spec in policy.strategies.tiers.items()
            for arm, a in spec.arms.items()
        ]
    )
    s = account_scores.c
    versions = read_frame(
        conn,
        sa.select(
            s.model_name,
            s.model_version,
            sa.func.min(s.as_of_date).label("first_scored"),
            sa.func.max(s.as_of_date).label("last_scored"),
        ).group_by(s.model_name, s.model_version),
    )
    frames = {
        t.dim_tier: tiers,
        t.dim_strategy_arm: arms,
        t.dim_collector: stg_collectors(conn),
        t.dim_agency: stg_agencies(conn),
        t.dim_model_version: versions,
        t.dim_loan: _dim_loan(conn, as_of),
    }
    written = {
        table.name: replace_where(conn, table, None, frame) for table, frame in frames.items()
    }
    return {**dates, **written}


def _net_repaid_on(conn: Connection, day: dt.date) -> pd.Series:
    """Repayments on ``day`` net of reversals booked that day, per loan."""
    flows = stg_signed_repayments(conn, day, since=day)
    return flows.groupby("loan_id")["amount"].sum()


def build_account_day(conn: Connection, as_of: dt.date) -> pd.DataFrame:
    """Delinquent on-book accounts on ``as_of`` with who works them and what they paid."""
    d = delinquency_snapshot.c
    snap = read_frame(
        conn,
        sa.select(
            d.as_of_date,
            d.loan_id,
            d.dpd,
            d.bucket,
            d.overdue_amount,
            d.outstanding_principal,
            d.is_npl,
        ).where(d.as_of_date == as_of, d.on_book, d.dpd > 0),
    )
    s, p, w, pl = account_scores.c, treatment_plan.c, worklist.c, agency_placements.c
    scores = read_frame(
        conn,
        sa.select(s.loan_id, s.tier, s.model_version, s.recovery_probability).where(
            s.as_of_date == as_of
        ),
    )
    arms = read_frame(conn, sa.select(p.loan_id, p.strategy_arm).where(p.as_of_date == as_of))
    collectors = read_frame(
        conn,
        sa.select(w.loan_id, sa.func.min(w.assignee_id).label("collector_id"))
        .where(w.as_of_date == as_of, w.assignee_id.is_not(None))
        .group_by(w.loan_id),
    )
    agencies = read_frame(
        conn,
        sa.select(pl.loan_id, pl.agency_id).where(
            pl.start_date <= as_of, sa.or_(pl.recalled_on.is_(None), pl.recalled_on > as_of)
        ),
    )
    fact = snap
    for frame in (scores, arms, collectors, agencies.drop_duplicates("loan_id")):
        fact = fact.merge(frame, on="loan_id", how="left")
    repaid = _net_repaid_on(conn, as_of)
    fact["repaid_amount"] = fact["loan_id"].map(repaid).fillna(0.0).round(2)
    return fact


_ACTION_COLUMNS = (
    "action_id", "action_at", "loan_id", "channel", "performed_by", "outcome", "ptp_amount",
    "ptp_date",
)  # fmt: skip


def build_actions(
    conn: Connection, first: dt.date, last: dt.date, judged_on: dt.date | None = None
) -> pd.DataFrame:
    """Actions dated ``first``..``last`` with their contact flags; promises judged as of
    ``judged_on`` (default ``last``) with the repayments known then."""
    judged_on = max(last, judged_on or last)
    acts = stg_contact_history(conn, last, _ACTION_COLUMNS, since=first)
    agencies = set(stg_agencies(conn, ["agency_id"])["agency_id"])
    by_agency = acts["performed_by"].isin(agencies)
    promised = stg_contacted_loan_ids(last, outcome=PROMISE_OUTCOME)
    pays = stg_repayments(
        conn, judged_on, ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of"), promised
    )
    promises = promise_outcomes(acts, pays, as_of=judged_on)
    kept = acts["action_id"].map(promises.set_index("action_id")["kept"]).astype("boolean")
    return pd.DataFrame(
        {
            "action_id": acts["action_id"],
            "action_date": pd.to_datetime(acts["action_at"]).dt.normalize(),
            "loan_id": acts["loan_id"],
            "channel": acts["channel"],
            "performed_by": acts["performed_by"],
            "collector_id": acts["performed_by"].where(~by_agency),
            "agency_id": acts["performed_by"].where(by_agency),
            "outcome": acts["outcome"],
            "is_call_attempt": acts["is_call_attempt"],
            "is_right_party": acts["is_right_party"],
            "is_promise": acts["is_promise"],
            "ptp_amount": acts["ptp_amount"],
            "ptp_date": acts["ptp_date"],
            "ptp_kept": kept,
            "is_complaint": acts["is_complaint"],
        }
    )


def build_facts(conn: Connection, as_of: dt.date, latest: dt.date | None = None) -> dict[str, int]:
    """Replace ``as_of``'s account-day rows and the restated window of actions."""
    day = build_account_day(conn, as_of)
    first = as_of - dt.timedelta(days=ACTION_RESTATE_DAYS)
    actions = build_actions(conn, first, as_of, judged_on=latest)
    fa = t.fact_action.c
    return {
        t.fact_account_day.name: replace_partition(
            conn, t.fact_account_day, "as_of_date", as_of, day
        ),
        t.fact_action.name: replace_where(
            conn, t.fact_action, sa.and_(fa.action_date >= first, fa.action_date <= as_of), actions
        ),
    }
