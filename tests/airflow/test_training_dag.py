"""The training DAG in Airflow: mapped feature builds, a registered champion that loads
safely and scores, and a gate that records its decision on every rerun."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from conftest import ROOT

pytestmark = pytest.mark.airflow

AS_OF = dt.date(2026, 10, 31)
LOGICAL = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_training_dag_registers_promotes_and_gates(airflow_db, npl_env, monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    from nplpipeline.features.stage import load_training_frame
    from nplpipeline.model.registry import CHAMPION, alias_version, client, load_champion
    from nplpipeline.settings import get_settings
    from nplpipeline.warehouse.engine import opened, transaction

    monkeypatch.setenv("NPL_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("NPL_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    dags = DagBag(dag_folder=str(ROOT / "dags")).dags
    sim = {"loans": 4000, "seed": 3, "end_date": AS_OF.isoformat(), "dirty_share": 0.0}
    simulated = dags["npl_simulate_portfolio"].test(logical_date=LOGICAL, run_conf=sim)
    assert simulated.state == "success"
    assert dags["npl_ingest"].test(logical_date=LOGICAL).state == "success"

    # scoring before any model exists fails loudly instead of writing an empty scoring
    day = {"as_of": AS_OF.isoformat()}
    assert dags["npl_score_accounts"].test(logical_date=LOGICAL, run_conf=day).state == "failed"

    conf = {"as_of": AS_OF.isoformat(), "months": 12}
    run = dags["npl_train_model"].test(logical_date=LOGICAL, run_conf=conf)
    assert run.state == "success"
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "build_features"]
    assert len(mapped) == 12 and all(ti.state == "success" for ti in mapped)

    settings = get_settings()
    champion = load_champion(settings.mlflow_tracking_uri)
    assert champion.version == "1"
    with opened(settings.warehouse_url) as engine:
        frame = load_training_frame(engine, dt.date(2025, 8, 31), dt.date(2026, 7, 31))
    scores = champion.score(frame)
    assert len(scores) == len(frame) > 500
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores.std() > 0.05  # it discriminates, not a constant
    # metrics by tier (each model's own tiering), product and bucket are in the run
    run_metrics = (
        client(settings.mlflow_tracking_uri)
        .get_run(
            alias_version(
                client(settings.mlflow_tracking_uri), "npl_recovery_model", CHAMPION
            ).run_id
        )
        .data.metrics
    )
    for segment in ("tier.mild", "tier.extremely_severe", "product.", "bucket."):
        assert any(f".oot.n.{segment}" in k for k in run_metrics), segment

    # a rerun registers a new challenger and records the gate's decision either way
    assert dags["npl_train_model"].test(logical_date=LOGICAL, run_conf=conf).state == "success"
    c = client(settings.mlflow_tracking_uri)
    v2 = c.get_model_version("npl_recovery_model", "2")
    decision_tags = {k: v for k, v in v2.tags.items() if k.startswith("gate")}
    assert decision_tags, v2.tags
    assert alias_version(c, "npl_recovery_model", CHAMPION) is not None

    # monitoring: figures stored for the day; the drift gate fails exactly when one alerts
    import sqlalchemy as sa

    from nplpipeline.model.tables import model_monitoring
    from nplpipeline.warehouse.engine import begin
    from nplpipeline.warehouse.frames import read_frame

    monitoring_run = dags["npl_model_monitoring"].test(
        logical_date=LOGICAL, run_conf={"as_of": AS_OF.isoformat()}
    )
    states = {ti.task_id: ti.state for ti in monitoring_run.get_task_instances()}
    assert states["monitor"] == "success"
    with transaction(settings.warehouse_url) as conn:
        rows = read_frame(conn, sa.select(model_monitoring))
    assert {"score"} <= set(rows["subject"]) and "realised_auc" in set(rows["metric"])
    assert set(rows["as_of_date"].dt.date) == {AS_OF}
    alerting = (rows["status"] == "alert").any()
    assert (states["drift_gate"] == "failed") == alerting, (states, rows)

    # scoring with the champion: every delinquent account, tiered by policy, with reasons
    from nplpipeline.config.tiers import assign_tiers
    from nplpipeline.features.stage import load_features_on
    from nplpipeline.score.tables import account_scores

    assert dags["npl_score_accounts"].test(logical_date=LOGICAL, run_conf=day).state == "success"
    with opened(settings.warehouse_url) as engine:
        with begin(engine) as conn:
            scored = read_frame(conn, sa.select(account_scores))
        population = load_features_on(engine, AS_OF)
    assert set(scored["loan_id"]) == set(population["loan_id"]) and len(scored) > 100
    champion_now = load_champion(settings.mlflow_tracking_uri)
    assert set(scored["model_version"]) == {champion_now.version}
    expected = assign_tiers(
        scored["dpd"].to_numpy(), scored["recovery_probability"].to_numpy(),
        settings.policy.tiering,
    )  # fmt: skip
    assert (scored["tier"].to_numpy() == expected).all()
    assert set(scored["tier"]) == {"mild", "severe", "extremely_severe"}
    assert scored["reason_1"].notna().mean() > 0.9

    # collections in Airflow: plans, placements, worklists, and the CRM push against a
    # stand-in CRM that fails 30% of requests and drops 10% of connections
    from nplpipeline.act.tables import suppression_log, worklist
    from nplpipeline.devtools.crm_server import start_crm_server

    with start_crm_server(fail_rate=0.3, drop_rate=0.1, seed=5) as crm:
        monkeypatch.setenv("NPL_CRM_URL", crm.url)
        monkeypatch.setenv("NPL_CRM_BATCH_SIZE", "25")
        monkeypatch.setenv("NPL_CRM_MAX_ATTEMPTS", "12")
        monkeypatch.setenv("NPL_CRM_BACKOFF_BASE", "0.01")
        collections = dags["npl_collections"].test(logical_date=LOGICAL, run_conf=day)
        assert collections.state == "success", [
            (ti.task_id, ti.state) for ti in collections.get_task_instances()
        ]
        with transaction(settings.warehouse_url) as conn:
            items = read_frame(conn, sa.select(worklist))
            held = read_frame(conn, sa.select(suppression_log))
        assert len(items) > 50 and len(held) > 0
        applied = crm.state.applied_items(AS_OF.isoformat())
        assert sorted(applied) == sorted(items["item_id"])  # every row ...
        assert {entry["count"] for entry in applied.values()} == {1}  # ... exactly once
        assert crm.stats()["duplicate_items"] == 0
        stats = crm.stats()

        # a rerun of the day changes no table and sends the CRM nothing new
        again = dags["npl_collections"].test(logical_date=LOGICAL, run_conf=day)
        assert again.state == "success"
        with transaction(settings.warehouse_url) as conn:
            items_again = read_frame(conn, sa.select(worklist))
        key = ["item_id"]
        pd.testing.assert_frame_equal(
            items.sort_values(key).reset_index(drop=True),
            items_again.sort_values(key).reset_index(drop=True),
        )
        assert crm.stats()["items_applied"] == stats["items_applied"]
        assert crm.stats()["applied_batches"] == stats["applied_batches"]

    # the KPI DAG fills the marts and writes the management report
    from nplpipeline.report.marts.tables import kpi, plan_tracking

    kpis = dags["npl_kpis"].test(logical_date=LOGICAL, run_conf={**day, "report": True})
    assert kpis.state == "success", [(ti.task_id, ti.state) for ti in kpis.get_task_instances()]
    with transaction(settings.warehouse_url) as conn:
        figures = read_frame(conn, sa.select(kpi))
        tracking = read_frame(conn, sa.select(plan_tracking))
    assert {"recovery_rate", "npl_ratio", "right_party_contact_rate"} <= set(figures["kpi"])
    assert {"overall", "mild", "severe", "extremely_severe"} == set(tracking["tier"])
    assert list((settings.home / "reports").glob("npl-management-2026-10.html"))
