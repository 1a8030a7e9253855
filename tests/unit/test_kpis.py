"""The KPI formulas of domain.md, each checked against a hand-built fixture.

Every expected figure is worked out by hand in the comment beside it, so a change of
definition shows up as a broken sum a reader can follow, not as a shifted float.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pydantic
import pytest

from nplpipeline.report.kpis import (
    PlanTargets,
    ScorecardWeights,
    account_recoveries,
    agency_commissions,
    agency_liquidation,
    agency_scorecard,
    collection_complaints,
    collector_scorecard,
    complaint_rate,
    composite_rank,
    contact_rates,
    cure_rates,
    customer_satisfaction,
    economics_vs_plan,
    incremental_recovery,
    load_plan,
    npl_ratio_trend,
    plan_vs_actual,
    promise_outcomes,
    ptp_kept_rate,
    recovery_rates,
    repayment_flows,
    roi_payback,
    roll_rate_matrix,
    roll_rates,
    snapshot_cohort,
    vintage_curves,
)

approx = pytest.approx


def repayments(*rows: tuple) -> pd.DataFrame:
    """(repayment_id, loan_id, paid_at, amount, reversal_of, agency_id, collector_id)."""
    columns = [
        "repayment_id",
        "loan_id",
        "paid_at",
        "amount",
        "reversal_of",
        "agency_id",
        "collector_id",
    ]
    frame = pd.DataFrame([r + (None,) * (len(columns) - len(r)) for r in rows], columns=columns)
    frame["paid_at"] = pd.to_datetime(frame["paid_at"], format="ISO8601")
    frame["amount"] = frame["amount"].astype(float)
    return frame


def one(frame: pd.DataFrame, **where: object) -> pd.Series:
    """The single row of ``frame`` matching ``where``."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, f"{mask.sum()} rows match {where}"
    return frame.loc[mask].iloc[0]


# --- repayments: reversals ---------------------------------------------------------------


def test_a_reversal_is_a_negative_flow_on_its_own_day_attributed_to_its_original() -> None:
    rows = repayments(
        ("r1", "L1", "2026-01-05 09:30", 200, None, "AG1", "C1"),
        # the reversal row carries no loan or collector: it inherits them from r1
        ("r2", None, "2026-01-08 16:00", 200, "r1"),
    )
    flows = repayment_flows(rows)
    reversal = one(flows, repayment_id="r2")
    assert reversal["amount"] == -200.0
    assert reversal["paid_date"] == pd.Timestamp("2026-01-08")  # its own day, not r1's
    assert (reversal["loan_id"], reversal["agency_id"], reversal["collector_id"]) == (
        "L1",
        "AG1",
        "C1",
    )
    assert flows["amount"].sum() == 0.0  # 200 − 200


def test_a_reversal_whose_original_is_unknown_keeps_its_own_attributes() -> None:
    rows = repayments(("r9", "L9", "2026-01-08", 80, "missing", None, "C7"))
    flow = repayment_flows(rows).iloc[0]
    assert (flow["amount"], flow["loan_id"], flow["collector_id"]) == (-80.0, "L9", "C7")


# --- recovery ----------------------------------------------------------------------------

COHORT = pd.DataFrame(
    {
        "loan_id": ["A", "B"],
        "entry_date": pd.to_datetime(["2026-01-01", "2026-01-01"]),
        "overdue_amount": [1000.0, 500.0],
        "tier": ["mild", "severe"],
    }
)
RECOVERY_REPAYMENTS = repayments(
    ("a0", "A", "2025-12-31 23:00", 100),  # before entry: not counted
    ("a1", "A", "2026-01-05 10:00", 300),
    ("a2", "A", "2026-01-10 10:00", 200),
    ("a3", "A", "2026-01-12 10:00", 50, "a2"),  # reverses 50 of a2
    ("a4", "A", "2026-01-31 00:00", 100),  # day 31: outside [Jan 1, Jan 31)
    ("b1", "B", "2026-01-02 10:00", 500),
)
COMMISSIONS = pd.DataFrame(
    {"loan_id": ["B"], "cost_date": pd.to_datetime(["2026-01-02"]), "amount": [100.0]}
)
COSTS = pd.DataFrame(
    {
        "loan_id": ["A", "A"],
        "cost_date": pd.to_datetime(["2026-01-20", "2026-02-15"]),  # the second is outside
        "amount": [50.0, 999.0],
    }
)


def test_recovery_rate_gross_net_and_count_by_tier() -> None:
    out = recovery_rates(
        COHORT,
        RECOVERY_REPAYMENTS,
        window_days=30,
        by=["tier"],
        commissions=COMMISSIONS,
        collection_costs=COSTS,
    )
    mild = one(out, tier="mild")
    # A: repaid 300 + 200 − 50 reversal = 450 of 1,000 overdue → 0.45
    assert mild["repaid"] == 450.0
    assert mild["recovery_rate"] == approx(0.45)
    # net: (450 − 0 commission − 50 cost in the window) / 1,000 = 0.40
    assert mild["net_recovery_rate"] == approx(0.40)
    # 450 < 1,000: not recovered → 0 of 1 accounts
    assert (mild["accounts_recovered"], mild["account_recovery_rate"]) == (0, 0.0)
    severe = one(out, tier="severe")
    # B: 500 of 500 → 1.0; net (500 − 100 commission) / 500 = 0.8; recovered 1 of 1
    assert severe["recovery_rate"] == approx(1.0)
    assert severe["net_recovery_rate"] == approx(0.8)
    assert severe["account_recovery_rate"] == 1.0


