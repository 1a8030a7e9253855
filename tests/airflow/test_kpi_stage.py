"""The act and KPI stages on a simulated portfolio, on DuckDB and on PostgreSQL.

The KPI marts are checked against figures computed here independently (plain pandas
over the warehouse tables), not by calling the KPI functions again; and a rerun of the
whole day must leave every table as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from simulated_landing import simulate_landing
from warehouse_reads import assert_same_tables, read, read_tables

from nplpipeline.act.arms import uniform_draw
from nplpipeline.config.tiers import assign_tiers
from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.report.marts import tables as marts
from nplpipeline.score.tables import account_scores
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import opened, transaction
from nplpipeline.warehouse.frames import insert_frame
from nplpipeline.warehouse.tables import RAW_TABLES

pytestmark = [pytest.mark.airflow, pytest.mark.slow]  # runs npl_kpis with dag.test

AS_OF = dt.date(2026, 10, 31)
COHORT = dt.date(2026, 7, 31)  # its 90-day recovery window closed on 2026-10-29


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small simulated portfolio, landed once and ingested into each warehouse."""
    root = tmp_path_factory.mktemp("kpi-landing")
    return simulate_landing(root, loans=3000, seed=11, end_date=AS_OF, dirty_share=0.0)


def _read(table: sa.Table, where=None) -> pd.DataFrame:
    return read(sa.select(table) if where is None else sa.select(table).where(where))


def _fake_scores(as_of: dt.date) -> None:
    """Stand in for the model: a fixed pseudo-random probability per account."""
    snap = _read(
        delinquency_snapshot,
        sa.and_(
            delinquency_snapshot.c.as_of_date == as_of,
            delinquency_snapshot.c.on_book,
            delinquency_snapshot.c.dpd > 0,
        ),
    )
    p = 0.05 + 0.9 * uniform_draw(snap["loan_id"], 7)
    scores = pd.DataFrame(
        {
            "as_of_date": as_of,
            "loan_id": snap["loan_id"],
            "customer_id": snap["customer_id"],
            "model_name": "npl_recovery_model",
            "model_version": "1",
            "recovery_probability": p,
            "tier": assign_tiers(snap["dpd"].to_numpy(), p, get_settings().policy.tiering),
            "dpd": snap["dpd"],
            "bucket": snap["bucket"],
            "product": snap["product"],
            "overdue_amount": snap["overdue_amount"],
            "outstanding_principal": snap["outstanding_principal"],
            **{f"reason_{i}": "few payments in the last 90 days" for i in (1, 2, 3)},
            **{f"reason_feature_{i}": "payments_90d" for i in (1, 2, 3)},
        }
    )
    with transaction(get_settings().warehouse_url) as conn:
        conn.execute(account_scores.delete().where(account_scores.c.as_of_date == as_of))
        insert_frame(conn, account_scores, scores)


def _run_day() -> dict:
    from nplpipeline.act.placement.stage import run_placements
    from nplpipeline.act.stage import run_treatment_plan, run_worklists
    from nplpipeline.report.marts.stage import run_kpis

    run_treatment_plan(AS_OF)
    run_placements(AS_OF)
    run_worklists(AS_OF)
    return run_kpis(AS_OF)


MARTS = (
    marts.kpi,
    marts.plan_tracking,
    marts.npl_trend,
    marts.roll_rates,
    marts.vintage_curves,
    marts.agency_scorecard,
    marts.collector_scorecard,
    marts.experiment_uplift,
    marts.roi,
    marts.fact_account_day,
    marts.fact_action,
    marts.dim_loan,
)


