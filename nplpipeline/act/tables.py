"""What the act stage decides each day, partitioned by as-of date.

* ``act_treatment_plan``: one row per scored account -- its strategy arm, the step it is
  on, any offer, and what became of it (scheduled, suppressed, over capacity, placed,
  control). The KPI layer measures incremental recovery from the arm recorded here.
* ``act_worklist``: one row per scheduled contact, assigned to a collector (or to an
  automated channel), ordered, with the contact window and the reasons to show. This is
  what the CRM receives (see ``act.delivery`` for the payload it actually sends).
* ``act_experiment_arms``: one row per account ever planned -- the arm it drew, the day
  and tier it drew it in, that arm's strategy then, and its policy arm (static tier
  policy or learned next-best-action). The arm is kept for life
  (``act.arms``), so every plan and KPI sees an account in one arm only.
* ``act_suppression_log``: every proposed contact the guardrails held back, with one
  reason and the route for special handling.
* ``act_compliance_report``: per day and rule, the candidates checked, allowed and
  suppressed, and the post-scheduling audit's result.
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.act.arms import NBA_ARM, STATIC_ARM
from nplpipeline.score.tables import TOP_REASONS
from nplpipeline.uplift.explain import TOP_NBA_REASONS as NBA_REASONS
from nplpipeline.warehouse.tables import MONEY, metadata

# The suppression log's channel for held-back agency placements: the placement step
# writes these rows, the worklist step every other channel's, for the same date.
PLACEMENT_CHANNEL = "agency"
# Which policy decides an account's treatment: the static tier table or the learned
# next-best-action policy (``uplift``), a kept draw of its own beside ``strategy_arm``.
POLICY_ARMS = (STATIC_ARM, NBA_ARM)

treatment_plan = sa.Table(
    "act_treatment_plan",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("customer_id", sa.String(), nullable=False),
    sa.Column("tier", sa.String(), nullable=False),
    sa.Column("strategy_arm", sa.String(), nullable=False),  # champion | challenger | control
    sa.Column("strategy_name", sa.String(), nullable=False),
    sa.Column("step_name", sa.String()),
    sa.Column("planned_channels", sa.String()),  # ';'-joined, before cadence and guardrails
    sa.Column("recovery_probability", sa.Double(), nullable=False),
    sa.Column("overdue_amount", MONEY, nullable=False),
    sa.Column("expected_recovery", MONEY, nullable=False),
    sa.Column("offer_type", sa.String()),  # flexible_plan | hardship_assessment
    sa.Column("offer_instalments", sa.Integer()),
    sa.Column("offer_instalment_amount", MONEY),
    sa.Column("offer_first_due_date", sa.Date()),
    sa.Column("legal_ready", sa.Boolean(), nullable=False),
    sa.Column("agency_route", sa.Boolean(), nullable=False),
    sa.Column("disposition", sa.String(), nullable=False),
    sa.Column("model_version", sa.String(), nullable=False),
    # 'static' | 'nba' (``POLICY_ARMS``); NULL on rows planned before the arm existed
    sa.Column("policy_arm", sa.String()),
    # the learned policy that picked the strategy (nba arm only; NULL: none yet / static)
    sa.Column("nba_policy_version", sa.String()),
)

experiment_arms = sa.Table(
    "act_experiment_arms",
    metadata,
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("strategy_arm", sa.String(), nullable=False),
    sa.Column("assigned_on", sa.Date(), nullable=False),  # the first plan that drew it
    sa.Column("assigned_tier", sa.String(), nullable=False),
    sa.Column("assigned_strategy", sa.String(), nullable=False),
    sa.Column("policy_arm", sa.String()),  # 'static' | 'nba'; NULL (older rows) = static
)

worklist = sa.Table(
    "act_worklist",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("item_id", sa.String(), primary_key=True),  # stable for (date, loan, channel)
    sa.Column("loan_id", sa.String(), nullable=False),
    sa.Column("customer_id", sa.String(), nullable=False),
    sa.Column("tier", sa.String(), nullable=False),
    sa.Column("tier_label_zh", sa.String()),
    sa.Column("strategy_arm", sa.String(), nullable=False),
    sa.Column("channel", sa.String(), nullable=False),
    sa.Column("queue", sa.String(), nullable=False),  # collector id, or 'auto:<channel>'
    sa.Column("assignee_id", sa.String()),
    sa.Column("assignee_team", sa.String()),
    sa.Column("second_assignee_id", sa.String()),  # field visits go out in pairs
    sa.Column("queue_rank", sa.Integer(), nullable=False),  # 1 = work first
    sa.Column("expected_recovery", MONEY, nullable=False),
    sa.Column("effort", sa.Double(), nullable=False),
    sa.Column("value_per_effort", sa.Double(), nullable=False),
    sa.Column("timezone", sa.String(), nullable=False),
    sa.Column("earliest_local_time", sa.String(), nullable=False),  # HH:MM:SS
    sa.Column("latest_local_time", sa.String(), nullable=False),
    sa.Column("window_start_utc", sa.DateTime()),  # naive UTC, as every timestamp here
    sa.Column("window_end_utc", sa.DateTime()),
    sa.Column("remaining_call_attempts", sa.Integer()),
    sa.Column("dpd", sa.Integer(), nullable=False),
    sa.Column("overdue_amount", MONEY, nullable=False),
    sa.Column("offer_type", sa.String()),
    sa.Column("offer_instalments", sa.Integer()),
    sa.Column("offer_instalment_amount", MONEY),
    sa.Column("offer_first_due_date", sa.Date()),
    sa.Column("legal_ready", sa.Boolean(), nullable=False),
    *(sa.Column(f"reason_{i}", sa.String()) for i in range(1, TOP_REASONS + 1)),
    sa.Column("model_version", sa.String(), nullable=False),
    # the learned next-best-action for the account (``uplift``), NULL without decisions
    sa.Column("nba_treatment", sa.String()),
    sa.Column("nba_uplift", MONEY),
    *(sa.Column(f"nba_reason_{i}", sa.String()) for i in range(1, NBA_REASONS + 1)),
)

suppression_log = sa.Table(
    "act_suppression_log",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("channel", sa.String(), primary_key=True),
    sa.Column("customer_id", sa.String(), nullable=False),
    sa.Column("tier", sa.String(), nullable=False),
    sa.Column("strategy_arm", sa.String(), nullable=False),
    sa.Column("reason", sa.String(), nullable=False),
    sa.Column("route", sa.String()),
    sa.Column("policy", sa.String(), nullable=False),
)

sa.Index("ix_act_worklist_queue", worklist.c.as_of_date, worklist.c.queue)

# One row per rule and day: what the guardrails examined and held back, and what the
# post-scheduling audit re-counted over the scheduled worklist (``act.compliance``).
compliance_report = sa.Table(
    "act_compliance_report",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("rule", sa.String(), primary_key=True),  # a suppression reason code
    sa.Column("policy", sa.String(), nullable=False),
    sa.Column("candidates_checked", sa.BigInteger(), nullable=False),
    sa.Column("allowed", sa.BigInteger(), nullable=False),
    sa.Column("suppressed", sa.BigInteger(), nullable=False),
    sa.Column("scheduled_audited", sa.BigInteger(), nullable=False),
    sa.Column("audit_breaches", sa.BigInteger(), nullable=False),
    sa.Column("audit_result", sa.String(), nullable=False),  # pass | breach | not_audited
)