def test_recovery_rate_overall_is_a_ratio_of_sums() -> None:
    out = recovery_rates(
        COHORT,
        RECOVERY_REPAYMENTS,
        window_days=30,
        commissions=COMMISSIONS,
        collection_costs=COSTS,
    )
    assert len(out) == 1
    row = out.iloc[0]
    # (450 + 500) / (1,000 + 500) = 950 / 1,500 = 0.6333 (not the mean of 0.45 and 1.0)
    assert row["recovery_rate"] == approx(950 / 1500)
    # (950 − 100 − 50) / 1,500 = 800 / 1,500 = 0.5333
    assert row["net_recovery_rate"] == approx(800 / 1500)
    # 1 of 2 accounts recovered
    assert row["account_recovery_rate"] == 0.5


def test_reversal_inside_the_window_of_a_payment_before_it_counts_negative() -> None:
    cohort = COHORT.iloc[:1]  # A, 1,000 overdue from Jan 1
    rows = repayments(
        ("p0", "A", "2025-12-20", 200),  # before entry
        ("p1", "A", "2026-01-03", 200, "p0"),  # bounced inside the window: −200
        ("p2", "A", "2026-01-04", 500),
    )
    out = account_recoveries(cohort, rows, window_days=30)
    # 500 − 200 = 300 → the money that stayed in the window
    assert out["repaid"].tolist() == [300.0]


def test_recovery_capped_at_the_overdue_balance_when_asked() -> None:
    cohort = COHORT.iloc[:1]  # A, 1,000 overdue from Jan 1
    rows = repayments(
        ("p1", "A", "2026-01-03", 700),  # arrears
        ("p2", "A", "2026-01-20", 600),  # the arrears' rest, then the next instalment
    )
    # uncapped: 1,300 of 1,000 -> 1.3 (servicing counted as recovery)
    assert account_recoveries(cohort, rows, window_days=30)["repaid"].tolist() == [1300.0]
    # capped: at most the 1,000 owed at entry -> 1.0
    capped = account_recoveries(cohort, rows, window_days=30, cap_at_overdue=True)
    assert capped["repaid"].tolist() == [1000.0]
    assert capped["net_repaid"].tolist() == [1000.0]


def test_recovery_of_an_empty_cohort_is_nan_not_an_error() -> None:
    empty = COHORT.iloc[:0]
    overall = recovery_rates(empty, RECOVERY_REPAYMENTS, window_days=30)
    assert len(overall) == 1
    assert overall.loc[0, "accounts"] == 0 and overall.loc[0, "overdue_at_entry"] == 0.0
    assert math.isnan(overall.loc[0, "recovery_rate"])
    assert math.isnan(overall.loc[0, "account_recovery_rate"])
    grouped = recovery_rates(empty, RECOVERY_REPAYMENTS.iloc[:0], window_days=30, by=["tier"])
    assert grouped.empty and "recovery_rate" in grouped.columns


def test_recovery_with_zero_overdue_at_entry_is_nan() -> None:
    cohort = COHORT.iloc[:1].assign(overdue_amount=0.0)
    out = recovery_rates(cohort, RECOVERY_REPAYMENTS, window_days=30)
    # 450 repaid / 0 overdue → NaN (no ZeroDivisionError, no inf)
    assert math.isnan(out.loc[0, "recovery_rate"])
    assert math.isnan(out.loc[0, "net_recovery_rate"])


def test_snapshot_cohort_opens_the_window_the_day_after_the_snapshot() -> None:
    snapshot = pd.DataFrame(
        {"as_of_date": pd.to_datetime(["2026-01-31"]), "loan_id": ["A"], "overdue_amount": [400.0]}
    )
    rows = repayments(
        ("s0", "A", "2026-01-31 15:00", 100),  # already inside the snapshot's overdue
        ("s1", "A", "2026-02-01 09:00", 100),
    )
    cohort = snapshot_cohort(snapshot)
    assert cohort.loc[0, "entry_date"] == pd.Timestamp("2026-02-01")
    # only s1 counts: 100 / 400 = 0.25
    assert recovery_rates(cohort, rows, window_days=30).loc[0, "recovery_rate"] == 0.25


# --- cure --------------------------------------------------------------------------------


def test_cure_rate_by_count_and_balance() -> None:
    start = pd.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3", "L4", "L5"],
            "dpd": [10, 40, 0, 100, 20],
            "outstanding_principal": [1000.0, 3000.0, 500.0, 1000.0, 700.0],
            "on_book": [True, True, True, True, False],  # L5 is off the book: not counted
        }
    )
    end = pd.DataFrame({"loan_id": ["L1", "L2", "L3"], "dpd": [0, 70, 5]})  # L4 is missing
    row = cure_rates(start, end).iloc[0]
    # delinquent at start: L1, L2, L4 (L3 is current) → 3 accounts, 1,000+3,000+1,000 = 5,000
    assert (row["accounts_delinquent"], row["balance_delinquent"]) == (3, 5000.0)
    # cured: L1 (DPD 0 at end); L2 still late; L4 unknown = not cured
    assert row["cure_rate_count"] == approx(1 / 3)
    assert row["cure_rate_balance"] == approx(1000 / 5000)  # 0.2


def test_cure_rate_with_nobody_delinquent_is_nan() -> None:
    start = pd.DataFrame({"loan_id": ["L1"], "dpd": [0], "outstanding_principal": [100.0]})
    row = cure_rates(start, start).iloc[0]
    assert row["accounts_delinquent"] == 0
    assert math.isnan(row["cure_rate_count"]) and math.isnan(row["cure_rate_balance"])


# --- roll rates --------------------------------------------------------------------------

BUCKETS = ["current", "M1", "M2", "M3"]
PREVIOUS = pd.DataFrame(
    {
        "loan_id": ["A", "B", "C", "D", "E", "F"],
        "bucket": ["current", "current", "M1", "M1", "M2", "M3"],
        "outstanding_principal": [1000.0, 3000.0, 2000.0, 1000.0, 500.0, 400.0],
        "on_book": True,
    }
)
CURRENT = pd.DataFrame(
    {
        # E has left (paid off, no longer in the snapshot); F is closed (off the book);
        # G is new this month and was nowhere a month before.
        "loan_id": ["A", "B", "C", "D", "F", "G"],
        "bucket": ["current", "M1", "M2", "current", "M3", "M1"],
        "outstanding_principal": [900.0, 2900.0, 1900.0, 0.0, 400.0, 100.0],
        "on_book": [True, True, True, True, False, True],
    }
)


