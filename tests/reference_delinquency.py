"""A deliberately plain reference for the delinquency snapshot.

One loan at a time, one installment at a time, one component at a time, in exact
Decimal arithmetic. Slow and obvious on purpose: the property tests check the
vectorised engine against it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
from dateutil.relativedelta import relativedelta

from nplpipeline.config.policy import DelinquencyPolicy

COMPONENT_COLUMN = {"fee": "fee_due", "interest": "interest_due", "principal": "principal_due"}


def reference_snapshot(
    loans: pd.DataFrame,
    installments: pd.DataFrame,
    repayments: pd.DataFrame,
    as_of: dt.date,
    policy: DelinquencyPolicy,
) -> pd.DataFrame:
    rows = []
    for loan in loans.to_dict("records"):
        origination = as_date(loan["origination_date"])
        if origination is None or origination > as_of:
            continue
        schedule = [r for r in installments.to_dict("records") if r["loan_id"] == loan["loan_id"]]
        payments = [r for r in repayments.to_dict("records") if r["loan_id"] == loan["loan_id"]]
        rows.append(loan_row(loan, origination, schedule, payments, repayments, as_of, policy))
    return pd.DataFrame(rows)


def loan_row(loan, origination, schedule, payments, all_repayments, as_of, policy) -> dict:
    # 1. Net amount paid up to as_of: payments add, reversal rows subtract, each on its own day.
    net_paid = Decimal(0)
    for p in payments:
        if as_date(p["paid_at"]) <= as_of:
            if is_reversal(p):
                net_paid -= money(p["amount"])
            else:
                net_paid += money(p["amount"])

    # 2. Walk the schedule oldest first (by due date, then installment number), paying
    #    each component in waterfall order.
    schedule = sorted(schedule, key=lambda r: (as_date(r["due_date"]), int(r["installment_no"])))
    pot = max(net_paid, Decimal(0))
    tolerance = Decimal(str(policy.paid_tolerance))
    overdue = {"fee": Decimal(0), "interest": Decimal(0), "principal": Decimal(0)}
    outstanding_principal = Decimal(0)
    installments_due = 0
    installments_overdue = 0
    dpd = 0
    oldest_unpaid = None
    for inst in schedule:
        due_date = as_date(inst["due_date"])
        left = {}
        for component in policy.waterfall:
            owed = money(inst[COMPONENT_COLUMN[component]])
            pay = min(pot, owed)
            pot -= pay
            left[component] = owed - pay
        outstanding_principal += left["principal"]
        if due_date <= as_of:
            installments_due += 1
        unpaid = sum(left.values()) > tolerance
        if unpaid and due_date < as_of:
            installments_overdue += 1
            for component in overdue:
                overdue[component] += left[component]
            if (as_of - due_date).days > dpd:
                dpd = (as_of - due_date).days
                oldest_unpaid = due_date

    # 3. Last payment: latest payment row up to as_of that no reversal dated up to as_of undoes.
    last_payment = None
    for p in payments:
        if is_reversal(p) or as_date(p["paid_at"]) > as_of:
            continue
        reversed_by_then = any(
            is_reversal(r)
            and str(r["reversal_of"]).strip() == str(p["repayment_id"])
            and as_date(r["paid_at"]) <= as_of
            for r in all_repayments.to_dict("records")
        )
        if not reversed_by_then and (last_payment is None or as_date(p["paid_at"]) > last_payment):
            last_payment = as_date(p["paid_at"])

    bucket = grade = None
    for b in policy.buckets:
        if b.min_dpd <= dpd and (b.max_dpd is None or dpd <= b.max_dpd):
            bucket, grade = b.name, b.regulatory_grade
    age = relativedelta(as_of, origination)
    return {
        "as_of_date": as_of,
        "loan_id": loan["loan_id"],
        "customer_id": loan["customer_id"],
        "product": loan["product"],
        "status": loan["status"],
        "dpd": dpd,
        "bucket": bucket,
        "regulatory_grade": grade,
        "is_npl": dpd >= policy.npl_min_dpd,
        "oldest_unpaid_due_date": oldest_unpaid,
        "overdue_principal": float(overdue["principal"]),
        "overdue_interest": float(overdue["interest"]),
        "overdue_fees": float(overdue["fee"]),
        "overdue_amount": float(sum(overdue.values())),
        "outstanding_principal": float(outstanding_principal),
        "total_paid": float(net_paid),
        "last_payment_date": last_payment,
        "installments_due": installments_due,
        "installments_overdue": installments_overdue,
        "months_on_book": age.years * 12 + age.months,
        "on_book": loan["status"] in policy.on_book_statuses,
    }


def is_reversal(repayment: dict) -> bool:
    value = repayment.get("reversal_of")
    return value is not None and not pd.isna(value) and str(value).strip() != ""


def money(value) -> Decimal:
    if value is None or pd.isna(value):
        return Decimal(0)
    return Decimal(str(value)).quantize(Decimal("0.01"))


def as_date(value) -> dt.date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()
