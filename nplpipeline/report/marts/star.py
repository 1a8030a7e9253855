"""The star schema: conformed dimensions and the two facts, built from intermediate tables.

Dimensions are small and describe *current* state (SCD type 1), so each run rewrites
them whole. Facts are partitioned by date: ``fact_account_day`` per as-of date,
``fact_action`` for a trailing window of action dates, because whether a promise was
kept is only known once it falls due, so recent days are restated until they settle.
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
from nplpipeline.delinquency.coerce import to_epoch_days
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.features.borrowers import BorrowerAttributes
from nplpipeline.features.config import load_feature_config
from nplpipeline.report.kpis.repayments import repayment_flows
from nplpipeline.report.marts import tables as t
from nplpipeline.score.tables import account_scores
from nplpipeline.warehouse.frames import read_frame, read_raw
from nplpipeline.warehouse.partitions import replace_partition, replace_where
from nplpipeline.warehouse.tables import RAW_TABLES

# The calendar reaches back far enough for the trailing-year marts and their comparisons.
DATE_DAYS_BACK = 2 * 366
# Promises fall due within weeks; restating this many days of actions settles them.
ACTION_RESTATE_DAYS = 60
CALL_CHANNELS = ("call", "ivr")
RIGHT_PARTY_OUTCOMES = (
    "right_party_contact",
    "promise_to_pay",
    "refused",
    "dispute",
    "paid",
    "complaint",
)


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


def _dim_loan(conn: Connection) -> pd.DataFrame:
    raw = read_raw(
        conn,
        {
            "loans": ["loan_id", "customer_id", "product", "origination_date", "principal_amount"],
            "customers": [
                "customer_id",
                "birth_date",
                "monthly_income",
                "employment_type",
                "province",
                "updated_at",
            ],
        },
    )
    loans = raw["loans"]
    attrs = BorrowerAttributes(raw["customers"], loans, load_feature_config())
    today = int(to_epoch_days(pd.Series([pd.Timestamp.today().normalize()]))[0])
    bands = attrs.frame(np.arange(len(loans)), today)
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


def build_dimensions(
    conn: Connection, as_of: dt.date, policy: Policy, targets: dict[str, float]
) -> dict[str, int]:
    """Rewrite every dimension; returns row counts."""
    first = conn.execute(sa.select(sa.func.min(delinquency_snapshot.c.as_of_date))).all()[0][0]
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
    raw = read_raw(
        conn,
        {
            "collectors": ["collector_id", "team", "role", "daily_capacity", "active"],
            "agencies": [
                "agency_id",
                "name",
                "commission_rate",
                "monthly_capacity",
                "provinces",
                "active",
            ],
        },
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
        t.dim_date: _dim_date(
            min(first or as_of, as_of - dt.timedelta(days=DATE_DAYS_BACK)), as_of
        ),
        t.dim_tier: tiers,
        t.dim_strategy_arm: arms,
        t.dim_collector: raw["collectors"],
        t.dim_agency: raw["agencies"],
        t.dim_model_version: versions,
        t.dim_loan: _dim_loan(conn),
    }
    return {table.name: replace_where(conn, table, None, frame) for table, frame in frames.items()}


def _net_repaid_on(conn: Connection, day: dt.date) -> pd.Series:
    """Repayments on ``day`` net of reversals booked that day, per loan."""
    r = RAW_TABLES["repayments"]
    start = dt.datetime.combine(day, dt.time())
    rows = read_frame(
        conn,
        sa.select(r.c.repayment_id, r.c.loan_id, r.c.paid_at, r.c.amount, r.c.reversal_of).where(
            r.c.paid_at >= start, r.c.paid_at < start + dt.timedelta(days=1)
        ),
    )
    return repayment_flows(rows).groupby("loan_id")["amount"].sum()


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


def build_actions(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Actions dated ``first``..``last`` with their KPI flags; promises judged when due."""
    a, r = RAW_TABLES["collection_actions"], RAW_TABLES["repayments"]
    start = dt.datetime.combine(first, dt.time())
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    acts = read_frame(
        conn,
        sa.select(
            a.c.action_id,
            a.c.action_at,
            a.c.loan_id,
            a.c.channel,
            a.c.performed_by,
            a.c.outcome,
            a.c.ptp_amount,
            a.c.ptp_date,
        ).where(a.c.action_at >= start, a.c.action_at < end),
    )
    agencies = set(read_raw(conn, {"agencies": ["agency_id"]})["agencies"]["agency_id"])
    by_agency = acts["performed_by"].isin(agencies)
    from nplpipeline.report.kpis.contact import promise_outcomes

    pays = read_frame(
        conn,
        sa.select(r.c.repayment_id, r.c.loan_id, r.c.paid_at, r.c.amount, r.c.reversal_of).where(
            r.c.loan_id.in_(sa.select(a.c.loan_id).where(a.c.outcome == "promise_to_pay"))
        ),
    )
    promises = promise_outcomes(acts, pays, as_of=last)
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
            "is_call_attempt": acts["channel"].isin(CALL_CHANNELS),
            "is_right_party": acts["outcome"].isin(RIGHT_PARTY_OUTCOMES)
            & acts["channel"].isin((*CALL_CHANNELS, "visit")),
            "is_promise": acts["outcome"] == "promise_to_pay",
            "ptp_amount": acts["ptp_amount"],
            "ptp_date": acts["ptp_date"],
            "ptp_kept": kept,
            "is_complaint": acts["outcome"] == "complaint",
        }
    )


def build_facts(conn: Connection, as_of: dt.date) -> dict[str, int]:
    """Replace ``as_of``'s account-day rows and the restated window of actions."""
    day = build_account_day(conn, as_of)
    first = as_of - dt.timedelta(days=ACTION_RESTATE_DAYS)
    actions = build_actions(conn, first, as_of)
    fa = t.fact_action.c
    return {
        t.fact_account_day.name: replace_partition(
            conn, t.fact_account_day, "as_of_date", as_of, day
        ),
        t.fact_action.name: replace_where(
            conn, t.fact_action, sa.and_(fa.action_date >= first, fa.action_date <= as_of), actions
        ),
    }