def test_roll_rate_matrix_rows_sum_to_one_with_a_closed_column() -> None:
    matrix = roll_rate_matrix(PREVIOUS, CURRENT, buckets=BUCKETS)
    assert len(matrix) == 4 * 5  # every from × (to + closed) cell, zeros included
    rate = matrix.set_index(["from_bucket", "to_bucket"])["rate"]
    # current (1,000 A + 3,000 B = 4,000): A stays 1,000/4,000, B rolls 3,000/4,000
    assert rate[("current", "current")] == approx(0.25)
    assert rate[("current", "M1")] == approx(0.75)
    # M1 (2,000 C + 1,000 D): C rolls to M2 2,000/3,000, D cures to current 1,000/3,000
    assert rate[("M1", "M2")] == approx(2 / 3)
    assert rate[("M1", "current")] == approx(1 / 3)
    # E vanished and F went off the book: both are "closed"
    assert rate[("M2", "closed")] == 1.0
    assert rate[("M3", "closed")] == 1.0
    assert matrix.groupby("from_bucket", observed=True)["rate"].sum().tolist() == approx(
        [1.0, 1.0, 1.0, 1.0]
    )
    count = matrix.set_index(["from_bucket", "to_bucket"])["count_rate"]
    assert count[("current", "M1")] == 0.5  # 1 of 2 accounts
    assert "G" not in matrix.to_string()  # no trace of the new loan


def test_roll_rate_summary_forward_back_stay_closed() -> None:
    summary = roll_rates(roll_rate_matrix(PREVIOUS, CURRENT, buckets=BUCKETS)).set_index("bucket")
    # current: stay 0.25, forward (→M1) 0.75
    assert summary.loc["current", "stay_rate"] == approx(0.25)
    assert summary.loc["current", "roll_forward_rate"] == approx(0.75)
    # M1: forward (→M2) 2/3, back 1/3
    assert summary.loc["M1", "roll_forward_rate"] == approx(2 / 3)
    assert summary.loc["M1", "roll_back_rate"] == approx(1 / 3)
    assert summary.loc["M2", "closed_rate"] == 1.0
    # the last bucket has no b+1
    assert math.isnan(summary.loc["M3", "roll_forward_rate"])
    parts = summary[["stay_rate", "roll_back_rate", "worse_rate", "closed_rate"]].sum(axis=1)
    assert parts.tolist() == approx([1.0] * 4)


def test_roll_rate_matrix_by_group_and_empty() -> None:
    previous = PREVIOUS.assign(product=["cash", "card", "cash", "cash", "card", "card"])
    matrix = roll_rate_matrix(previous, CURRENT, buckets=BUCKETS, by=["product"])
    rate = matrix.set_index(["product", "from_bucket", "to_bucket"])["rate"]
    # cash current = A only: stays → 1.0; card current = B only: rolls → 1.0
    assert rate[("cash", "current", "current")] == 1.0
    assert rate[("card", "current", "M1")] == 1.0
    # cash has nothing in M2: its M2 row is NaN, not 0
    assert math.isnan(rate[("cash", "M2", "closed")])
    empty = roll_rate_matrix(PREVIOUS.iloc[:0], CURRENT, buckets=BUCKETS)
    assert len(empty) == 20 and empty["rate"].isna().all()


def test_roll_rate_summary_keeps_the_groups_and_refuses_unknown_buckets() -> None:
    previous = PREVIOUS.assign(product=["cash", "card", "cash", "cash", "card", "card"])
    matrix = roll_rate_matrix(previous, CURRENT, buckets=BUCKETS, by=["product"])
    summary = roll_rates(matrix, weight="count").set_index(["product", "bucket"])
    # cash M1 = C (→ M2) and D (→ current): 1 of 2 forward, 1 of 2 back
    assert summary.loc[("cash", "M1"), "roll_forward_rate"] == 0.5
    assert summary.loc[("cash", "M1"), "roll_back_rate"] == 0.5
    with pytest.raises(ValueError, match="M9"):
        roll_rate_matrix(PREVIOUS.assign(bucket="M9"), CURRENT, buckets=BUCKETS)


# --- contact -----------------------------------------------------------------------------


def actions(*rows: tuple) -> pd.DataFrame:
    """(action_id, loan_id, customer_id, action_at, channel, performed_by, outcome,
    ptp_amount, ptp_date)."""
    columns = [
        "action_id",
        "loan_id",
        "customer_id",
        "action_at",
        "channel",
        "performed_by",
        "outcome",
        "ptp_amount",
        "ptp_date",
    ]
    frame = pd.DataFrame([r + (None,) * (len(columns) - len(r)) for r in rows], columns=columns)
    frame["action_at"] = pd.to_datetime(frame["action_at"], format="ISO8601")
    frame["ptp_date"] = pd.to_datetime(frame["ptp_date"], format="ISO8601")
    frame["ptp_amount"] = frame["ptp_amount"].astype(float)
    return frame


CONTACTS = actions(
    ("x1", "L1", "K1", "2026-03-01 10:00", "call", "C1", "no_answer"),
    ("x2", "L1", "K1", "2026-03-01 11:00", "call", "C1", "wrong_party"),
    ("x3", "L2", "K2", "2026-03-02 10:00", "call", "C1", "right_party_contact"),
    ("x4", "L2", "K2", "2026-03-03 10:00", "call", "C2", "promise_to_pay", 100, "2026-03-10"),
    ("x5", "L3", "K3", "2026-03-03 15:00", "visit", "C2", "promise_to_pay", 100, "2026-03-12"),
    ("x6", "L3", "K3", "2026-03-04 10:00", "call", "C2", "complaint"),
    ("x7", "L1", "K1", "2026-03-01 09:00", "sms", "auto", "delivered"),  # not an attempt
    ("x8", "L4", "K4", "2026-03-05 09:00", "ivr", "auto", "promise_to_pay", 50, "2026-03-09"),
)


