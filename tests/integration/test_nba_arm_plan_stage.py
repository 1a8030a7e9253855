"""The nba arm through the real plan stage on DuckDB (issue #15): with no policy its
accounts get their base arm's static strategy; with one trained by D the policy's choice
builds their plan rows in the same write; a later training does not change a rerun of
D; and the training table keeps only the randomised decisions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from raw_rows import insert_raw
from threadpoolctl import threadpool_limits

from nplpipeline.act.stage import run_treatment_plan
from nplpipeline.act.tables import experiment_arms, treatment_plan
from nplpipeline.features.schema import NUMERIC_FEATURES
from nplpipeline.features.tables import int_features
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import account_scores
from nplpipeline.settings import get_settings
from nplpipeline.uplift.config import DEFAULT_UPLIFT_POLICY_FILE, load_uplift_policy
from nplpipeline.uplift.evaluate import as_of_version, fit
from nplpipeline.uplift.stage import run_nba_decisions, uplift_dir, with_features
from nplpipeline.uplift.tables import nba_decisions
from nplpipeline.uplift.training import build_training_table
from nplpipeline.uplift.treatments import classify, propensities
from nplpipeline.uplift.versions import VersionRecord, keep_version
from nplpipeline.warehouse.engine import opened, transaction
from nplpipeline.warehouse.frames import insert_frame, read_frame

D1 = dt.date(2026, 3, 10)
N = 360


def _policy(tmp_path, monkeypatch):
    spec = yaml.safe_load(DEFAULT_UPLIFT_POLICY_FILE.read_text())
    spec.update(horizon_days=2, decision_every_days=1, min_rows_per_treatment=10)
    spec["arm"]["share"] = 0.5
    path = tmp_path / "uplift.yaml"
    path.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("NPL_UPLIFT_POLICY", str(path))
    return load_uplift_policy()


def _seed(url: str) -> None:
    rng = np.random.default_rng(5)
    tier = np.resize(["mild", "severe", "extremely_severe"], N)
    dpd = np.where(tier == "mild", rng.integers(1, 29, N), rng.integers(31, 200, N))
    ids = [f"L{i:04d}" for i in range(N)]
    custs = [f"C{i:04d}" for i in range(N)]
    scores = pd.DataFrame({
        "as_of_date": D1, "loan_id": ids, "customer_id": custs, "tier": tier, "dpd": dpd,
        "recovery_probability": rng.uniform(0.05, 0.9, N), "overdue_amount": 1000.0,
        "outstanding_principal": rng.choice([2000.0, 60_000.0], N), "model_version": "7",
        "model_name": "npl", "bucket": "M1", "product": "cash_loan", "reason_1": "r",
        "reason_2": None, "reason_3": None, "reason_feature_1": "f", "reason_feature_2": None,
        "reason_feature_3": None,
    })  # fmt: skip
    feats = pd.DataFrame({c: rng.integers(0, 9, N) for c in NUMERIC_FEATURES})
    feats = feats.assign(as_of_date=D1, loan_id=ids, customer_id=custs, dpd=dpd)
    feats = feats.reindex(columns=[c.name for c in int_features.columns])  # others NULL
    with transaction(url) as conn:
        ensure_schema(conn)
        rows = [{"customer_id": c, "monthly_income": 9000.0} for c in custs]
        insert_raw(conn, "customers", rows, drop_date=pd.Timestamp(D1))
        insert_frame(conn, account_scores, scores)
        after = dt.datetime.combine(D1 + dt.timedelta(days=1), dt.time(11))
        pays = [{"repayment_id": f"P{i}", "loan_id": ids[i], "paid_at": after, "amount": 50.0}
                for i in range(0, N, 4)]  # fmt: skip
        calls = [{"action_id": f"A{i}", "loan_id": ids[i], "customer_id": custs[i],
                  "action_at": after, "channel": "call", "performed_by": "E1",
                  "outcome": "no_answer", "recorded": True} for i in range(0, N, 3)]  # fmt: skip
        day = pd.Timestamp(D1 + dt.timedelta(days=1))
        insert_raw(conn, "repayments", pays, drop_date=day)
        insert_raw(conn, "collection_actions", calls, drop_date=day)
        insert_frame(conn, int_features, feats)


def _read(url: str) -> dict[str, pd.DataFrame]:
    with opened(url) as engine, engine.connect() as conn:
        out = {
            t.name: read_frame(conn, sa.select(t)).sort_values("loan_id").reset_index(drop=True)
            for t in (treatment_plan, nba_decisions, experiment_arms)
        }
    return out


def _train(url: str, trained_as_of: dt.date, uplift, seed: int) -> str:
    """A policy fitted on D1's logged arms with made-up outcomes, kept as trained on
    ``trained_as_of`` (what ``run_uplift_training`` keeps, without the twin's days)."""
    settings = get_settings()
    with opened(url) as engine, engine.connect() as conn:
        plan = read_frame(conn, sa.select(treatment_plan).where(treatment_plan.c.as_of_date == D1))
        rows = with_features(conn, D1, plan.assign(assigned_tier=plan["tier"]))
    treatment, prob = propensities(rows, settings.policy.strategies, uplift)
    rows = rows.assign(treatment=treatment.to_numpy(), as_of_date=pd.Timestamp(D1))
    for name in prob.columns:
        rows[f"p_{name}"] = prob[name].to_numpy()
    rng = np.random.default_rng(seed)
    bonus = {"call": 30.0, "visit": 20.0}
    effect = rows["treatment"].map(bonus).fillna(0.0) * rows["recovery_probability"]
    rows["net_recovery"] = effect + rng.normal(0, 5, len(rows))
    version = as_of_version(uplift, trained_as_of)
    learned = fit(rows, uplift, version)
    record = VersionRecord(version, trained_as_of, "r", False, {})
    keep_version(uplift_dir(settings), learned, record)
    return version


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_nba_arm_through_the_plan_stage(tmp_path, monkeypatch, npl_env, warehouse_url):
    with threadpool_limits(1):  # the boosting's threads thrash on a shared, small machine
        _nba_arm_through_the_plan_stage(tmp_path, monkeypatch, warehouse_url)


def _nba_arm_through_the_plan_stage(tmp_path, monkeypatch, warehouse_url) -> None:
    uplift = _policy(tmp_path, monkeypatch)
    _seed(warehouse_url)
    first = run_treatment_plan(D1)
    before = _read(warehouse_url)
    plan = before["act_treatment_plan"]
    nba = (plan["policy_arm"] == "nba").to_numpy()
    assert first["by_policy_arm"]["nba"] == nba.sum() and 0.35 < nba.mean() < 0.65
    assert plan["nba_policy_version"].isna().all() and before["act_nba_decisions"].empty
    arms = before["act_experiment_arms"].set_index("loan_id")
    assert (arms.loc[plan["loan_id"], "policy_arm"].to_numpy() == plan["policy_arm"]).all()

    v1 = _train(warehouse_url, D1 - dt.timedelta(days=10), uplift, seed=1)
    summary = run_treatment_plan(D1)
    got = _read(warehouse_url)
    plan, dec = got["act_treatment_plan"], got["act_nba_decisions"]
    assert summary["nba_policy_version"] == v1 and len(dec) == nba.sum()
    assert (plan.loc[nba, "nba_policy_version"] == v1).all()
    assert plan.loc[~nba, "nba_policy_version"].isna().all()
    # the static arm's rows and every account's base arm are untouched
    cols = ["strategy_arm", "strategy_name", "planned_channels", "offer_type", "disposition"]
    static = before["act_treatment_plan"]
    pd.testing.assert_frame_equal(plan.loc[~nba, cols], static.loc[~nba, cols])
    assert (plan["strategy_arm"] == static["strategy_arm"]).all()
    # the plan executes the decision: its strategy, and a step planning that treatment
    mine = plan[nba].merge(dec, on="loan_id", suffixes=("", "_d"))
    assert (mine["strategy_name"] == mine["nba_strategy"]).all()
    frame = mine.assign(dpd=mine["loan_id"].map(_dpd(warehouse_url)))
    planned = classify(mine["strategy_name"], frame, get_settings().policy.strategies, uplift)
    assert (planned.to_numpy() == mine["nba_treatment"].to_numpy()).all()
    assert (mine["strategy_name"] != static.loc[nba, "strategy_name"].to_numpy()).any()
    assert dec["nba_explore"].any() and (~dec["nba_explore"]).any()

    # a later training does not change a rerun of D1; the CLI's recompute agrees
    v2 = _train(warehouse_url, D1 + dt.timedelta(days=5), uplift, seed=2)
    assert v2 != v1
    run_treatment_plan(D1)
    again = _read(warehouse_url)
    for name, frame in got.items():
        pd.testing.assert_frame_equal(frame, again[name], check_like=True)
    run_nba_decisions(D1, uplift=uplift)
    recomputed = _read(warehouse_url)["act_nba_decisions"]
    pd.testing.assert_frame_equal(recomputed, dec, check_like=True)

    # training on D1 + 3 (horizon 2 closed): chosen rows out, explore rows in
    with opened(warehouse_url) as engine, engine.connect() as conn:
        table = build_training_table(
            conn, D1 + dt.timedelta(days=3), get_settings().policy.strategies, uplift
        )
    chosen = set(dec.loc[~dec["nba_explore"].astype(bool), "loan_id"])
    explored = set(dec.loc[dec["nba_explore"].astype(bool), "loan_id"])
    assert set(table["loan_id"]) == set(plan.loc[~nba, "loan_id"]) | explored
    assert not set(table["loan_id"]) & chosen
    assert (table["propensity"] > 0).all()


def _dpd(url: str) -> dict[str, int]:
    with opened(url) as engine, engine.connect() as conn:
        s = read_frame(conn, sa.select(account_scores.c.loan_id, account_scores.c.dpd))
    return dict(zip(s["loan_id"], s["dpd"], strict=True))
