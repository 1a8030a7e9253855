"""Point-in-time truth, on DuckDB and PostgreSQL.

Drops are replayed day by day as the daily runs would have seen them; then every
derived table is dropped and the same days are backfilled from the full raw data.
The backfill must reproduce the daily runs row for row; rerunning an older day must
leave newer days unchanged; a policy change after a day must leave that day's KPIs
unchanged; ``fact_action`` and ``mart_kpi`` must give the same right-party-contact rate.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from simulated_landing import simulate_landing
from warehouse_reads import assert_same_tables, read, read_tables

from nplpipeline.act.arms import uniform_draw
from nplpipeline.act.placement.tables import agency_commissions, agency_placements
from nplpipeline.act.stage import run_treatment_plan, run_worklists
from nplpipeline.config.tiers import assign_tiers
from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.features.schema import LABEL_COLUMN, LABEL_DATA_DATE_COLUMN
from nplpipeline.features.stage import run_build_features
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.report.marts import tables as marts
from nplpipeline.report.marts.stage import run_kpis
from nplpipeline.schema import register_all
from nplpipeline.score.tables import account_scores
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import insert_frame

END = dt.date(2026, 10, 31)
DAYS = [END - dt.timedelta(days=n) for n in (2, 1, 0)]  # the last N = 3 days
COHORT = END - dt.timedelta(days=95)  # a scored cohort whose 90-day window has closed
KEEP_PREFIXES = ("raw_", "ops_")  # source data and load bookkeeping survive a backfill
KEEP_TABLES = {agency_placements.name, agency_commissions.name}  # placements run forward
UNSTABLE_COLUMNS = {LABEL_COLUMN, LABEL_DATA_DATE_COLUMN}  # labels fill in as data arrives


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pit-landing")
    return simulate_landing(root, loans=800, seed=23, end_date=END, dirty_share=0.0)


def _fake_scores(as_of: dt.date) -> None:
    """Stand in for the model: a fixed pseudo-random probability per delinquent account."""
    d = delinquency_snapshot.c
    snap = read(sa.select(delinquency_snapshot).where(d.as_of_date == as_of, d.on_book, d.dpd > 0))
    p = 0.05 + 0.9 * uniform_draw(snap["loan_id"], 3)
    scores = snap[["loan_id", "customer_id", "dpd", "bucket", "product", "overdue_amount",
                   "outstanding_principal"]].assign(
        as_of_date=as_of, model_name="m", model_version="1", recovery_probability=p,
        tier=assign_tiers(snap["dpd"].to_numpy(), p, get_settings().policy.tiering),
        **{f"reason_{i}": "r" for i in (1, 2, 3)},
        **{f"reason_feature_{i}": "f" for i in (1, 2, 3)},
    )  # fmt: skip
    with transaction(get_settings().warehouse_url) as conn:
        conn.execute(account_scores.delete().where(account_scores.c.as_of_date == as_of))
        insert_frame(conn, account_scores, scores)


def _run_day(day: dt.date) -> None:
    """One day of the pipeline after ingest (placements run forward only: see README)."""
    run_delinquency_snapshot(day)
    run_build_features([day])
    _fake_scores(day)
    run_treatment_plan(day)
    run_worklists(day)
    run_kpis(day)


def _derived_tables() -> list[sa.Table]:
    tables = register_all().sorted_tables
    return [t for t in tables if not t.name.startswith(KEEP_PREFIXES) and t.name not in KEEP_TABLES]


def _state() -> dict[str, pd.DataFrame]:
    """Every derived table, sorted by its key (labels left out: they fill in later)."""
    return read_tables(_derived_tables(), leave_out=UNSTABLE_COLUMNS)


def _wipe_derived() -> None:
    with transaction(get_settings().warehouse_url) as conn:
        for table in reversed(_derived_tables()):
            conn.execute(table.delete())


@pytest.fixture
def replayed(landing: Path, npl_env: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Daily runs as they happened: each day ingests only the drops dated up to it."""
    shutil.copytree(landing, npl_env["NPL_LANDING_DIR"])
    run_ingest(COHORT)
    run_delinquency_snapshot(COHORT)
    _fake_scores(COHORT)
    run_treatment_plan(COHORT)
    for day in DAYS:
        run_ingest(day)
        _run_day(day)
    return _state()


def test_backfill_reproduces_the_daily_runs_and_reruns_change_nothing_later(
    replayed: dict[str, pd.DataFrame],
) -> None:
    assert len(replayed[marts.kpi.name]) > 0 and len(replayed[marts.fact_action.name]) > 0
    assert len(replayed[marts.experiment_uplift.name]) > 0  # the cohort's recorded arms

    # rerunning an older day leaves every newer day (and the whole warehouse) unchanged
    _run_day(DAYS[0])
    assert_same_tables(_state(), replayed, check_dtype=False)

    # backfill from the full raw data: drop everything derived, rerun the days in order
    _wipe_derived()
    run_delinquency_snapshot(COHORT)
    _fake_scores(COHORT)
    run_treatment_plan(COHORT)
    for day in DAYS:
        _run_day(day)
    assert_same_tables(_state(), replayed, check_dtype=False)


def test_policy_change_after_a_day_leaves_its_kpis_unchanged(
    replayed: dict[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = get_settings().policy_file.read_text(encoding="utf-8")
    changed = default.replace(
        "champion:   {strategy: mild_standard, share: 0.8}",
        "champion:   {strategy: mild_standard, share: 0.4}",
    ).replace(
        "control:    {strategy: no_extra_action, share: 0.1}",
        "control:    {strategy: no_extra_action, share: 0.5}",
    )
    assert changed != default
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(changed, encoding="utf-8")
    monkeypatch.setenv("NPL_POLICY_FILE", str(policy_file))
    run_kpis(END)
    after = _state()
    for table in (marts.kpi, marts.experiment_uplift, marts.plan_tracking, marts.roi):
        pd.testing.assert_frame_equal(
            after[table.name], replayed[table.name], check_dtype=False, obj=table.name
        )


def test_fact_action_and_mart_kpi_give_the_same_right_party_contact_rate(
    replayed: dict[str, pd.DataFrame],
) -> None:
    facts = replayed[marts.fact_action.name]
    month = facts[
        (pd.to_datetime(facts["action_date"]) >= pd.Timestamp(END).replace(day=1))
        & (pd.to_datetime(facts["action_date"]) <= pd.Timestamp(END))
    ]
    products = replayed[marts.dim_loan.name].set_index("loan_id")["product"]
    month = month.assign(product=month["loan_id"].map(products).fillna("unknown"))
    kpi = replayed[marts.kpi.name]
    rpc = kpi[(kpi["kpi"] == "right_party_contact_rate") & (kpi["as_of_date"] == pd.Timestamp(END))]
    overall = rpc[rpc["dimension"] == "overall"].iloc[0]
    assert month["is_call_attempt"].sum() > 0 and month["is_right_party"].sum() > 0
    assert overall["denominator"] == month["is_call_attempt"].sum()
    assert overall["numerator"] == month["is_right_party"].sum()
    assert overall["value"] == pytest.approx(
        month["is_right_party"].sum() / month["is_call_attempt"].sum()
    )
    by_product = month.groupby("product")[["is_right_party", "is_call_attempt"]].sum()
    for row in rpc[rpc["dimension"] == "product"].itertuples():
        assert row.numerator == by_product.loc[row.member, "is_right_party"], row.member
        assert row.denominator == by_product.loc[row.member, "is_call_attempt"], row.member