def test_right_party_contact_and_ptp_rates() -> None:
    row = contact_rates(CONTACTS).iloc[0]
    # attempts = call/IVR rows x1..x4, x6, x8 = 6 (the visit x5 is no call);
    # RPC = x3, x4, x6, x8 = 4 → 4/6
    assert (row["attempts"], row["right_party_contacts"], row["promises"]) == (6, 4, 2)
    assert row["rpc_rate"] == approx(4 / 6)
    # PTP = promises among RPCs: x4, x8 = 2 of 4 → 0.5 (the visit promise x5 is no call)
    assert row["ptp_rate"] == 0.5
    by = contact_rates(CONTACTS, by=["performed_by"])
    c1 = one(by, performed_by="C1")
    # C1: 3 attempts, 1 RPC (x3) → 1/3; no promises → 0/1 = 0.0
    assert (c1["rpc_rate"], c1["ptp_rate"]) == (approx(1 / 3), 0.0)
    assert set(by["performed_by"]) == {"C1", "C2", "auto"}  # IVR calls are attempts
    assert one(by, performed_by="C2")["attempts"] == 2  # x4, x6; the visit x5 is not


def test_contact_rates_with_no_attempts_are_nan() -> None:
    row = contact_rates(CONTACTS.loc[CONTACTS["channel"] == "sms"]).iloc[0]
    assert row["attempts"] == 0
    assert math.isnan(row["rpc_rate"]) and math.isnan(row["ptp_rate"])


PROMISES = actions(
    # P1: 300 + 200 by the date → 500 of 500: kept
    ("P1", "L1", "K1", "2026-03-01 10:00", "call", "C1", "promise_to_pay", 500, "2026-03-10"),
    # P2: 300 of 500 → partly paid: not kept
    ("P2", "L2", "K2", "2026-03-01 10:00", "call", "C1", "promise_to_pay", 500, "2026-03-10"),
    # P3: 500 paid on Mar 11, a day late: not kept
    ("P3", "L3", "K3", "2026-03-01 10:00", "call", "C2", "promise_to_pay", 500, "2026-03-10"),
    # P4: 500 paid then reversed before the date → net 0: not kept
    ("P4", "L4", "K4", "2026-03-01 10:00", "call", "C2", "promise_to_pay", 500, "2026-03-10"),
    # P5: due after the as-of date: not yet due, left out
    ("P5", "L5", "K5", "2026-03-20 10:00", "call", "C2", "promise_to_pay", 500, "2026-04-05"),
    # P6: 500 paid the day before the promise was made: not toward it, not kept
    ("P6", "L6", "K6", "2026-03-01 10:00", "call", "C2", "promise_to_pay", 500, "2026-03-10"),
)
PROMISE_PAYMENTS = repayments(
    ("q1", "L1", "2026-03-05", 300),
    ("q2", "L1", "2026-03-10 23:59", 200),  # on the promised date: in time
    ("q3", "L2", "2026-03-05", 300),
    ("q4", "L3", "2026-03-11 08:00", 500),
    ("q5", "L4", "2026-03-03", 500),
    ("q6", "L4", "2026-03-08", 500, "q5"),
    ("q7", "L6", "2026-02-28", 500),
)


def test_ptp_kept_rate_partly_paid_late_and_reversed_are_not_kept() -> None:
    detail = promise_outcomes(PROMISES, PROMISE_PAYMENTS, as_of="2026-03-31")
    assert detail.set_index("action_id")["kept"].to_dict() == {
        "P1": True,
        "P2": False,
        "P3": False,
        "P4": False,
        "P6": False,
    }
    row = ptp_kept_rate(PROMISES, PROMISE_PAYMENTS, as_of="2026-03-31").iloc[0]
    # due: P1, P2, P3, P4, P6 = 5; kept: P1 → 1/5 = 0.2
    assert (row["promises_due"], row["promises_kept"]) == (5, 1)
    assert row["ptp_kept_rate"] == approx(0.2)
    # amount: min(paid, promised) = 500 + 300 + 0 + 0 + 0 = 800 of 2,500 → 0.32
    assert row["ptp_kept_amount_rate"] == approx(0.32)
    by = ptp_kept_rate(PROMISES, PROMISE_PAYMENTS, as_of="2026-03-31", by=["performed_by"])
    # C1: P1 kept, P2 not → 0.5; C2: P3, P4, P6 none → 0.0
    assert one(by, performed_by="C1")["ptp_kept_rate"] == 0.5
    assert one(by, performed_by="C2")["ptp_kept_rate"] == 0.0


def test_ptp_kept_rate_with_no_promise_due_is_nan() -> None:
    row = ptp_kept_rate(PROMISES, PROMISE_PAYMENTS, as_of="2026-02-28").iloc[0]
    assert row["promises_due"] == 0 and math.isnan(row["ptp_kept_rate"])


COMPLAINT_ACTIONS = actions(
    ("c1", "L1", "K1", "2026-03-03 10:00", "call", "C1", "complaint"),
    ("c2", "L3", "K3", "2026-03-02 10:00", "call", "C1", "no_answer"),
    ("c3", "L4", "K4", "2026-03-02 11:00", "sms", "C1", "delivered"),
    ("c4", "L1", "K1", "2026-03-04 10:00", "call", "C1", "right_party_contact"),
    ("c5", "L2", "K2", "2026-03-05 10:00", "call", "C2", "refused"),
)
SURVEYS = pd.DataFrame(
    {
        "survey_id": ["s1", "s2", "s3", "s4", "s5"],
        "customer_id": ["K1", "K2", "K9", "K3", "K2"],
        "surveyed_at": pd.to_datetime(
            ["2026-03-03 18:00", "2026-03-10", "2026-03-10", "2026-03-01", "2026-03-11"],
            format="ISO8601",
        ),
        "score": [None, 2, 1, None, 5],
        "complaint": [True, True, True, True, False],
    }
)


