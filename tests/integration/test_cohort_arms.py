"""The experiment marts compare randomised arms only: an account whose strategy the
learned policy chose sits in no arm of ``read_cohort``, on both warehouses."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from nplpipeline.act.tables import treatment_plan
from nplpipeline.report.marts.inputs import read_cohort
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import account_scores
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import insert_frame

D = dt.date(2026, 11, 2)
LOANS = ["L1", "L2", "L3", "L4"]
# (policy_arm, nba_policy_version): static; older row; nba before any policy; nba chosen
ARMS = [("static", None), (None, None), ("nba", None), ("nba", "nba-2026-11-01")]


def _rows(table, values: dict) -> pd.DataFrame:
    """``values`` with every other column of ``table`` empty."""
    empty = pd.DataFrame(None, index=range(len(LOANS)), columns=[c.name for c in table.c])
    return empty.assign(**values)


def _scores() -> pd.DataFrame:
    return _rows(account_scores, {
        "as_of_date": D, "loan_id": LOANS, "customer_id": [f"C{i}" for i in range(4)],
        "model_name": "m", "model_version": "1", "recovery_probability": 0.5,
        "tier": "mild", "dpd": 10, "bucket": "M1", "product": "cash",
        "overdue_amount": 100.0, "outstanding_principal": 1000.0,
    })  # fmt: skip


def _plan() -> pd.DataFrame:
    return _rows(treatment_plan, {
        "as_of_date": D, "loan_id": LOANS, "customer_id": [f"C{i}" for i in range(4)],
        "tier": "mild", "strategy_arm": "champion", "strategy_name": "mild_standard",
        "recovery_probability": 0.5, "overdue_amount": 100.0, "expected_recovery": 50.0,
        "legal_ready": False, "agency_route": False, "disposition": "in_house",
        "model_version": "1", "policy_arm": [a for a, _ in ARMS],
        "nba_policy_version": [v for _, v in ARMS],
    })  # fmt: skip


def test_policy_chosen_accounts_have_no_arm(warehouse_url: str) -> None:
    with transaction(warehouse_url) as conn:
        ensure_schema(conn)
        insert_frame(conn, account_scores, _scores())
        insert_frame(conn, treatment_plan, _plan())
        cohort, when, _ = read_cohort(conn, D)
    assert when == D
    arms = cohort.set_index("loan_id")["strategy_arm"]
    assert arms[["L1", "L2", "L3"]].tolist() == ["champion"] * 3
    assert pd.isna(arms["L4"])
