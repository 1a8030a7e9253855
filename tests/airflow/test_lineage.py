"""OpenLineage: one day's chain through Airflow, events captured by the file transport.

Every task reports what it read and wrote: warehouse tables with their schema and the
rows of the as-of partition, landing drops with file counts, outbox bundles with their
files and rows, and the MLflow model version it trained or used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

CHAIN = (
    "npl_simulate_portfolio",
    "npl_ingest",
    "npl_delinquency",
    "npl_train_model",
    "npl_score_accounts",
    "npl_model_monitoring",
    "npl_collections",
    "npl_kpis",
)


@pytest.fixture(scope="module")
def events(airflow_db, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """COMPLETE events by task, from one run of the chain on an embedded warehouse."""
    root = tmp_path_factory.mktemp("lineage")
    log = root / "events.jsonl"
    env = {
        **os.environ,
        "NPL_HOME": str(root / "var"),
        "NPL_WAREHOUSE_URL": f"duckdb:///{root / 'warehouse.duckdb'}",
        "NPL_LANDING_DIR": str(root / "landing"),
        "NPL_GROUND_TRUTH_DIR": str(root / "truth"),
        "NPL_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "NPL_MLFLOW_ARTIFACT_ROOT": str(root / "artifacts"),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "nplpipeline-test",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(log), "append": True}
        ),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "lineage_chain.py"), *CHAIN],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    states = json.loads(done.stdout.split("STATES ", 1)[1].splitlines()[0])
    by_task: dict[str, dict] = defaultdict(dict)
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event.get("eventType") == "COMPLETE" and "." in event["job"]["name"]:
            dag_id, task_id = event["job"]["name"].split(".", 1)
            by_task[dag_id][task_id] = event
    return {"states": states, "tasks": by_task}


def _names(datasets: list[dict]) -> set[str]:
    return {d["name"].rsplit("/", 1)[-1].rsplit(".", 1)[-1] for d in datasets}


def _dataset(event: dict, side: str, short_name: str) -> dict:
    (found,) = [d for d in event[side] if d["name"].rsplit(".", 1)[-1] == short_name]
    return found


def test_the_chain_ran(events) -> None:
    states = events["states"]
    for dag_id in CHAIN:
        failed = {t for t, s in states[dag_id].items() if s != "success"}
        assert failed <= {"drift_gate"}, (dag_id, failed)  # an alert is the gate's job


def test_ingest_reads_landing_drops_and_writes_raw_tables(events) -> None:
    load = events["tasks"]["npl_ingest"]["load_loans"]
    (drops,) = load["inputs"]
    assert drops["namespace"] == "file" and drops["name"].endswith("/landing/loans")
    stats = drops["inputFacets"]["inputStatistics"]
    assert stats["fileCount"] > 0 and stats["rowCount"] > 0
    raw = _dataset(load, "outputs", "raw_loans")
    assert raw["namespace"].startswith("duckdb://")
    assert {"loan_id", "principal_amount"} <= {f["name"] for f in raw["facets"]["schema"]["fields"]}
    assert raw["outputFacets"]["outputStatistics"]["rowCount"] == 1200
    simulate = events["tasks"]["npl_simulate_portfolio"]["simulate"]
    assert "loans" in _names(simulate["outputs"]) and len(simulate["outputs"]) == 8


def test_partitioned_tables_carry_their_as_of_partition(events) -> None:
    snapshot = events["tasks"]["npl_delinquency"]["snapshot"]
    assert _names(snapshot["inputs"]) == {"raw_loans", "raw_installments", "raw_repayments"}
    out = _dataset(snapshot, "outputs", "int_delinquency_snapshot")
    assert out["facets"]["version"]["datasetVersion"] == "2026-10-31"
    assert out["outputFacets"]["outputStatistics"]["rowCount"] > 0
    features = [
        e for t, e in events["tasks"]["npl_train_model"].items() if t.startswith("build_features")
    ] or [events["tasks"]["npl_train_model"]["build_features"]]
    versions = {
        _dataset(e, "outputs", "int_features")["facets"]["version"]["datasetVersion"]
        for e in features
    }
    assert all(v.endswith(("-30", "-31", "-28", "-29")) for v in versions)


def test_model_version_flows_from_training_to_scoring(events) -> None:
    train = events["tasks"]["npl_train_model"]["train_register_promote"]
    (model,) = train["outputs"]
    assert model["name"] == "registered_models/npl_recovery_model"
    version = model["facets"]["version"]["datasetVersion"]
    score = events["tasks"]["npl_score_accounts"]["score"]
    used = [d for d in score["inputs"] if d["name"] == model["name"]]
    assert used and used[0]["facets"]["version"]["datasetVersion"] == version
    scores = _dataset(score, "outputs", "int_account_scores")
    assert scores["outputFacets"]["outputStatistics"]["rowCount"] > 0


def test_act_steps_report_tables_and_outbox_bundles(events) -> None:
    tasks = events["tasks"]["npl_collections"]
    assert "int_account_scores" in _names(tasks["plan_treatments"]["inputs"])
    assert "act_treatment_plan" in _names(tasks["plan_treatments"]["outputs"])
    assert "act_worklist" in _names(tasks["build_worklists"]["outputs"])
    crm = next(d for d in tasks["deliver_to_crm"]["outputs"] if d["name"].endswith("/crm"))
    stats = crm["outputFacets"]["outputStatistics"]
    worklist = _dataset(tasks["deliver_to_crm"], "inputs", "act_worklist")
    assert stats["fileCount"] >= 2 and stats["size"] > 0
    assert stats["rowCount"] == worklist["inputFacets"]["inputStatistics"]["rowCount"]
    agencies = next(
        d for d in tasks["place_with_agencies"]["outputs"] if d["name"].endswith("/agencies")
    )
    assert agencies["outputFacets"]["outputStatistics"]["fileCount"] >= 2
    kpis = events["tasks"]["npl_kpis"]["build_kpis"]
    assert "act_worklist" in _names(kpis["inputs"]) and "mart_kpi" in _names(kpis["outputs"])