def test_complaint_rate_per_thousand_accounts_contacted() -> None:
    complaints = collection_complaints(COMPLAINT_ACTIONS, SURVEYS)
    # c1 (action); s1 is the same customer and day as c1 → once; s2 attributed to K2's
    # last contact before it (c5, C2); s3 K9 was never contacted and s4 K3 complained
    # before any contact → neither is a collection complaint
    assert sorted(complaints["action_id"]) == ["c1", "c5"]
    row = complaint_rate(COMPLAINT_ACTIONS, SURVEYS).iloc[0]
    # accounts contacted: L1, L2, L3, L4 = 4; complaints 2 → 2 / 4 × 1,000 = 500
    assert (row["accounts_contacted"], row["complaints"]) == (4, 2)
    assert row["complaint_rate"] == approx(500.0)
    by = complaint_rate(COMPLAINT_ACTIONS, SURVEYS, by=["performed_by"])
    # C1: L1, L3, L4 → 1 complaint / 3 × 1,000 = 333.3; C2: L2 → 1 / 1 × 1,000
    assert one(by, performed_by="C1")["complaint_rate"] == approx(1000 / 3)
    assert one(by, performed_by="C2")["complaint_rate"] == approx(1000.0)


def test_complaint_rate_without_contacts_is_nan() -> None:
    row = complaint_rate(COMPLAINT_ACTIONS.iloc[:0], SURVEYS).iloc[0]
    assert (row["accounts_contacted"], row["complaints"]) == (0, 0)
    assert math.isnan(row["complaint_rate"])


def test_customer_satisfaction_mean_score_of_customers_in_collection() -> None:
    surveys = pd.DataFrame(
        {"customer_id": ["K1", "K1", "K2", "K3", "K1"], "score": [4, 2, 5, 1, None]}
    )
    # K1 has a mild and a severe loan; K3 is not in collection
    in_collection = pd.DataFrame(
        {"customer_id": ["K1", "K1", "K2"], "tier": ["mild", "severe", "severe"]}
    )
    row = customer_satisfaction(surveys, in_collection).iloc[0]
    # overall: K1 4, 2 and K2 5 (K1's unscored complaint and K3 left out) → 11 / 3
    assert row["surveys"] == 3 and row["mean_score"] == approx(11 / 3)
    by = customer_satisfaction(surveys, in_collection, by=["tier"])
    assert one(by, tier="mild")["mean_score"] == approx(3.0)  # (4 + 2) / 2
    assert one(by, tier="severe")["mean_score"] == approx(11 / 3)  # (4 + 2 + 5) / 3
    empty = customer_satisfaction(surveys.iloc[:0], in_collection).iloc[0]
    assert empty["surveys"] == 0 and math.isnan(empty["mean_score"])


# --- agency ------------------------------------------------------------------------------

PLACEMENTS = pd.DataFrame(
    {
        "loan_id": ["L1", "L2", "L3"],
        "agency_id": ["AG_A", "AG_A", "AG_B"],
        "placed_at": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-02-01"]),
        "recalled_at": pd.to_datetime(["2026-04-01", None, None]),
        "placed_balance": [1000.0, 2000.0, 1000.0],
    }
)
AGENCY_PAYMENTS = repayments(
    ("g1", "L1", "2026-01-10", 300, None, "AG_A"),
    ("g2", "L1", "2026-04-02", 100, None, "AG_A"),  # after the recall: not the agency's
    ("g3", "L2", "2026-02-01", 500),  # paid in the app while placed
    ("g4", "L2", "2026-02-05", 200, None, "AG_A"),
    ("g5", "L2", "2026-02-20", 200, "g4"),  # g4 bounced
    ("g6", "L3", "2026-01-15", 400),  # before L3 was placed
)
AGENCIES = pd.DataFrame({"agency_id": ["AG_A", "AG_B"], "commission_rate": [0.2, 0.3]})


def test_agency_liquidation_rate_and_cost_to_collect() -> None:
    costs = pd.DataFrame({"agency_id": ["AG_A"], "operating_cost": [40.0]})
    out = agency_liquidation(PLACEMENTS, AGENCY_PAYMENTS, AGENCIES, operating_costs=costs)
    a = one(out, agency_id="AG_A")
    # collected while placed: L1 300 + L2 (500 + 200 − 200) = 800 of 3,000 placed
    assert a["collected"] == 800.0
    assert a["liquidation_rate"] == approx(800 / 3000)
    # commissions 0.2 × 800 = 160; cost to collect (40 + 160) / 800 = 0.25
    assert a["commissions"] == approx(160.0)
    assert a["cost_to_collect"] == approx(0.25)
    assert a["paying_rate"] == 1.0  # both placements paid something
    b = one(out, agency_id="AG_B")
    # nothing collected: liquidation 0 / 1,000 = 0; cost 0 / 0 collected → NaN
    assert b["liquidation_rate"] == 0.0
    assert math.isnan(b["cost_to_collect"])


def test_agency_liquidation_counting_only_the_agencys_own_payments() -> None:
    out = agency_liquidation(PLACEMENTS, AGENCY_PAYMENTS, AGENCIES, attribution="agency_id")
    # AG_A's rows only: 300 (g1) + 200 − 200 (g4 and its reversal) = 300 of 3,000 → 0.1
    assert one(out, agency_id="AG_A")["liquidation_rate"] == approx(0.1)


