"""Star schema for BI: dimensions, facts, and KPI marts (documented in docs/kpis.md).

Layered like a dbt project: ``raw_*`` (staging) -> ``int_*`` / ``act_*`` (intermediate)
-> ``dim_*`` / ``fact_*`` (the star) -> ``mart_*`` (KPIs, ready for a chart). Every table
is replaced per as-of date (or month end), so a rerun or backfill never duplicates.
``mart_kpi`` is long-form -- one row per (date, period, KPI, dimension, member) with the
numerator and denominator beside the value -- so a BI tool can re-aggregate correctly
(sum the parts, then divide) instead of averaging ratios.
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import MONEY, metadata

# --- dimensions -----------------------------------------------------------------------

dim_date = sa.Table(
    "dim_date",
    metadata,
    sa.Column("date_key", sa.Date(), primary_key=True),
    sa.Column("year", sa.Integer(), nullable=False),
    sa.Column("quarter", sa.Integer(), nullable=False),
    sa.Column("month", sa.Integer(), nullable=False),
    sa.Column("month_start", sa.Date(), nullable=False),
    sa.Column("is_month_end", sa.Boolean(), nullable=False),
    sa.Column("iso_week", sa.Integer(), nullable=False),
    sa.Column("weekday", sa.Integer(), nullable=False),  # 1 = Monday
)

dim_tier = sa.Table(
    "dim_tier",
    metadata,
    sa.Column("tier", sa.String(), primary_key=True),
    sa.Column("label_zh", sa.String(), nullable=False),
    sa.Column("strategy", sa.String(), nullable=False),
    sa.Column("sort_order", sa.Integer(), nullable=False),
    sa.Column("target_recovery_rate", sa.Double()),
)

dim_collector = sa.Table(
    "dim_collector",
    metadata,
    sa.Column("collector_id", sa.String(), primary_key=True),
    sa.Column("team", sa.String()),
    sa.Column("role", sa.String()),
    sa.Column("daily_capacity", sa.Integer()),
    sa.Column("active", sa.Boolean()),
)

dim_agency = sa.Table(
    "dim_agency",
    metadata,
    sa.Column("agency_id", sa.String(), primary_key=True),
    sa.Column("name", sa.String()),
    sa.Column("commission_rate", sa.Double()),
    sa.Column("monthly_capacity", sa.Integer()),
    sa.Column("provinces", sa.String()),
    sa.Column("active", sa.Boolean()),
)

dim_strategy_arm = sa.Table(
    "dim_strategy_arm",
    metadata,
    sa.Column("tier", sa.String(), primary_key=True),
    sa.Column("strategy_arm", sa.String(), primary_key=True),
    sa.Column("strategy_name", sa.String(), nullable=False),
    sa.Column("share", sa.Double(), nullable=False),
)

dim_model_version = sa.Table(
    "dim_model_version",
    metadata,
    sa.Column("model_name", sa.String(), primary_key=True),
    sa.Column("model_version", sa.String(), primary_key=True),
    sa.Column("first_scored", sa.Date(), nullable=False),
    sa.Column("last_scored", sa.Date(), nullable=False),
)

dim_loan = sa.Table(  # product, province and vintage hang off the loan (no PII here)
    "dim_loan",
    metadata,
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("customer_id", sa.String(), nullable=False),
    sa.Column("product", sa.String()),
    sa.Column("province", sa.String()),
    sa.Column("vintage", sa.String()),  # origination month, YYYY-MM
    sa.Column("principal_amount", MONEY),
    sa.Column("age_band", sa.String()),
    sa.Column("income_band", sa.String()),
)

# --- facts ----------------------------------------------------------------------------

fact_account_day = sa.Table(
    "fact_account_day",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("tier", sa.String()),
    sa.Column("strategy_arm", sa.String()),
    sa.Column("model_version", sa.String()),
    sa.Column("agency_id", sa.String()),  # placed with, on that day
    sa.Column("collector_id", sa.String()),  # assigned on that day's worklist
    sa.Column("dpd", sa.Integer(), nullable=False),
    sa.Column("bucket", sa.String(), nullable=False),
    sa.Column("overdue_amount", MONEY, nullable=False),
    sa.Column("outstanding_principal", MONEY, nullable=False),
    sa.Column("recovery_probability", sa.Double()),
    sa.Column("repaid_amount", MONEY, nullable=False),  # net of reversals, on that day
    sa.Column("is_npl", sa.Boolean(), nullable=False),
)

fact_action = sa.Table(
    "fact_action",
    metadata,
    sa.Column("action_id", sa.String(), primary_key=True),
    sa.Column("action_date", sa.Date(), nullable=False),
    sa.Column("loan_id", sa.String(), nullable=False),
    sa.Column("channel", sa.String(), nullable=False),
    sa.Column("performed_by", sa.String()),
    sa.Column("collector_id", sa.String()),
    sa.Column("agency_id", sa.String()),
    sa.Column("outcome", sa.String()),
    sa.Column("is_call_attempt", sa.Boolean(), nullable=False),
    sa.Column("is_right_party", sa.Boolean(), nullable=False),
    sa.Column("is_promise", sa.Boolean(), nullable=False),
    sa.Column("ptp_amount", MONEY),
    sa.Column("ptp_date", sa.Date()),
    sa.Column("ptp_kept", sa.Boolean()),  # null until the promise falls due
    sa.Column("is_complaint", sa.Boolean(), nullable=False),
)

# --- KPI marts ------------------------------------------------------------------------

kpi = sa.Table(
    "mart_kpi",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("period", sa.String(), primary_key=True),  # day | month
    sa.Column("kpi", sa.String(), primary_key=True),
    sa.Column("dimension", sa.String(), primary_key=True),  # overall | tier | product | ...
    sa.Column("member", sa.String(), primary_key=True),  # 'all' for overall
    sa.Column("numerator", sa.Double()),
    sa.Column("denominator", sa.Double()),
    sa.Column("value", sa.Double()),
    sa.Column("unit", sa.String(), nullable=False),  # ratio | per_1000 | score | amount
)

plan_tracking = sa.Table(
    "mart_plan_tracking",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("tier", sa.String(), primary_key=True),  # 'overall' for the portfolio
    sa.Column("target_recovery_rate", sa.Double()),
    sa.Column("actual_recovery_rate", sa.Double()),
    sa.Column("overdue_at_entry", MONEY),
    sa.Column("repaid", MONEY),
    sa.Column("accounts", sa.Integer()),
)

roll_rates = sa.Table(
    "mart_roll_rates",
    metadata,
    sa.Column("month_end", sa.Date(), primary_key=True),
    sa.Column("from_bucket", sa.String(), primary_key=True),
    sa.Column("to_bucket", sa.String(), primary_key=True),
    sa.Column("from_balance", MONEY),
    sa.Column("balance", MONEY),
    sa.Column("rate", sa.Double()),
)

npl_trend = sa.Table(
    "mart_npl_trend",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("npl_balance", MONEY),
    sa.Column("outstanding", MONEY),
    sa.Column("npl_ratio", sa.Double()),
    sa.Column("npl_accounts", sa.Integer()),
)

vintage_curves = sa.Table(
    "mart_vintage_curves",
    metadata,
    sa.Column("vintage", sa.String(), primary_key=True),
    sa.Column("months_on_book", sa.Integer(), primary_key=True),
    sa.Column("threshold_dpd", sa.Integer(), primary_key=True),  # 30 | 90
    sa.Column("share_balance", sa.Double()),
    sa.Column("share_count", sa.Double()),
    sa.Column("loans", sa.Integer()),
)

collector_scorecard = sa.Table(
    "mart_collector_scorecard",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("level", sa.String(), primary_key=True),  # collector | team
    sa.Column("member", sa.String(), primary_key=True),
    sa.Column("team", sa.String()),
    sa.Column("accounts_worked", sa.Integer()),
    sa.Column("recovered_amount", MONEY),
    sa.Column("ptp_kept_rate", sa.Double()),
    sa.Column("complaints", sa.Integer()),
    sa.Column("complaint_rate", sa.Double()),
    sa.Column("guardrail_holds", sa.Integer()),
    sa.Column("score", sa.Double()),
    sa.Column("rank", sa.Integer()),
)

agency_scorecard = sa.Table(
    "mart_agency_scorecard",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("agency_id", sa.String(), primary_key=True),
    sa.Column("placements", sa.Integer()),
    sa.Column("balance_placed", MONEY),
    sa.Column("collected", MONEY),
    sa.Column("liquidation_rate", sa.Double()),
    sa.Column("commission", MONEY),
    sa.Column("net_recovery", MONEY),
    sa.Column("complaints", sa.Integer()),
    sa.Column("score", sa.Double()),
    sa.Column("rank", sa.Integer()),
)

experiment_uplift = sa.Table(
    "mart_experiment_uplift",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("tier", sa.String(), primary_key=True),
    sa.Column("arm", sa.String(), primary_key=True),
    sa.Column("baseline_arm", sa.String(), primary_key=True),
    sa.Column("accounts", sa.Integer()),
    sa.Column("baseline_accounts", sa.Integer()),
    sa.Column("recovery_rate", sa.Double()),
    sa.Column("baseline_rate", sa.Double()),
    sa.Column("uplift", sa.Double()),
    sa.Column("ci_low", sa.Double()),
    sa.Column("ci_high", sa.Double()),
)

roi = sa.Table(
    "mart_roi",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("investment", MONEY),
    sa.Column("extra_recovery_to_date", MONEY),
    sa.Column("monthly_extra_recovery", MONEY),
    sa.Column("monthly_cost", MONEY),
    sa.Column("payback_months", sa.Double()),
    sa.Column("target_payback_months", sa.Double()),
    sa.Column("target_extra_recovery", MONEY),
)

for _t in (fact_account_day, kpi):
    sa.Index(f"ix_{_t.name}_date", _t.c.as_of_date)
sa.Index("ix_fact_action_date", fact_action.c.action_date)
sa.Index("ix_fact_action_loan", fact_action.c.loan_id)