def test_kpi_marts_match_independent_figures_and_rerun_identically(
    landing, airflow_db, npl_env, monkeypatch, tmp_path
):
    monkeypatch.setenv("NPL_LANDING_DIR", str(tmp_path / "landing"))
    shutil.copytree(landing, tmp_path / "landing")
    run_ingest(AS_OF)
    for day in (COHORT, AS_OF):
        run_delinquency_snapshot(day)
        _fake_scores(day)
    summary = _run_day()
    json.dumps(summary, allow_nan=False)  # it goes to XCom: strict JSON, no NaN
    assert summary["cohort"] == COHORT.isoformat() and summary["cohort_window_complete"]

    # NPL ratio on the as-of date: the stored snapshot, summed by hand
    snap = _read(delinquency_snapshot, delinquency_snapshot.c.as_of_date == AS_OF)
    book = snap[snap["on_book"]]
    expected_npl = (
        book.loc[book["is_npl"], "outstanding_principal"].sum()
        / book["outstanding_principal"].sum()
    )
    trend = _read(marts.npl_trend).set_index("as_of_date")
    assert trend.loc[pd.Timestamp(AS_OF), "npl_ratio"] == pytest.approx(expected_npl, rel=1e-9)
    assert len(trend) >= 12  # a trailing year of month ends

    # recovery by tier of the July cohort: repayments net of reversals in the 90 days after
    cohort = _read(account_scores, account_scores.c.as_of_date == COHORT)
    pays = _read(RAW_TABLES["repayments"])
    signed = pays.assign(
        amount=np.where(pays["reversal_of"].notna(), -1.0, 1.0) * pays["amount"].astype(float)
    )
    day = pd.to_datetime(signed["paid_at"]).dt.normalize()
    inside = (day > pd.Timestamp(COHORT)) & (day <= pd.Timestamp(COHORT) + pd.Timedelta(days=90))
    repaid = signed[inside].groupby("loan_id")["amount"].sum()
    # recovery of the arrears: at most what was overdue at entry, per account
    cohort["repaid"] = np.minimum(
        cohort["loan_id"].map(repaid).fillna(0.0), cohort["overdue_amount"].astype(float)
    )
    by_tier = cohort.groupby("tier")[["repaid", "overdue_amount"]].sum()
    tracking = _read(marts.plan_tracking).set_index("tier")
    for tier, row in by_tier.iterrows():
        assert tracking.loc[tier, "actual_recovery_rate"] == pytest.approx(
            row["repaid"] / row["overdue_amount"], rel=1e-6
        ), tier
        assert tracking.loc[tier, "accounts"] == (cohort["tier"] == tier).sum()
    assert tracking.loc["mild", "target_recovery_rate"] == pytest.approx(0.70)
    assert tracking.loc["severe", "target_recovery_rate"] == pytest.approx(0.40)
    assert tracking.loc["overall", "actual_recovery_rate"] == pytest.approx(
        cohort["repaid"].sum() / cohort["overdue_amount"].sum(), rel=1e-6
    )

    # every tier, agency and collector has figures
    kpi = _read(marts.kpi)
    tiers_with_recovery = set(
        kpi.loc[(kpi["kpi"] == "recovery_rate") & (kpi["dimension"] == "tier"), "member"]
    )
    assert tiers_with_recovery == {"mild", "severe", "extremely_severe"}
    # contact KPIs by tier and by product add up to the overall figure (each account
    # has one tier today and one product)
    for name in ("right_party_contact_rate", "complaint_rate", "ptp_kept_rate"):
        rows = kpi[kpi["kpi"] == name]
        overall = rows[rows["dimension"] == "overall"].iloc[0]
        for dim in ("tier", "product"):
            part = rows[rows["dimension"] == dim]
            assert len(part) >= 2, (name, dim)
            assert part["numerator"].sum() == pytest.approx(overall["numerator"]), (name, dim)
            assert part["denominator"].sum() == pytest.approx(overall["denominator"]), (name, dim)
    agencies = _read(RAW_TABLES["agencies"])
    assert set(_read(marts.agency_scorecard)["agency_id"]) == set(agencies["agency_id"])
    collectors = _read(RAW_TABLES["collectors"])
    cards = _read(marts.collector_scorecard)
    assert set(cards.loc[cards["level"] == "collector", "member"]) == set(
        collectors["collector_id"]
    )
    teams = cards[cards["level"] == "team"]
    assert len(teams) == collectors["team"].nunique()
    # rank 1 = best composite; equal composites share the better rank
    expected_rank = teams["score"].rank(ascending=False, method="min").astype(int)
    assert teams["rank"].astype(int).tolist() == expected_rank.tolist()
    # the star: one loan row per loan, one account-day per delinquent on-book loan
    assert len(_read(marts.dim_loan)) == len(_read(RAW_TABLES["loans"]))
    assert len(_read(marts.fact_account_day)) == int((book["dpd"] > 0).sum())
    # roll rates: each from-bucket's row of the matrix sums to one where it has balance
    rolls = _read(marts.roll_rates)
    sums = rolls.groupby(["month_end", "from_bucket"])["rate"].sum(min_count=1).dropna()
    assert np.allclose(sums, 1.0)

    # only accounts the plan routes to agencies are placed (an in-house arm never is)
    from nplpipeline.act.placement.tables import agency_placements
    from nplpipeline.act.tables import treatment_plan

    plan = _read(treatment_plan, treatment_plan.c.as_of_date == AS_OF)
    placed = _read(agency_placements)
    assert len(placed) > 0
    assert set(placed["loan_id"]) <= set(plan.loc[plan["agency_route"], "loan_id"])

    before = read_tables(MARTS)
    # the rerun goes through Airflow: the same KPI DAG on this warehouse (DuckDB or
    # PostgreSQL), and it writes the monthly management report
    from airflow.dag_processing.dagbag import DagBag
    from conftest import ROOT

    from nplpipeline.act.placement.stage import run_placements
    from nplpipeline.act.stage import run_treatment_plan, run_worklists

    run_treatment_plan(AS_OF)
    run_placements(AS_OF)
    run_worklists(AS_OF)
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["npl_kpis"]
    logical = dt.datetime.combine(AS_OF, dt.time(), tzinfo=dt.UTC)
    run = dag.test(logical_date=logical, run_conf={"as_of": AS_OF.isoformat(), "report": True})
    assert run.state == "success"
    report = get_settings().home / "reports" / "npl-management-2026-10.html"
    html = report.read_text(encoding="utf-8")
    assert "轻度" in html and "<script" not in html  # self-contained, Chinese labels
    after = read_tables(MARTS)
    assert_same_tables(before, after, check_like=True)

    # the BI views answer from the same marts
    from nplpipeline.report.marts.views import VIEWS

    with opened(get_settings().warehouse_url) as engine, engine.connect() as conn:
        for name in VIEWS:
            rows = conn.execute(sa.text(f"SELECT * FROM {name}")).all()
            assert rows, name
        gaps = dict(conn.execute(sa.text("SELECT tier, gap FROM v_recovery_vs_target")).all())
    assert gaps["mild"] == pytest.approx(
        tracking.loc["mild", "actual_recovery_rate"] - 0.70, abs=1e-9
    )
