"""``int_delinquency_snapshot``: one row per loan per as-of date, declared beside its stage."""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import MONEY, metadata

delinquency_snapshot = sa.Table(
    "int_delinquency_snapshot",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("customer_id", sa.String()),
    sa.Column("product", sa.String()),
    sa.Column("status", sa.String()),
    sa.Column("dpd", sa.Integer(), nullable=False),
    sa.Column("bucket", sa.String(), nullable=False),
    sa.Column("regulatory_grade", sa.String(), nullable=False),
    sa.Column("is_npl", sa.Boolean(), nullable=False),
    sa.Column("oldest_unpaid_due_date", sa.Date()),
    sa.Column("overdue_principal", MONEY, nullable=False),
    sa.Column("overdue_interest", MONEY, nullable=False),
    sa.Column("overdue_fees", MONEY, nullable=False),
    sa.Column("overdue_amount", MONEY, nullable=False),
    sa.Column("outstanding_principal", MONEY, nullable=False),
    sa.Column("total_paid", MONEY, nullable=False),
    sa.Column("last_payment_date", sa.Date()),
    sa.Column("installments_due", sa.Integer(), nullable=False),
    sa.Column("installments_overdue", sa.Integer(), nullable=False),
    sa.Column("months_on_book", sa.Integer(), nullable=False),
    sa.Column("on_book", sa.Boolean(), nullable=False),
)
