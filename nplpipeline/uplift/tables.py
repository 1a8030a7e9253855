"""``act_nba_decisions``: the learned policy's choice per planned account and day.

One row per (as_of_date, loan_id) of the day's treatment plan: the treatment the
learned policy chooses (the uplift policy's vocabulary), the tier strategy that executes
it, the estimated gain over the static tier policy (net recovery over the horizon, loan
currency), whether the account is in the randomised share (then the choice is its arm's
draw), the top reasons, the policy version and whether that version passed its gate.
The worklist carries treatment, gain and reasons to the CRM (``docs/crm-payload.md``).
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.uplift.explain import TOP_NBA_REASONS
from nplpipeline.warehouse.tables import MONEY, metadata

nba_decisions = sa.Table(
    "act_nba_decisions",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("tier", sa.String(), nullable=False),
    sa.Column("nba_treatment", sa.String(), nullable=False),
    sa.Column("nba_strategy", sa.String()),
    sa.Column("static_treatment", sa.String(), nullable=False),
    sa.Column("nba_uplift", MONEY),  # NULL where the learner has no estimate
    sa.Column("nba_explore", sa.Boolean(), nullable=False),
    *(sa.Column(f"nba_reason_{i}", sa.String()) for i in range(1, TOP_NBA_REASONS + 1)),
    sa.Column("nba_policy_version", sa.String(), nullable=False),
    sa.Column("nba_promoted", sa.Boolean(), nullable=False),
)
