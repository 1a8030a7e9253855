"""Reading a twin world's truth over a window: per-loan sums and the day totals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from nplpipeline.contract import ACTION_OUTCOMES
from nplpipeline.report.comparison.outcomes import COMMISSION_RATE, log_decisions, world_outcomes

START = dt.date(2026, 10, 31)


def _day(truth: Path, day: dt.date, repayments: list[tuple], contacts: list[tuple], **totals):
    folder = truth / "days" / day.isoformat()
    folder.mkdir(parents=True)
    pd.DataFrame(repayments, columns=["loan_id", "amount_cents", "agency"]).assign(
        paid_on=day, channel=0, reversal=False
    ).to_parquet(folder / "repayments.parquet")
    pd.DataFrame(contacts, columns=["loan_id", "outcome"]).assign(
        channel="call", agency=-1
    ).to_parquet(folder / "contacts.parquet")
    (folder / "summary.json").write_text(json.dumps({"day": day.isoformat(), **totals}))


def test_window_sums_net_reversals_claw_back_commission_and_count_decisions(tmp_path):
    truth = tmp_path / "truth"
    complaint = ACTION_OUTCOMES.index("complaint")
    rpc = ACTION_OUTCOMES.index("right_party_contact")
    _day(truth, START, [("L1", 99_999, -1)], [])  # the start day itself is outside (S, E]
    _day(truth, START + dt.timedelta(1), [("L1", 10_000, -1), ("L2", 5_000, 1)],
         [("L1", rpc), ("L1", complaint)], complaints=2, surveys=1, satisfaction_sum=4,
         commission=1250.0)  # fmt: skip
    _day(truth, START + dt.timedelta(2), [("L2", -5_000, 1)], [("L3", rpc)],
         complaints=0, surveys=1, satisfaction_sum=2, commission=-1250.0)  # fmt: skip
    log_decisions(tmp_path / "dec", START, {
        "placement": pd.DataFrame({"loan_id": ["L2"]}),
        "worklist": pd.DataFrame({"loan_id": ["L1", "L3"]}),
    })  # fmt: skip
    log_decisions(
        tmp_path / "dec", START + dt.timedelta(1), {"recall": pd.DataFrame({"loan_id": ["L2"]})}
    )
    log_decisions(
        tmp_path / "dec", START + dt.timedelta(2), {"recall": pd.DataFrame({"loan_id": ["L9"]})}
    )

    world = world_outcomes(truth, START, START + dt.timedelta(2), tmp_path / "dec")
    per = world.per_loan.set_index("loan_id")
    assert per.loc["L1", "repaid"] == 100.0  # the start day's 999.99 is not in the window
    assert per.loc["L2", "repaid"] == 0.0  # an agency payment and its reversal
    assert per.loc["L2", "commissions"] == pytest.approx(0.0)  # clawed back
    assert per.loc["L1", "contacts"] == 2 and per.loc["L1", "complaints"] == 1
    assert per.loc["L3", "contacts"] == 1
    assert per.loc["L2", "placements"] == 1 and per.loc["L2", "recalls"] == 1
    assert "L9" not in per.index  # decided on E: its outcome is after the window
    assert world.totals == {"complaints": 2.0, "surveys": 2.0, "survey_score_sum": 6.0}

    one_day = world_outcomes(truth, START, START + dt.timedelta(1), tmp_path / "dec")
    per = one_day.per_loan.set_index("loan_id")
    assert per.loc["L2", "commissions"] == pytest.approx(50.0 * COMMISSION_RATE[1])
    with pytest.raises(FileNotFoundError, match="no truth"):
        world_outcomes(truth, START, START + dt.timedelta(3))