def test_agency_commissions_feed_net_recovery() -> None:
    commissions = agency_commissions(PLACEMENTS, AGENCY_PAYMENTS, AGENCIES)
    # 0.2 × (300 + 500 + 200 − 200) = 160, the reversal taking back its 40
    assert commissions["amount"].sum() == approx(160.0)
    cohort = pd.DataFrame(
        {
            "loan_id": ["L1"],
            "entry_date": pd.to_datetime(["2026-01-01"]),
            "overdue_amount": [1000.0],
        }
    )
    row = recovery_rates(cohort, AGENCY_PAYMENTS, window_days=31, commissions=commissions)
    # L1 repaid 300 in January, commission 60 → (300 − 60) / 1,000 = 0.24
    assert row.loc[0, "net_recovery_rate"] == approx(0.24)


def test_agency_liquidation_of_no_placements() -> None:
    out = agency_liquidation(PLACEMENTS.iloc[:0], AGENCY_PAYMENTS, AGENCIES, by=())
    assert out.loc[0, "placements"] == 0 and math.isnan(out.loc[0, "liquidation_rate"])


# --- portfolio ---------------------------------------------------------------------------


def test_npl_ratio_trend() -> None:
    snapshots = pd.DataFrame(
        {
            "as_of_date": pd.to_datetime(["2026-01-31"] * 3 + ["2026-02-28"] * 3),
            "loan_id": ["L1", "L2", "L3", "L1", "L2", "L4"],
            "is_npl": [True, False, True, True, True, False],
            "outstanding_principal": [100.0, 900.0, 500.0, 100.0, 400.0, 500.0],
            "on_book": [True, True, False, True, True, True],  # L3 is off the book
        }
    )
    out = npl_ratio_trend(snapshots).set_index("as_of_date")
    jan, feb = pd.Timestamp("2026-01-31"), pd.Timestamp("2026-02-28")
    # Jan: NPL 100 of 100 + 900 = 1,000 → 0.1 (count 1 of 2)
    assert out.loc[jan, "npl_ratio"] == approx(0.1)
    assert out.loc[jan, "npl_ratio_count"] == 0.5
    # Feb: NPL 100 + 400 of 1,000 → 0.5, up 0.4 (count 2 of 3)
    assert out.loc[feb, "npl_ratio"] == approx(0.5)
    assert out.loc[feb, "npl_ratio_change"] == approx(0.4)
    assert math.isnan(out.loc[jan, "npl_ratio_change"])
    zero = npl_ratio_trend(snapshots.assign(outstanding_principal=0.0))
    assert zero["npl_ratio"].isna().all()


def test_vintage_curves_are_cumulative_shares_by_month_on_book() -> None:
    loans = pd.DataFrame(
        {
            "loan_id": ["A", "B", "C"],
            "origination_date": pd.to_datetime(["2026-01-05", "2026-01-20", "2026-02-10"]),
            "principal_amount": [1000.0, 3000.0, 2000.0],
        }
    )
    month_ends = ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    snapshots = pd.DataFrame(
        {
            "loan_id": ["A"] * 4 + ["B"] * 4 + ["C"] * 3,
            "as_of_date": pd.to_datetime(month_ends + month_ends + month_ends[1:]),
            # A: 35 DPD in Feb, 95 in Mar, cured in Apr (it still *reached* 30+ and 90+)
            # B: 40 DPD in Apr; C: 31 in Mar, 65 in Apr
            "dpd": [0, 35, 95, 0, 0, 0, 0, 40, 0, 31, 65],
        }
    )
    out = vintage_curves(snapshots, loans)
    curve = out.set_index(["vintage", "threshold_dpd", "months_on_book"])
    # Jan vintage = A 1,000 + B 3,000 = 4,000
    jan30 = curve.loc[("2026-01", 30), "share_balance"].tolist()
    # MOB 0: none; 1: A 1,000/4,000; 2: still A; 3: A + B = 4,000/4,000
    assert jan30 == approx([0.0, 0.25, 0.25, 1.0])
    assert curve.loc[("2026-01", 30), "share_count"].tolist() == approx([0.0, 0.5, 0.5, 1.0])
    # 90+: A from MOB 2 on, even after it cured
    assert curve.loc[("2026-01", 90), "share_balance"].tolist() == approx([0.0, 0.0, 0.25, 0.25])
    # Feb vintage = C: MOB 0 (Feb) 0, MOB 1 (Mar) 31 DPD → 1.0, MOB 2 still 1.0
    assert curve.loc[("2026-02", 30), "share_balance"].tolist() == approx([0.0, 1.0, 1.0])
    assert curve.loc[("2026-02", 90), "share_balance"].tolist() == approx([0.0, 0.0, 0.0])
    assert vintage_curves(snapshots.iloc[:0], loans).empty
    # by product: the Jan vintage split into A (cash) and B (card)
    by = vintage_curves(snapshots, loans.assign(product=["cash", "card", "cash"]), by=["product"])
    card = by.loc[(by["product"] == "card") & (by["threshold_dpd"] == 30)]
    # B alone: 40 DPD first in April = MOB 3 → 0, 0, 0, 1
    assert card["share_balance"].tolist() == approx([0.0, 0.0, 0.0, 1.0])


# --- plan --------------------------------------------------------------------------------


def test_the_packaged_plan_file_holds_the_plans_figures(tmp_path) -> None:
    plan = load_plan()
    assert plan == PlanTargets()
    assert plan.recovery_rate.overall == 0.60
    assert plan.recovery_rate.by_tier == {"mild": 0.70, "severe": 0.40}
    assert (plan.economics.investment, plan.economics.extra_recovery) == (1e6, 5e6)
    assert plan.economics.payback_months == 6
    typo = tmp_path / "plan.yaml"
    typo.write_text("recovery_rate:\n  overal: 0.5\n", encoding="utf-8")
    with pytest.raises(pydantic.ValidationError):
        load_plan(typo)


