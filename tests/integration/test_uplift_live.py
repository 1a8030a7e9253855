"""Next-best-action over a short live run (issue #15): the training table holds only
the logged arms with their known propensities and net outcomes read back independently,
a rebuild on the same date gives the same bytes, training logs to MLflow without ids,
and the learned policy's decisions stay inside the arms' support.

DuckDB only: a live run costs minutes (cf. ``test_live_days``). A 2-day horizon and a
daily cadence stand in for the shipped 30 days and weekly cadence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from live_world import live_world, run_days

from nplpipeline.uplift.config import DEFAULT_UPLIFT_POLICY_FILE, load_uplift_policy

DAYS = 7


def _short_policy(tmp_path, monkeypatch):
    spec = yaml.safe_load(DEFAULT_UPLIFT_POLICY_FILE.read_text())
    spec.update(horizon_days=2, decision_every_days=1, min_rows_per_treatment=20,
                bootstrap_samples=20)  # fmt: skip
    spec["gate"].update(out_of_time_days=1, min_out_of_time_rows=10)
    path = tmp_path / "uplift.yaml"
    path.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("NPL_UPLIFT_POLICY", str(path))
    return load_uplift_policy()


def _independent_net(url: str, rows: pd.DataFrame, costs: dict[str, float], h: int) -> pd.Series:
    """Net recovery per row recomputed in SQL from the raw tables."""
    import duckdb

    con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
    try:
        pays = con.sql(
            "select loan_id, cast(paid_at as date) d, "
            "case when reversal_of is null or reversal_of = '' then amount else -amount end a "
            "from raw_repayments"
        ).df()
        acts = con.sql(
            "select loan_id, cast(action_at as date) d, channel, performed_by "
            "from raw_collection_actions where coalesce(performed_by, '') not in "
            "(select agency_id from raw_agencies)"
        ).df()
        comm = con.sql("select loan_id, paid_on d, commission from act_agency_commissions").df()
    finally:
        con.close()
    acts["a"] = acts["channel"].map(costs).fillna(0.0)
    out = []
    for d, loan in zip(rows["as_of_date"], rows["loan_id"], strict=True):
        key = (loan, pd.Timestamp(d), pd.Timestamp(d) + pd.Timedelta(days=h))
        net = _window(pays, "a", *key) - _window(acts, "a", *key)
        out.append(net - _window(comm, "commission", *key))
    return pd.Series(out, index=rows.index)


def _window(f: pd.DataFrame, col: str, loan: str, lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    days = pd.to_datetime(f["d"])
    return float(f.loc[(f["loan_id"] == loan) & (days > lo) & (days <= hi), col].sum())


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_uplift_over_live_days(tmp_path, monkeypatch, warehouse_url):
    from nplpipeline.settings import get_settings
    from nplpipeline.uplift.stage import run_nba_decisions, run_uplift_training
    from nplpipeline.uplift.training import build_training_table
    from nplpipeline.warehouse.engine import transaction

    uplift = _short_policy(tmp_path, monkeypatch)
    with live_world(tmp_path, monkeypatch, warehouse_url, loans=1200) as world:
        run_days(world, DAYS)
        last = world.days[-1]
        settings = get_settings()
        with transaction(settings.warehouse_url) as conn:
            rows = build_training_table(conn, last, settings.policy.strategies, uplift)
            again = build_training_table(conn, last, settings.policy.strategies, uplift)
            earlier = build_training_table(
                conn, last - dt.timedelta(days=1), settings.policy.strategies, uplift
            )
        summary = run_uplift_training(last, uplift=uplift)
        decided = run_nba_decisions(last, challenger=True, uplift=uplift)

    # only decisions whose horizon (and the next day's drop) closed by the as-of date
    dates = sorted(pd.to_datetime(rows["as_of_date"]).dt.date.unique())
    assert dates and max(dates) <= last - dt.timedelta(days=3)
    assert max(pd.to_datetime(earlier["as_of_date"]).dt.date) < max(dates)
    pd.testing.assert_frame_equal(rows, again)
    # one row per account and date; treatments and propensities as the arms define them
    assert not rows.duplicated(["as_of_date", "loan_id"]).any()
    p_cols = [c for c in rows.columns if c.startswith("p_")]
    assert np.allclose(rows[p_cols].sum(axis=1), 1.0)
    assert (rows["propensity"] > 0).all()
    assert set(rows["treatment"]) <= set(uplift.treatment_names)
    assert {"call", "no_extra_action"} <= set(rows["treatment"])
    # outcomes: repaid - contact cost - commissions, recomputed independently
    sample = rows.sample(min(len(rows), 150), random_state=0)
    expected = _independent_net(world.url, sample, uplift.contact_cost, uplift.horizon_days)
    assert np.allclose(sample["net_recovery"], expected, atol=0.011)
    assert rows["contact_cost"].gt(0).any() and rows["repaid"].gt(0).any()

    assert summary["train_rows"] > 0 and summary["oot_rows"] > 0
    assert summary["policy_version"].startswith("nba-")
    assert decided["decisions"] > 0
    assert 0.1 < decided["explore_share"] < 0.3
    _check_mlflow(settings, summary, set(rows["loan_id"].astype(str)))
    _check_decisions(world.url, last)


def _check_decisions(url: str, day: dt.date) -> None:
    import duckdb

    con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
    try:
        got = con.sql(f"select * from act_nba_decisions where as_of_date = '{day}'").df()
        planned = con.sql(
            f"select count(*) from act_treatment_plan where as_of_date = '{day}' "
            "and policy_arm = 'nba'"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert len(got) == planned > 0  # every planned account of the nba arm has a decision
    assert got["nba_strategy"].notna().all()  # and a strategy of its tier executes it
    severe = got[got["tier"] == "extremely_severe"]
    assert set(severe["nba_treatment"]) <= {"agency", "visit", "no_extra_action"}
    exploit = got[~got["nba_explore"].astype(bool)]
    assert (exploit["nba_uplift"].dropna() >= -0.005).all()  # never worse than static
    assert got["nba_reason_1"].notna().any()


def _check_mlflow(settings, summary, loan_ids: set[str]) -> None:
    from nplpipeline.model import registry

    run = registry.client(settings.mlflow_tracking_uri).get_run(summary["run_id"])
    assert run.data.params["policy_version"] == summary["policy_version"]
    assert "dr_gain_vs_static" in run.data.metrics and "ips_static" in run.data.metrics
    logged = {*run.data.params.values(), *run.data.params, *run.data.metrics, *run.data.tags}
    assert not logged & loan_ids  # no PII or ids in MLflow
