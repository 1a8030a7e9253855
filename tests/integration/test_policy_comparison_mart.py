"""mart_policy_comparison through the schema registry, into the summary, the dashboard
and the monthly report, on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from dashboard_fixtures import fill_warehouse

from nplpipeline.report.comparison.measure import (
    OUTCOME_COLUMNS,
    Window,
    WorldOutcomes,
    measure_policies,
)
from nplpipeline.report.comparison.stage import write_comparison
from nplpipeline.report.comparison.summary import collect_comparison, format_comparison
from nplpipeline.report.dashboard import fmt, write_monthly_report
from nplpipeline.report.dashboard.load import load_dashboard
from nplpipeline.report.dashboard.render import render_dashboard
from nplpipeline.report.kpis.plan import PlanTargets
from nplpipeline.settings import Settings
from nplpipeline.warehouse.engine import transaction

START = dt.date(2026, 10, 1)
AS_OF = dt.date(2026, 10, 31)  # the dashboard fixtures' latest date


def _result() -> pd.DataFrame:
    n = 300
    loans = [f"L{i}" for i in range(n)]
    cohort = pd.DataFrame(
        {"loan_id": loans, "tier": np.where(np.arange(n) % 3, "mild", "severe"),
         "overdue_at_entry": 200.0}
    )  # fmt: skip
    rng = np.random.default_rng(4)
    base = rng.uniform(0, 150, n)

    def world(repaid: np.ndarray, commissions: float, recalls: float) -> WorldOutcomes:
        frame = pd.DataFrame({"loan_id": loans, "repaid": repaid})
        for column in OUTCOME_COLUMNS[1:]:
            frame[column] = 1.0
        frame = frame.assign(commissions=commissions, recalls=recalls, survey_score_sum=4.0)
        return WorldOutcomes(frame)

    worlds = {"pipeline": world(base + 30, 3.0, 1.0), "status_quo": world(base, 1.0, 0.0)}
    return measure_policies(
        cohort, worlds, PlanTargets(), Window(days=30, investment_scale=0.02, replicates=200),
        tiers=("mild", "severe"),
    )  # fmt: skip


@pytest.fixture
def written(warehouse_url: str) -> tuple[str, pd.DataFrame]:
    fill_warehouse(warehouse_url)
    result = _result()
    with transaction(warehouse_url) as conn:
        assert write_comparison(conn, result, START, AS_OF) == len(result)
        # a rerun replaces the date's rows, never duplicates them
        assert write_comparison(conn, result, START, AS_OF) == len(result)
    return warehouse_url, result


def _row(result: pd.DataFrame, segment: str, policy: str) -> pd.Series:
    return result[(result["segment"] == segment) & (result["policy"] == policy)].iloc[0]


def test_summary_prints_both_policies_against_target_and_the_interval(written) -> None:
    url, result = written
    with transaction(url) as conn:
        summary = collect_comparison(conn)
    assert summary.as_of == AS_OF and summary.start == START and summary.days == 30
    assert len(summary.rows) == len(result)
    text = "\n".join(format_comparison(summary))
    inc = _row(result, "mild", "incremental")
    mild = next(line for line in text.splitlines() if line.strip().startswith("mild"))
    assert f"{_row(result, 'mild', 'pipeline')['recovery_rate']:.1%}" in mild
    assert f"{_row(result, 'mild', 'status_quo')['recovery_rate']:.1%}" in mild
    assert "70.0%" in mild  # the plan's mild target
    assert f"{inc['ci_low'] * 100:+.1f} pp" in mild and f"{inc['ci_high'] * 100:+.1f} pp" in mild
    recalls = next(line for line in text.splitlines() if "agency recalls" in line)
    assert recalls.split()[2] == "300"  # pipeline world: one recall per account
    assert "payback" in text


def test_dashboard_and_monthly_report_show_the_comparison(written, tmp_path, monkeypatch) -> None:
    url, result = written
    with transaction(url) as conn:
        dashboard = load_dashboard(conn, AS_OF)
    assert dashboard is not None and dashboard.policy_comparison is not None
    c = dashboard.policy_comparison
    assert c.start_date == START and c.days == 30
    assert c.segments == ("overall", "mild", "severe", "portfolio")
    inc = c.line("overall", "incremental")
    assert inc is not None
    assert inc.recovery_rate == pytest.approx(
        _row(result, "overall", "incremental")["recovery_rate"]
    )
    html = render_dashboard(dashboard)
    assert 'data-section="policy-comparison"' in html
    assert fmt.pp(inc.recovery_rate) in html and fmt.pp(inc.ci_low) in html
    assert 'data-kpi="policy_operations" data-metric="commissions"' in html
    assert dashboard.to_json()["policy_comparison"]["days"] == 30

    monkeypatch.setenv("NPL_WAREHOUSE_URL", url)
    report = write_monthly_report(AS_OF, tmp_path / "report.html", settings=Settings())
    text = report.read_text(encoding="utf-8")
    assert "Pipeline vs status quo" in text and fmt.pp(inc.ci_high) in text