def test_plan_vs_actual_by_tier() -> None:
    recovery = pd.DataFrame(
        {
            "tier": ["mild", "severe", "extremely_severe"],
            "overdue_at_entry": [1000.0, 1000.0, 2000.0],
            "repaid": [750.0, 300.0, 200.0],
        }
    )
    out = plan_vs_actual(recovery, load_plan()).set_index("segment")
    # overall (750 + 300 + 200) / 4,000 = 0.3125 vs 0.60
    assert out.loc["overall", "actual"] == approx(0.3125)
    assert out.loc["overall", "gap"] == approx(0.3125 - 0.60)
    assert not out.loc["overall", "on_target"]
    # mild 0.75 vs 0.70 → met; severe 0.30 vs 0.40 → gap −0.10
    assert out.loc["mild", "on_target"]
    assert out.loc["severe", "gap"] == approx(-0.10)
    # extremely severe has no target: NA, not False
    assert out.loc["extremely_severe", "on_target"] is pd.NA


def test_incremental_recovery_delta_method_interval() -> None:
    accounts = pd.DataFrame(
        {
            "strategy_arm": ["champion", "champion", "control", "control"],
            "overdue_at_entry": [100.0, 100.0, 100.0, 100.0],
            "repaid": [50.0, 70.0, 20.0, 40.0],
            "recovered": [False, True, False, False],
        }
    )
    row = incremental_recovery(accounts).iloc[0]
    # champion R = 120/200 = 0.6; d = −10, +10; s² = 200/1; Var = 200/(2 × 100²) = 0.01
    # control  R =  60/200 = 0.3; same spread → Var 0.01
    assert (row["rate_a"], row["rate_b"]) == (approx(0.6), approx(0.3))
    assert row["difference"] == approx(0.3)
    # se = √0.02 = 0.141421; 95%: 0.3 ± 1.959964 × 0.141421 = (0.022819, 0.577181)
    assert row["std_error"] == approx(math.sqrt(0.02))
    assert (row["ci_low"], row["ci_high"]) == (approx(0.022819, abs=1e-6), approx(0.577181))
    # extra recovered on champion's 200 overdue: 0.3 × 200 = 60
    assert row["incremental_amount"] == approx(60.0)
    # counts: 1/2 vs 0/2 → 0.5 ± 1.959964 × √(0.25/2) = 0.5 ± 0.692952
    assert row["count_difference"] == 0.5
    assert row["count_ci_high"] == approx(0.5 + 1.959964 * math.sqrt(0.125), abs=1e-6)


def test_incremental_recovery_with_one_account_per_arm_has_no_interval() -> None:
    accounts = pd.DataFrame(
        {
            "strategy_arm": ["champion", "control"],
            "overdue_at_entry": [100.0, 100.0],
            "repaid": [50.0, 20.0],
            "recovered": [False, False],
            "tier": ["mild", "mild"],
        }
    )
    row = incremental_recovery(accounts, by=["tier"]).iloc[0]
    # 0.5 − 0.2 = 0.3, but n − 1 = 0 → variance NaN
    assert row["difference"] == approx(0.3)
    assert math.isnan(row["std_error"]) and math.isnan(row["ci_low"])
    missing = incremental_recovery(accounts.iloc[:1]).iloc[0]  # no control arm at all
    assert missing["accounts_b"] == 0 and math.isnan(missing["difference"])


def test_roi_and_payback() -> None:
    out = roi_payback(1_000_000, [250_000, 40_000], [50_000, 50_000], horizon_months=12)
    # net 200,000 a month → payback 1,000,000 / 200,000 = 5 months
    assert out.loc[0, "payback_months"] == approx(5.0)
    # 12 × 200,000 − 1,000,000 = 1,400,000 → ROI 1.4
    assert out.loc[0, "roi"] == approx(1.4)
    # net −10,000 a month: never pays back → NaN
    assert math.isnan(out.loc[1, "payback_months"])
    assert math.isnan(roi_payback(0, 100, 0).loc[0, "roi"])  # no investment: ROI undefined
    plan = economics_vs_plan(
        load_plan(),
        investment=1_000_000,
        extra_recovery_to_date=3_000_000,
        monthly_extra_recovery=250_000,
        monthly_running_cost=50_000,
    ).set_index("metric")
    assert plan.loc["payback_months", "actual"] == approx(5.0)
    assert plan.loc["payback_months", "on_target"]  # 5 ≤ 6
    assert not plan.loc["extra_recovery", "on_target"]  # 3M < 5M


# --- scorecards --------------------------------------------------------------------------


def test_composite_rank_weights_percentiles_and_treats_missing_as_neutral() -> None:
    frame = pd.DataFrame(
        {
            "performer": ["P1", "P2", "P3"],
            "recovered": [100.0, 300.0, 200.0],
            "complaint_rate": [0.0, 10.0, np.nan],
        }
    )
    weights = ScorecardWeights(weights={"recovered": 1, "complaint_rate": 1})
    out = composite_rank(frame, weights).set_index("performer")
    # recovered pct (higher better): P1 1/3, P2 1, P3 2/3
    # complaint pct (lower better): P1 1, P2 1/2, P3 missing → 0.5
    # composite: P1 (1/3 + 1)/2 = 0.667, P2 (1 + 0.5)/2 = 0.75, P3 (2/3 + 0.5)/2 = 0.583
    assert out["composite"].tolist() == approx([2 / 3, 0.75, 7 / 12])
    assert out["rank"].tolist() == [2, 1, 3]
    assert out["review"].tolist() == ["", "reward", "retrain"]  # top/bottom 20% of 3 = 1
    with pytest.raises(pydantic.ValidationError):
        ScorecardWeights(weights={"recovery": 1})  # typo


