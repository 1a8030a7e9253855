"""The snapshot's output schema, stated once for the engine, the tests and later stages."""

from __future__ import annotations

SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "as_of_date",
    "loan_id",
    "customer_id",
    "product",
    "status",
    "dpd",
    "bucket",
    "regulatory_grade",
    "is_npl",
    "oldest_unpaid_due_date",
    "overdue_principal",
    "overdue_interest",
    "overdue_fees",
    "overdue_amount",
    "outstanding_principal",
    "total_paid",
    "last_payment_date",
    "installments_due",
    "installments_overdue",
    "months_on_book",
    "on_book",
)

MONEY_COLUMNS: tuple[str, ...] = (
    "overdue_principal",
    "overdue_interest",
    "overdue_fees",
    "overdue_amount",
    "outstanding_principal",
    "total_paid",
)

DATE_COLUMNS: tuple[str, ...] = ("as_of_date", "oldest_unpaid_due_date", "last_payment_date")
