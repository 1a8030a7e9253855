"""The scored, tiered portfolio: what strategies, worklists and KPIs start from."""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import MONEY, metadata

TOP_REASONS = 3

account_scores = sa.Table(
    "int_account_scores",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("customer_id", sa.String(), nullable=False),
    sa.Column("model_name", sa.String(), nullable=False),
    sa.Column("model_version", sa.String(), nullable=False),
    sa.Column("recovery_probability", sa.Double(), nullable=False),
    sa.Column("tier", sa.String(), nullable=False),
    sa.Column("dpd", sa.Integer(), nullable=False),
    sa.Column("bucket", sa.String(), nullable=False),
    sa.Column("product", sa.String(), nullable=False),
    sa.Column("overdue_amount", MONEY, nullable=False),
    sa.Column("outstanding_principal", MONEY, nullable=False),
    *(sa.Column(f"reason_{i}", sa.String()) for i in range(1, TOP_REASONS + 1)),
    *(sa.Column(f"reason_feature_{i}", sa.String()) for i in range(1, TOP_REASONS + 1)),
)
