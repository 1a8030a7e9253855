"""Hand-worked delinquency examples, bucket edges, NPL ratio and policy validation."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta
from pydantic import ValidationError

from nplpipeline.config.policy import DelinquencyPolicy, load_policy
from nplpipeline.delinquency import (
    SNAPSHOT_COLUMNS,
    DelinquencyEngine,
    assign_buckets,
    compute_snapshot,
    npl_ratio,
)
from nplpipeline.delinquency.engine import _months_between

POLICY = load_policy().delinquency
D = dt.date


def loans_frame(*rows: tuple[str, str, D]) -> pd.DataFrame:
    """(loan_id, status, origination_date) rows."""
    return pd.DataFrame(
        {
            "loan_id": [r[0] for r in rows],
            "customer_id": [f"C-{r[0]}" for r in rows],
            "product": "cash_loan",
            "origination_date": [r[2] for r in rows],
            "principal_amount": 1000.0,
            "status": [r[1] for r in rows],
        }
    )


def schedule(loan_id: str, *rows: tuple[D, float, float, float]) -> pd.DataFrame:
    """(due_date, principal, interest, fee) rows, numbered from 1."""
    return pd.DataFrame(
        {
            "loan_id": loan_id,
            "installment_no": range(1, len(rows) + 1),
            "due_date": pd.to_datetime([r[0] for r in rows]),
            "principal_due": [r[1] for r in rows],
            "interest_due": [r[2] for r in rows],
            "fee_due": [r[3] for r in rows],
        }
    )


def payments(*rows: tuple[str, str, str, float, str | None]) -> pd.DataFrame:
    """(repayment_id, loan_id, paid_at, amount, reversal_of) rows."""
    return pd.DataFrame(
        {
            "repayment_id": [r[0] for r in rows],
            "loan_id": [r[1] for r in rows],
            "paid_at": pd.to_datetime([r[2] for r in rows]),
            "amount": [r[3] for r in rows],
            "reversal_of": [r[4] for r in rows],
        }
    )


# Loan A: three installments of 100 principal + 10 interest (+ 5 fee on the second).
LOANS = loans_frame(("A", "active", D(2024, 1, 1)))
SCHEDULE = schedule(
    "A",
    (D(2024, 2, 1), 100.0, 10.0, 0.0),
    (D(2024, 3, 1), 100.0, 10.0, 5.0),
    (D(2024, 4, 1), 100.0, 10.0, 0.0),
)


def one(snapshot: pd.DataFrame) -> pd.Series:
    assert len(snapshot) == 1
    return snapshot.iloc[0]


def test_unpaid_loan_ages_from_its_first_due_date() -> None:
    row = one(compute_snapshot(LOANS, SCHEDULE, payments(), D(2024, 3, 10), POLICY))
    assert row["dpd"] == 38  # Feb 1 -> Mar 10
    assert row["oldest_unpaid_due_date"] == pd.Timestamp("2024-02-01")
    assert row["bucket"] == "M2" and row["regulatory_grade"] == "special_mention"
    assert (row["overdue_principal"], row["overdue_interest"], row["overdue_fees"]) == (200, 20, 5)
    assert row["overdue_amount"] == 225
    assert row["outstanding_principal"] == 300
    assert (row["installments_due"], row["installments_overdue"]) == (2, 2)
    assert pd.isna(row["last_payment_date"]) and row["total_paid"] == 0


def test_payment_exactly_settling_oldest_installment_moves_dpd_to_the_next() -> None:
    paid = payments(("r1", "A", "2024-02-20 09:00", 110.0, None))
    row = one(compute_snapshot(LOANS, SCHEDULE, paid, D(2024, 3, 10), POLICY))
    assert row["dpd"] == 9  # now aged from Mar 1
    assert row["oldest_unpaid_due_date"] == pd.Timestamp("2024-03-01")
    assert row["overdue_amount"] == 115 and row["installments_overdue"] == 1
    assert row["last_payment_date"] == pd.Timestamp("2024-02-20")
    assert row["total_paid"] == 110


def test_waterfall_settles_fee_then_interest_then_principal_within_an_installment() -> None:
    paid = payments(("r1", "A", "2024-02-20", 110.0 + 12.0, None))  # 12 into installment 2
    row = one(compute_snapshot(LOANS, SCHEDULE, paid, D(2024, 3, 10), POLICY))
    # Installment 2 owes fee 5, interest 10, principal 100: 12 pays the fee and 7 of interest.
    assert (row["overdue_fees"], row["overdue_interest"], row["overdue_principal"]) == (0, 3, 100)
    principal_first = POLICY.model_copy(update={"waterfall": ("principal", "interest", "fee")})
    row = one(compute_snapshot(LOANS, SCHEDULE, paid, D(2024, 3, 10), principal_first))
    assert (row["overdue_fees"], row["overdue_interest"], row["overdue_principal"]) == (5, 10, 88)
    assert row["outstanding_principal"] == 188


def test_installment_due_on_the_as_of_date_is_not_yet_past_due() -> None:
    row = one(compute_snapshot(LOANS, SCHEDULE, payments(), D(2024, 2, 1), POLICY))
    assert (row["dpd"], row["installments_due"], row["installments_overdue"]) == (0, 1, 0)
    assert row["overdue_amount"] == 0 and pd.isna(row["oldest_unpaid_due_date"])
    row = one(compute_snapshot(LOANS, SCHEDULE, payments(), D(2024, 2, 2), POLICY))
    assert row["dpd"] == 1 and row["bucket"] == "M1"


def test_payment_late_on_the_as_of_day_counts() -> None:
    paid = payments(("r1", "A", "2024-02-05 23:59:59", 110.0, None))
    assert one(compute_snapshot(LOANS, SCHEDULE, paid, D(2024, 2, 5), POLICY))["dpd"] == 0
    assert one(compute_snapshot(LOANS, SCHEDULE, paid, D(2024, 2, 4), POLICY))["dpd"] == 3


def test_reversal_after_as_of_does_not_count_but_before_does() -> None:
    paid = payments(
        ("r1", "A", "2024-02-01 10:00", 110.0, None),
        ("r2", "A", "2024-02-15 10:00", 110.0, "r1"),  # the payment bounced
    )
    before = one(compute_snapshot(LOANS, SCHEDULE, paid, D(2024, 2, 10), POLICY))
    assert before["dpd"] == 0 and before["total_paid"] == 110
    assert before["last_payment_date"] == pd.Timestamp("2024-02-01")
    after = one(compute_snapshot(LOANS, SCHEDULE, paid, D(2024, 2, 20), POLICY))
    assert after["dpd"] == 19 and after["total_paid"] == 0
    assert pd.isna(after["last_payment_date"])


def test_overpayment_prepays_future_installments() -> None:
    paid = payments(("r1", "A", "2024-01-15", 250.0, None))
    row = one(compute_snapshot(LOANS, SCHEDULE, paid, D(2024, 3, 20), POLICY))
    assert row["dpd"] == 0 and row["overdue_amount"] == 0
    # 110 + 115 settle the first two; 25 reaches installment 3: interest 10, principal 15.
    assert row["outstanding_principal"] == 85


def test_loans_originated_after_as_of_and_loans_without_schedule() -> None:
    loans = loans_frame(
        ("A", "active", D(2024, 1, 1)),
        ("B", "active", D(2024, 1, 10)),
        ("LATE", "active", D(2024, 6, 1)),
    )
    snap = compute_snapshot(
        loans, SCHEDULE, payments(("r", "B", "2024-01-20", 5.0, None)), D(2024, 2, 15), POLICY
    )
    assert list(snap.columns) == list(SNAPSHOT_COLUMNS)
    assert list(snap["loan_id"]) == ["A", "B"]
    b = snap.set_index("loan_id").loc["B"]
    assert (b["dpd"], b["installments_due"], b["outstanding_principal"], b["total_paid"]) == (
        0,
        0,
        0,
        5,
    )
    assert b["months_on_book"] == 1


def test_rows_of_unknown_loans_are_ignored() -> None:
    ghost = schedule("GHOST", (D(2024, 1, 2), 50.0, 0.0, 0.0))
    snap = compute_snapshot(
        LOANS,
        pd.concat([ghost, SCHEDULE]),
        payments(("g", "GHOST", "2024-01-03", 999.0, None)),
        D(2024, 2, 5),
        POLICY,
    )
    assert one(snap)["dpd"] == 4 and one(snap)["total_paid"] == 0


def test_engine_reuses_preparation_across_dates() -> None:
    engine = DelinquencyEngine(LOANS, SCHEDULE, payments(), POLICY)
    history = engine.snapshots([D(2024, 2, 29), D(2024, 3, 31), D(2024, 4, 30)])
    assert list(history["dpd"]) == [28, 59, 89]
    assert list(history["bucket"].astype(str)) == ["M1", "M2", "M3"]


@pytest.mark.parametrize(
    ("dpd", "bucket", "grade"),
    [
        (0, "current", "normal"),
        (1, "M1", "special_mention"),
        (30, "M1", "special_mention"),
        (31, "M2", "special_mention"),
        (90, "M3", "special_mention"),
        (91, "M4", "substandard"),
        (180, "M6", "doubtful"),
        (181, "M6+", "loss"),
        (5000, "M6+", "loss"),
    ],
)
def test_bucket_edges(dpd: int, bucket: str, grade: str) -> None:
    names, grades = assign_buckets(np.array([dpd]), POLICY)
    assert (names[0], grades[0]) == (bucket, grade)


def test_assign_buckets_rejects_negative_dpd() -> None:
    with pytest.raises(ValueError, match="dpd"):
        assign_buckets(np.array([3, -1]), POLICY)


def test_custom_policy_buckets_and_npl_threshold() -> None:
    policy = DelinquencyPolicy(
        buckets=(
            {"name": "ok", "min_dpd": 0, "max_dpd": 9, "regulatory_grade": "pass"},
            {"name": "late", "min_dpd": 10, "regulatory_grade": "fail"},
        ),
        waterfall=("principal", "fee", "interest"),
        npl_min_dpd=10,
    )
    names, grades = assign_buckets(np.array([0, 9, 10, 400]), policy)
    assert list(names) == ["ok", "ok", "late", "late"]
    assert list(grades) == ["pass", "pass", "fail", "fail"]
    row = one(compute_snapshot(LOANS, SCHEDULE, payments(), D(2024, 2, 11), policy))
    assert (row["bucket"], row["regulatory_grade"], bool(row["is_npl"])) == ("late", "fail", True)


def test_npl_ratio_by_hand() -> None:
    loans = loans_frame(
        ("A", "active", D(2024, 1, 1)),
        ("B", "active", D(2024, 1, 1)),
        ("C", "charged_off", D(2024, 1, 1)),
        ("D", "sold", D(2024, 1, 1)),
    )
    sched = pd.concat(
        [schedule(x, (D(2024, 2, 1), 100.0 * (i + 1), 0.0, 0.0)) for i, x in enumerate("ABCD")]
    )
    paid = payments(("r", "B", "2024-02-01", 200.0, None))  # B is fully paid
    snap = compute_snapshot(loans, sched, paid, D(2024, 6, 1), POLICY)  # 121 DPD
    # On book: A (100, NPL), B (0), C (300, NPL); D is sold. (100 + 300) / (100 + 0 + 300).
    assert npl_ratio(snap, POLICY) == pytest.approx(1.0)
    paid_a = payments(("r", "B", "2024-02-01", 200.0, None), ("s", "A", "2024-02-01", 40.0, None))
    snap = compute_snapshot(loans, sched, paid_a, D(2024, 6, 1), POLICY)
    assert npl_ratio(snap, POLICY) == pytest.approx((60 + 300) / (60 + 0 + 300))
    lenient = POLICY.model_copy(update={"npl_min_dpd": 200})
    assert npl_ratio(snap, lenient) == 0.0
    assert math.isnan(npl_ratio(snap.iloc[:0], POLICY))


def test_npl_ratio_refuses_a_history() -> None:
    history = DelinquencyEngine(LOANS, SCHEDULE, payments(), POLICY).snapshots(
        [D(2024, 3, 1), D(2024, 4, 1)]
    )
    with pytest.raises(ValueError, match="single as-of"):
        npl_ratio(history, POLICY)


def test_months_on_book_matches_relativedelta_including_month_ends() -> None:
    starts = [D(2023, 1, 31), D(2024, 1, 31), D(2024, 2, 29), D(2023, 3, 15), D(2024, 12, 31)]
    ends = [
        D(2024, 2, 28),
        D(2024, 2, 29),
        D(2025, 2, 28),
        D(2024, 3, 14),
        D(2025, 4, 30),
        D(2024, 3, 15),
        D(2025, 12, 31),
    ]
    epoch = D(1970, 1, 1)
    for end in ends:
        eligible = [s for s in starts if s <= end]
        got = _months_between(np.array([(s - epoch).days for s in eligible]), (end - epoch).days)
        want = [relativedelta(end, s).years * 12 + relativedelta(end, s).months for s in eligible]
        assert list(got) == want, end


def test_settlement_order_survives_shuffled_rows_and_huge_installment_numbers() -> None:
    sched = SCHEDULE.assign(installment_no=[1, 10**15, 2 * 10**15])  # forces the lexsort path
    paid = payments(("r1", "A", "2024-02-20", 110.0, None))
    shuffled = sched.iloc[[2, 0, 1]]
    row = one(compute_snapshot(LOANS, shuffled, paid, D(2024, 3, 10), POLICY))
    assert row["dpd"] == 9 and row["overdue_amount"] == 115


def test_duplicate_loan_ids_are_refused() -> None:
    loans = loans_frame(("A", "active", D(2024, 1, 1)), ("A", "closed", D(2024, 1, 1)))
    with pytest.raises(ValueError, match="unique"):
        compute_snapshot(loans, SCHEDULE, payments(), D(2024, 3, 1), POLICY)


def _bucket(name: str, lo: int, hi: int | None) -> dict:
    return {"name": name, "min_dpd": lo, "max_dpd": hi, "regulatory_grade": "g"}


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ([_bucket("a", 0, 10), _bucket("b", 12, None)], "contiguous"),  # gap
        ([_bucket("a", 0, 10), _bucket("b", 5, None)], "contiguous"),  # overlap
        ([_bucket("a", 1, None)], "contiguous"),  # not from 0
        ([_bucket("a", 0, None), _bucket("b", 1, None)], "open-ended"),
        ([_bucket("a", 0, 10)], "open-ended"),  # last is closed
    ],
)
def test_policy_rejects_buckets_that_do_not_tile(buckets: list[dict], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DelinquencyPolicy(buckets=buckets)


def test_policy_rejects_a_waterfall_missing_a_component() -> None:
    with pytest.raises(ValidationError, match="waterfall"):
        DelinquencyPolicy(buckets=[_bucket("a", 0, None)], waterfall=("fee", "fee", "principal"))
