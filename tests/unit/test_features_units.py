"""Hand-worked feature and label values on a tiny portfolio (no warehouse needed)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from nplpipeline.config.policy import load_policy
from nplpipeline.features import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    ID_COLUMNS,
    FeatureConfig,
    build_features,
    label_accounts,
)
from nplpipeline.features.calendar import month_ends, previous_month_ends
from nplpipeline.features.schema import output_columns

POLICY = load_policy()
D = dt.date
AS_OF = D(2026, 3, 31)
TS = pd.Timestamp


def loans(*ids: str, status: str = "active", updated: str = "2026-01-01 09:00") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "loan_id": list(ids),
            "customer_id": [f"C-{i}" for i in ids],
            "product": "cash_loan",
            "origination_date": pd.to_datetime(["2026-01-01"] * len(ids)),
            "principal_amount": 300.0,
            "annual_interest_rate": 0.2,
            "term_months": 3,
            "status": status,
            "updated_at": pd.to_datetime([updated] * len(ids)),
        }
    )


def installments(*ids: str) -> pd.DataFrame:
    """Three installments of 100 principal + 10 interest due Feb 1, Mar 1, Apr 1."""
    rows = [
        (i, n, due, 100.0, 10.0, 0.0)
        for i in ids
        for n, due in enumerate(["2026-02-01", "2026-03-01", "2026-04-01"], start=1)
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "loan_id",
            "installment_no",
            "due_date",
            "principal_due",
            "interest_due",
            "fee_due",
        ],
    )
    frame["due_date"] = pd.to_datetime(frame["due_date"])
    return frame


def repayments(*rows: tuple[str, str, str, float, str | None]) -> pd.DataFrame:
    """(repayment_id, loan_id, paid_at, amount, reversal_of)."""
    frame = pd.DataFrame(
        rows, columns=["repayment_id", "loan_id", "paid_at", "amount", "reversal_of"]
    )
    frame["paid_at"] = pd.to_datetime(frame["paid_at"])
    return frame


def actions(*rows: tuple) -> pd.DataFrame:
    """(loan_id, action_at, channel, outcome, ptp_amount, ptp_date)."""
    frame = pd.DataFrame(
        rows, columns=["loan_id", "action_at", "channel", "outcome", "ptp_amount", "ptp_date"]
    )
    frame["action_at"] = pd.to_datetime(frame["action_at"])
    frame["ptp_date"] = pd.to_datetime(frame["ptp_date"])
    frame["ptp_amount"] = frame["ptp_amount"].astype(float)
    return frame


def customers(*ids: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"C-{i}" for i in ids],
            "birth_date": pd.to_datetime(["1990-06-15"] * len(ids)),
            "province": "广东省",
            "monthly_income": 6000.0,
            "employment_type": "salaried",
            "updated_at": pd.to_datetime(["2026-01-01"] * len(ids)),
        }
    )


def worked_example() -> dict[str, pd.DataFrame]:
    """Loan L1, 30 DPD on 2026-03-31 (see the expected values in the test)."""
    return {
        "loans": loans("L1"),
        "installments": installments("L1"),
        "repayments": repayments(
            ("P1", "L1", "2026-02-01 10:00", 110.0, None),
            ("P2", "L1", "2026-03-05 10:00", 50.0, None),
            ("P3", "L1", "2026-03-10 10:00", 60.0, None),
            ("R3", "L1", "2026-03-12 10:00", 60.0, "P3"),  # bounced before the as-of date
            ("R2", "L1", "2026-04-05 10:00", 50.0, "P2"),  # bounced after it: P2 still counts
        ),
        "collection_actions": actions(
            ("L1", "2026-03-02 10:00", "call", "promise_to_pay", 60.0, "2026-03-10"),  # broken
            ("L1", "2026-03-15 10:00", "call", "right_party_contact", None, None),
            ("L1", "2026-03-20 10:00", "call", "no_answer", None, None),
            ("L1", "2026-03-25 10:00", "call", "promise_to_pay", 60.0, "2026-04-03"),  # open
            ("L1", "2026-03-26 10:00", "sms", "delivered", None, None),  # not an attempt
            ("L1", "2026-03-28 10:00", "agency", "complaint", None, None),
            ("L1", "2026-04-02 10:00", "call", "complaint", None, None),  # after as-of
        ),
        "customers": customers("L1"),
    }


def test_worked_example_feature_values() -> None:
    frame = build_features(worked_example(), [AS_OF], POLICY, FeatureConfig())
    assert list(frame.columns) == [*ID_COLUMNS, *FEATURE_COLUMNS]
    assert len(frame) == 1
    row = frame.iloc[0]
    expected = {
        "loan_id": "L1",
        "customer_id": "C-L1",
        "dpd": 30,  # installment 2 (due Mar 1) is 60 short
        "bucket": "M1",
        "dpd_lag_1m": 0.0,  # Feb 28: installment 1 paid on time
        "dpd_lag_2m": 0.0,  # Jan 31: nothing due yet
        "roll_forward_6m": 1,  # current -> M1
        "roll_back_6m": 0,
        "months_delinquent_6m": 0,
        "max_dpd_6m": 0,
        "overdue_principal": 60.0,  # 50 net paid on installment 2 settles interest 10, principal 40
        "overdue_interest": 0.0,
        "overdue_amount": 60.0,
        "installments_overdue": 1,
        "outstanding_principal": 160.0,
        "principal_amount": 300.0,
        "total_paid": 160.0,
        "payment_count_30d": 1,  # P2 only: P3 was reversed by the as-of date
        "payment_amount_30d": 50.0,
        "payment_count_90d": 2,
        "payment_amount_90d": 160.0,
        "days_since_last_payment": 26.0,  # P2 on Mar 5
        "months_on_book": 2,
        "term_months": 3,
        "attempts_30d": 5,  # calls and the agency contact, not the SMS
        "rpc_30d": 4,  # two promises, the RPC and the complaint
        "ptp_30d": 2,
        "broken_ptp_30d": 1,  # promised 60 by Mar 10, only 50 stands
        "complaints_30d": 1,  # the Apr 2 complaint is after the as-of date
        "open_ptp_amount": 60.0,
        "days_since_last_rpc": 3.0,
        "age_band": "30-40",
        "income_band": "5000-8000",
        "employment_type": "salaried",
        "province": "广东省",
        "product": "cash_loan",
    }
    wrong = {k: (row[k], v) for k, v in expected.items() if row[k] != v}
    assert not wrong, wrong
    assert np.isnan(row["dpd_lag_3m"])  # Dec 31, 2025: not yet originated
    assert row["paid_share_of_due"] == pytest.approx(160 / 220)


def test_dtypes_are_stable_and_categories_fixed() -> None:
    frame = build_features(worked_example(), [AS_OF, D(2026, 4, 30)], POLICY, FeatureConfig())
    empty = build_features(worked_example(), [D(2026, 1, 31)], POLICY, FeatureConfig())
    assert empty.empty
    assert list(frame.dtypes.astype(str)) == list(empty.dtypes.astype(str))
    for column in CATEGORICAL_FEATURES:
        assert isinstance(frame[column].dtype, pd.CategoricalDtype), column
    assert list(frame["bucket"].cat.categories) == POLICY.delinquency.bucket_names
    assert frame["as_of_date"].dtype == "datetime64[s]"


def test_loan_status_changed_after_as_of_still_counts_on_book() -> None:
    """A later write-off must not drop the account from an earlier date's population,
    while a loan written off by the as-of date is excluded."""
    frames = worked_example()
    later = dict(frames, loans=loans("L1", status="written_off", updated="2026-05-02 08:00"))
    before = dict(frames, loans=loans("L1", status="written_off", updated="2026-03-20 08:00"))
    assert len(build_features(later, [AS_OF], POLICY)) == 1
    assert len(build_features(before, [AS_OF], POLICY)) == 0


LABEL_CASES = {
    # loan: (repayments after the as-of date, expected label)
    "share_exact": ([("2026-04-10 10:00", 30.0, None)], True),  # 30 = 0.5 x 60 overdue
    "share_short": ([("2026-04-10 10:00", 29.99, None)], False),
    "cure_on_due_day": ([("2026-04-01 10:00", 60.0, None)], True),
    "cured_then_reversed": (
        [("2026-04-01 10:00", 60.0, None), ("2026-04-03 10:00", 60.0, 0)],
        True,
    ),
    "reversed_same_day": (
        [("2026-04-10 10:00", 100.0, None), ("2026-04-10 18:00", 100.0, 0)],
        False,
    ),
    "after_horizon": ([("2026-06-30 10:00", 500.0, None)], False),  # horizon ends Jun 29
    "last_horizon_day": ([("2026-06-29 23:00", 500.0, None)], True),
}


def label_portfolio() -> dict[str, pd.DataFrame]:
    ids = list(LABEL_CASES)
    rows: list[tuple] = []
    for i in ids:  # each loan: 60 overdue on the as-of date, like L1 without the bounces
        rows += [
            (f"{i}-1", i, "2026-02-01 10:00", 110.0, None),
            (f"{i}-2", i, "2026-03-05 10:00", 50.0, None),
        ]
        for k, (paid_at, amount, reverses) in enumerate(LABEL_CASES[i][0]):
            target = None if reverses is None else f"{i}-a{reverses}"
            rows.append((f"{i}-a{k}", i, paid_at, amount, target))
    return {
        "loans": loans(*ids),
        "installments": installments(*ids),
        "repayments": repayments(*rows),
    }


def test_label_cases() -> None:
    frames = label_portfolio()
    feats = build_features(frames, [AS_OF], POLICY)
    assert (feats["overdue_amount"] == 60.0).all() and len(feats) == len(LABEL_CASES)
    labels = label_accounts(
        feats, frames, FeatureConfig(), policy=POLICY, data_date=D(2026, 12, 31)
    )
    got = dict(zip(feats["loan_id"], labels.astype(bool), strict=True))
    assert got == {k: v[1] for k, v in LABEL_CASES.items()}


def test_label_is_na_until_the_horizon_is_in_the_data() -> None:
    frames = label_portfolio()
    feats = build_features(frames, [AS_OF], POLICY)
    cfg = FeatureConfig()
    just_short = label_accounts(feats, frames, cfg, policy=POLICY, data_date=D(2026, 6, 28))
    just_in = label_accounts(feats, frames, cfg, policy=POLICY, data_date=D(2026, 6, 29))
    assert just_short.isna().all()
    assert just_in.notna().all()
    assert str(just_in.dtype) == "boolean"
    # Inferred from the data: the latest payment here is Jun 30, so the window is over.
    assert label_accounts(feats, frames, cfg, policy=POLICY).notna().all()
    shorter = FeatureConfig(horizon_days=120)
    assert label_accounts(feats, frames, shorter, policy=POLICY).isna().all()


def test_recovery_share_is_configurable() -> None:
    frames = label_portfolio()
    feats = build_features(frames, [AS_OF], POLICY)
    strict = FeatureConfig(recovery_share=1.0)
    labels = label_accounts(feats, frames, strict, policy=POLICY, data_date=D(2026, 12, 31))
    got = dict(zip(feats["loan_id"], labels.astype(bool), strict=True))
    assert not got["share_exact"]  # 30 of 60 is no longer enough
    assert got["cure_on_due_day"]


def test_month_end_calendar() -> None:
    assert month_ends("2025-11-15", "2026-03-31") == [
        D(2025, 11, 30), D(2025, 12, 31), D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31),
    ]  # fmt: skip
    assert month_ends("2026-02-01", "2026-02-27") == []
    assert previous_month_ends(D(2024, 3, 31), 2) == [D(2024, 2, 29), D(2024, 1, 31)]
    assert previous_month_ends(D(2024, 3, 15), 1) == [D(2024, 2, 29)]


def test_config_validation_and_columns_follow_windows() -> None:
    with pytest.raises(ValidationError):
        FeatureConfig(income_band_edges=(5000, 3000))
    with pytest.raises(ValidationError):
        FeatureConfig(attempt_channels=("carrier_pigeon",))
    with pytest.raises(ValidationError):
        FeatureConfig(horizon_days=0)
    cols = output_columns(FeatureConfig(payment_windows_days=(7,), contact_windows_days=(14,)))
    assert "payment_amount_7d" in cols and "rpc_14d" in cols and "payment_amount_30d" not in cols
