"""Agency placements and the commissions they earn.

* ``act_agency_placements``: one row per placement, keyed ``<agency>-<loan>-<n>`` (the
  n-th placement of the loan), with its planned recall date and, once recalled, the day
  and reason. Status is ``active`` until recalled, then ``recalled``.
* ``act_agency_commissions``: one row per agency repayment attributed to a placement
  (keyed by repayment_id); a reversal of such a repayment is a negative clawback row.
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import MONEY, RATE, metadata

STATUS_ACTIVE = "active"
STATUS_RECALLED = "recalled"
OFF_BOOK_REASON = "off_book"  # recalled because the loan left the book

agency_placements = sa.Table(
    "act_agency_placements",
    metadata,
    sa.Column("placement_id", sa.String(), primary_key=True),
    sa.Column("loan_id", sa.String(), nullable=False),
    sa.Column("customer_id", sa.String(), nullable=False),
    sa.Column("agency_id", sa.String(), nullable=False),
    sa.Column("placement_no", sa.Integer(), nullable=False),  # 1 = first placement
    sa.Column("allocation_method", sa.String(), nullable=False),  # optimised | randomised
    sa.Column("start_date", sa.Date(), nullable=False),
    sa.Column("period_days", sa.Integer(), nullable=False),
    sa.Column("recall_date", sa.Date(), nullable=False),  # planned: start + period
    sa.Column("recalled_on", sa.Date()),
    sa.Column("recall_reason", sa.String()),  # period_end | cured | off_book
    sa.Column("status", sa.String(), nullable=False),  # active | recalled
    sa.Column("balance_placed", MONEY, nullable=False),
    sa.Column("expected_net_recovery", MONEY, nullable=False),
    sa.Column("expected_liquidation", sa.Double(), nullable=False),  # p_ia at placement
    sa.Column("commission_rate", RATE, nullable=False),
    sa.Column("province", sa.String()),
    sa.Column("model_version", sa.String(), nullable=False),
)

agency_commissions = sa.Table(
    "act_agency_commissions",
    metadata,
    sa.Column("repayment_id", sa.String(), primary_key=True),
    sa.Column("placement_id", sa.String(), nullable=False),
    sa.Column("agency_id", sa.String(), nullable=False),
    sa.Column("loan_id", sa.String(), nullable=False),
    sa.Column("paid_on", sa.Date(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),  # commission | clawback
    sa.Column("reversal_of", sa.String()),
    sa.Column("amount", MONEY, nullable=False),  # negative for a reversal
    sa.Column("commission_rate", RATE, nullable=False),
    sa.Column("commission", MONEY, nullable=False),  # negative for a clawback
)

sa.Index("ix_act_agency_placements_loan", agency_placements.c.loan_id)
sa.Index(
    "ix_act_agency_placements_agency_start",
    agency_placements.c.agency_id,
    agency_placements.c.start_date,
)
sa.Index("ix_act_agency_commissions_agency", agency_commissions.c.agency_id)
