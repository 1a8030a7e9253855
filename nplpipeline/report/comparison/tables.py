"""``mart_policy_comparison``: the pipeline's policy against the lender's status quo.

One row per (as-of date, segment, policy): segments ``overall``, each tier and
``portfolio``; policies ``pipeline``, ``status_quo`` and ``incremental`` (pipeline minus
status quo, with the paired-bootstrap interval of the recovery difference). Written by
``nplpipeline.report.comparison.stage`` from the lender twin's two worlds (dev and demo
only: a real lender has one world and measures uplift with the experiment arms).
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import MONEY, metadata

policy_comparison = sa.Table(
    "mart_policy_comparison",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),  # last day of outcomes measured
    sa.Column("segment", sa.String(), primary_key=True),  # overall | <tier> | portfolio
    sa.Column("policy", sa.String(), primary_key=True),  # pipeline | status_quo | incremental
    sa.Column("start_date", sa.Date(), nullable=False),  # the cohort's date S
    sa.Column("days", sa.Integer(), nullable=False),  # window (S, as_of_date]
    sa.Column("accounts", sa.Integer()),  # portfolio: loans with any activity in the window
    sa.Column("overdue_at_entry", MONEY),
    sa.Column("repaid", MONEY),  # cohort: capped at overdue; portfolio: everything
    sa.Column("recovery_rate", sa.Double()),
    sa.Column("target_recovery_rate", sa.Double()),
    sa.Column("gap", sa.Double()),
    sa.Column("ci_low", sa.Double()),  # incremental rows only
    sa.Column("ci_high", sa.Double()),
    sa.Column("contacts", sa.Double()),
    sa.Column("complaints", sa.Double()),
    sa.Column("surveys", sa.Double()),
    sa.Column("satisfaction", sa.Double()),  # mean survey score, 1-5
    sa.Column("placements", sa.Double()),
    sa.Column("recalls", sa.Double()),
    sa.Column("commissions", MONEY),
    sa.Column("net_recovered", MONEY),
    sa.Column("investment", MONEY),  # portfolio incremental row: the plan's, scaled
    sa.Column("monthly_net_benefit", MONEY),
    sa.Column("payback_months", sa.Double()),
    sa.Column("target_payback_months", sa.Double()),
    sa.Column("roi", sa.Double()),
)