SCORE_PAYMENTS = repayments(
    ("r1", "L1", "2026-03-05", 500, None, None, "C1"),
    ("r2", "L2", "2026-03-06", 300, None, None, "C2"),
    ("r3", "L2", "2026-03-07", 300, "r2"),  # bounced: taken back from C2
    ("r4", "L3", "2026-02-20", 200, None, None, "C3"),  # before the period
    ("r5", "L3", "2026-03-10", 100, None, None, "C3"),
    ("r6", "L1", "2026-03-12", 50),  # paid in the app: nobody's
)
SCORE_ACTIONS = actions(
    ("a0", "L2", "K2", "2026-02-25 10:00", "call", "C2", "promise_to_pay", 100, "2026-03-02"),
    ("a1", "L1", "K1", "2026-03-02 10:00", "call", "C1", "promise_to_pay", 500, "2026-03-06"),
    ("a2", "L2", "K2", "2026-03-03 10:00", "call", "C2", "promise_to_pay", 300, "2026-03-08"),
    ("a3", "L3", "K3", "2026-03-04 10:00", "call", "C3", "no_answer"),
    ("a4", "L3", "K3", "2026-03-05 10:00", "call", "C3", "complaint"),
    ("a5", "L1", "K1", "2026-03-01 10:00", "sms", "C1", "delivered"),
)
COLLECTORS = pd.DataFrame({"collector_id": ["C1", "C2", "C3"], "team": ["T1", "T1", "T2"]})
SUPPRESSIONS = pd.DataFrame({"collector_id": ["C1", "C3"], "suppressions": [2, 0]})


def test_collector_scorecard() -> None:
    card = collector_scorecard(
        SCORE_ACTIONS,
        SCORE_PAYMENTS,
        COLLECTORS,
        start="2026-03-01",
        end="2026-04-01",
        suppressions=SUPPRESSIONS,
    ).set_index("collector_id")
    # recovered in March: C1 500; C2 300 − 300 = 0; C3 100 (the Feb 200 is outside)
    assert card["recovered"].tolist() == [500.0, 0.0, 100.0]
    # promises due in March: C1 a1 kept (500 on Mar 5); C2 a0 (made in Feb, nothing
    # paid) and a2 (paid, then reversed) not kept; C3 none → NaN
    assert card.loc["C1", "ptp_kept_rate"] == 1.0
    assert (card.loc["C2", "promises_due"], card.loc["C2", "ptp_kept_rate"]) == (2, 0.0)
    assert math.isnan(card.loc["C3", "ptp_kept_rate"])
    # C3: 2 call attempts, 1 RPC (the complaint) → 0.5; 1 complaint on 1 account → 1,000
    assert card.loc["C3", "rpc_rate"] == 0.5
    assert card.loc["C3", "complaint_rate"] == 1000.0
    # C1: 2 suppressions on 1 account → 2,000 per 1,000
    assert card.loc["C1", "suppression_rate"] == 2000.0
    # composite with the default weights (.40 recovered, .25 PTP kept, .10 RPC,
    # .15 complaints, .10 suppressions) over percentile ranks:
    # C1 .4·1 + .25·1 + .1·5/6 + .15·5/6 + .1·1/3 = 0.891667
    # C2 .4·1/3 + .25·.5 + .1·5/6 + .15·5/6 + .1·5/6 = 0.55
    # C3 .4·2/3 + .25·.5 + .1·1/3 + .15·1/3 + .1·5/6 = 0.558333
    assert card["composite"].tolist() == approx([0.891667, 0.55, 0.558333], abs=1e-6)
    assert card["rank"].tolist() == [1, 3, 2]
    assert card["review"].tolist() == ["reward", "retrain", ""]


def test_team_scorecard_sums_collectors_then_recomputes_rates() -> None:
    card = collector_scorecard(
        SCORE_ACTIONS,
        SCORE_PAYMENTS,
        COLLECTORS,
        start="2026-03-01",
        end="2026-04-01",
        suppressions=SUPPRESSIONS,
        level="team",
    ).set_index("team")
    # T1 = C1 + C2: recovered 500 + 0; promises 1 kept of 3 due → 1/3 (not the mean 0.5)
    assert card.loc["T1", "recovered"] == 500.0
    assert card.loc["T1", "ptp_kept_rate"] == approx(1 / 3)
    # 2 suppressions over 2 accounts contacted → 1,000 per 1,000
    assert card.loc["T1", "suppression_rate"] == 1000.0
    assert card["rank"].tolist() == [1, 2]
    assert card["review"].tolist() == ["", ""]  # too few teams to flag


def test_agency_scorecard_ranks_agencies() -> None:
    liquidation = agency_liquidation(PLACEMENTS, AGENCY_PAYMENTS, AGENCIES)
    contacts = actions(
        ("v1", "L1", "K1", "2026-03-02 10:00", "call", "AG_A", "right_party_contact"),
        ("v2", "L3", "K3", "2026-03-02 10:00", "call", "AG_B", "complaint"),
    )
    card = agency_scorecard(
        liquidation, contacts, AGENCY_PAYMENTS, start="2026-01-01", end="2026-04-01"
    ).set_index("agency_id")
    # default weights .50 liquidation, .20 cost to collect, .15 PTP kept, .15 complaints
    # AG_A: liquidation 0.267 (pct 1), cost 0.2 (the only one → 1), no promises (.5),
    #       0 complaints per account (1) → .5 + .2 + .075 + .15 = 0.925
    # AG_B: liquidation 0 (pct .5), cost NaN (.5), no promises (.5), 1 complaint on its
    #       1 account (.5) → .25 + .1 + .075 + .075 = 0.5
    assert card["composite"].tolist() == approx([0.925, 0.5])
    assert card["rank"].to_dict() == {"AG_A": 1, "AG_B": 2}
    # recovered = repayments whose agency_id is the agency: 300 + 200 − 200 = 300
    assert card.loc["AG_A", "recovered"] == 300.0
    assert card.loc["AG_B", "complaint_rate"] == 1000.0
