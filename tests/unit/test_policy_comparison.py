"""The shared measurement of the pipeline's policy against the status quo (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nplpipeline.report.comparison.measure import (
    OUTCOME_COLUMNS,
    Window,
    WorldOutcomes,
    measure_policies,
    paired_interval,
)
from nplpipeline.report.kpis.plan import PlanTargets


def _outcomes(loans: list[str], repaid: list[float], **extra: list[float]) -> WorldOutcomes:
    frame = pd.DataFrame({"loan_id": loans, "repaid": repaid})
    for column in OUTCOME_COLUMNS:
        if column != "repaid":
            frame[column] = extra.get(column, [0.0] * len(loans))
    return WorldOutcomes(frame)


def _cohort(n: int = 200) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "loan_id": [f"L{i}" for i in range(n)],
            "tier": ["mild" if i % 2 else "severe" for i in range(n)],
            "overdue_at_entry": 100.0,
        }
    )


def _by(result: pd.DataFrame, segment: str, policy: str) -> pd.Series:
    rows = result[(result["segment"] == segment) & (result["policy"] == policy)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_recovery_is_capped_paired_and_measured_against_the_plans_targets() -> None:
    cohort = _cohort()
    loans = cohort["loan_id"].tolist()
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 100, len(loans))
    # the pipeline's world repays 20 more per account; one account repays far beyond
    pipeline = _outcomes(loans, list(base + 20), contacts=[2.0] * len(loans))
    pipeline.per_loan.loc[0, "repaid"] = 10_000.0
    status_quo = _outcomes(loans, list(base), contacts=[1.0] * len(loans))
    result = measure_policies(
        cohort, {"pipeline": pipeline, "status_quo": status_quo}, PlanTargets(),
        Window(days=30, replicates=400), tiers=("mild", "severe"),
    )  # fmt: skip
    assert list(result["segment"].unique()) == ["overall", "mild", "severe", "portfolio"]
    p, s = _by(result, "overall", "pipeline"), _by(result, "overall", "status_quo")
    capped = np.minimum(np.r_[10_000.0, base[1:] + 20], 100.0).sum()
    assert p["repaid"] == pytest.approx(capped)
    assert p["recovery_rate"] == pytest.approx(capped / 20_000)
    assert s["recovery_rate"] == pytest.approx(base.sum() / 20_000)
    assert p["target_recovery_rate"] == 0.60
    assert _by(result, "mild", "status_quo")["target_recovery_rate"] == 0.70
    assert _by(result, "severe", "pipeline")["gap"] == pytest.approx(
        _by(result, "severe", "pipeline")["recovery_rate"] - 0.40
    )
    inc = _by(result, "overall", "incremental")
    assert inc["recovery_rate"] == pytest.approx(p["recovery_rate"] - s["recovery_rate"])
    assert inc["ci_low"] < inc["recovery_rate"] < inc["ci_high"]
    assert inc["ci_low"] > 0  # a consistent +20 per account is far outside the noise
    assert inc["contacts"] == len(loans)


def test_paired_interval_is_tight_when_the_difference_is_the_same_for_everyone() -> None:
    x = np.full(500, 100.0)
    b = np.random.default_rng(2).uniform(0, 50, 500)
    lo, hi = paired_interval(x, b + 10, b, Window(days=1, replicates=200))
    assert lo == pytest.approx(0.10) and hi == pytest.approx(0.10)
    # unpaired noise of the same size widens it
    a = np.random.default_rng(3).uniform(0, 50, 500) + 10
    lo, hi = paired_interval(x, a, b, Window(days=1, replicates=200))
    assert hi - lo > 0.02


def test_operations_and_economics_cover_the_whole_portfolio() -> None:
    cohort = _cohort(10)
    loans = [*cohort["loan_id"], "NEW1"]  # NEW1 fell into arrears after the start date
    n = len(loans)
    pipeline = _outcomes(
        loans, [50.0] * n, commissions=[5.0] * n, complaints=[1.0] + [0.0] * (n - 1),
        surveys=[1.0] * n, survey_score_sum=[4.0] * n, recalls=[1.0] * n,
    )  # fmt: skip
    status_quo = _outcomes(
        loans, [40.0] * n, commissions=[2.0] * n, surveys=[1.0] * n,
        survey_score_sum=[3.0] * n, placements=[1.0] * n,
    )  # fmt: skip
    plan = PlanTargets()
    result = measure_policies(
        cohort, {"pipeline": pipeline, "status_quo": status_quo}, plan,
        Window(days=61, investment_scale=0.02, replicates=100),
    )  # fmt: skip
    port = _by(result, "portfolio", "pipeline")
    assert port["accounts"] == n and port["commissions"] == 5.0 * n
    assert port["satisfaction"] == 4.0 and port["recalls"] == n
    assert _by(result, "overall", "pipeline")["complaints"] == 1.0
    inc = _by(result, "portfolio", "incremental")
    assert inc["net_recovered"] == pytest.approx((45.0 - 38.0) * n)
    monthly = (45.0 - 38.0) * n / (61 / 30.4375)
    assert inc["monthly_net_benefit"] == pytest.approx(monthly)
    assert inc["investment"] == pytest.approx(20_000.0)
    assert inc["payback_months"] == pytest.approx(20_000.0 / monthly)
    assert inc["roi"] == pytest.approx((monthly * 6 - 20_000.0) / 20_000.0)
    assert inc["satisfaction"] == pytest.approx(1.0)


def test_a_world_that_never_pays_back_has_no_payback() -> None:
    cohort = _cohort(4)
    loans = cohort["loan_id"].tolist()
    result = measure_policies(
        cohort, {"pipeline": _outcomes(loans, [0.0] * 4),
                 "status_quo": _outcomes(loans, [10.0] * 4)},
        PlanTargets(), Window(days=10, replicates=50),
    )  # fmt: skip
    assert np.isnan(_by(result, "portfolio", "incremental")["payback_months"])
    with pytest.raises(ValueError, match="status_quo"):
        measure_policies(cohort, {"pipeline": _outcomes(loans, [0.0] * 4)}, PlanTargets(),
                         Window(days=1))  # fmt: skip


def test_measures_known_only_in_total_are_unknown_per_segment_but_counted_overall() -> None:
    cohort = _cohort(6)
    loans = cohort["loan_id"].tolist()
    frame = pd.DataFrame({"loan_id": loans, "repaid": 10.0, "contacts": 1.0})
    worlds = {
        "pipeline": WorldOutcomes(frame, totals={"complaints": 3, "surveys": 2,
                                                 "survey_score_sum": 7}),
        "status_quo": WorldOutcomes(frame, totals={"complaints": 1, "surveys": 0,
                                                   "survey_score_sum": 0}),
    }  # fmt: skip
    result = measure_policies(cohort, worlds, PlanTargets(), Window(days=5, replicates=20))
    assert np.isnan(_by(result, "overall", "pipeline")["complaints"])
    assert _by(result, "overall", "pipeline")["contacts"] == 6
    port = _by(result, "portfolio", "pipeline")
    assert port["complaints"] == 3 and port["satisfaction"] == 3.5
    assert np.isnan(_by(result, "portfolio", "status_quo")["satisfaction"])  # no survey
    assert _by(result, "portfolio", "incremental")["complaints"] == 2
