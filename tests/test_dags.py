"""DAG integrity: every file imports in Airflow's own DagBag, with the conventions we keep."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert len(DAG_FILES) >= 3
    files_with_dags = {Path(d.fileloc).name for d in dagbag.dags.values()}
    assert files_with_dags == {f.name for f in DAG_FILES}


def test_dags_declare_tags_owner_retries_and_docs(dagbag) -> None:
    for dag in dagbag.dags.values():
        assert "npl" in dag.tags, dag.dag_id
        assert dag.doc_md and len(dag.doc_md) > 80, dag.dag_id
        for task in dag.tasks:
            assert task.owner == "collections-data", (dag.dag_id, task.task_id)
            assert task.retries is not None, (dag.dag_id, task.task_id)
        assert not getattr(dag, "catchup", False), dag.dag_id


def test_production_dags_retry(dagbag) -> None:
    for dag_id in ("npl_ingest", "npl_delinquency"):
        assert all(t.retries >= 1 for t in dagbag.dags[dag_id].tasks), dag_id


def test_ingest_loads_parents_before_children(dagbag) -> None:
    dag = dagbag.dags["npl_ingest"]
    upstream = {t.task_id: t.get_flat_relative_ids(upstream=True) for t in dag.tasks}
    assert "load_customers" in upstream["load_loans"]
    for child in ("load_installments", "load_repayments", "load_collection_actions"):
        assert "load_loans" in upstream[child]
    assert "load_customers" in upstream["load_satisfaction"]


def test_delinquency_runs_on_fresh_ingest_assets(dagbag) -> None:
    from nplpipeline.orchestration.assets import RAW_ASSETS

    ingest = dagbag.dags["npl_ingest"]
    produced = {a.uri for t in ingest.tasks for a in t.outlets}
    assert produced == {a.uri for a in RAW_ASSETS.values()}
    condition = dagbag.dags["npl_delinquency"].timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"  # waits for all three, not any one
    consumed = {a.uri for a in condition.objects}
    assert consumed == {RAW_ASSETS[e].uri for e in ("loans", "installments", "repayments")}


def test_collections_and_kpis_follow_scoring(dagbag) -> None:
    from nplpipeline.orchestration.assets import ACCOUNT_SCORES, WORKLISTS

    collections = dagbag.dags["npl_collections"]
    assert collections.timetable.asset_condition.uri == ACCOUNT_SCORES.uri
    upstream = {t.task_id: t.get_flat_relative_ids(upstream=True) for t in collections.tasks}
    # placements come before worklists: an account an agency works gets no in-house call
    assert "place_with_agencies" in upstream["build_worklists"]
    assert {"plan_treatments", "place_with_agencies", "build_worklists"} <= upstream[
        "deliver_to_crm"
    ]
    crm = collections.get_task("deliver_to_crm")
    assert crm.retries >= 3 and crm.retry_exponential_backoff
    assert dagbag.dags["npl_kpis"].timetable.asset_condition.uri == WORKLISTS.uri


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_do_no_top_level_work(path: Path) -> None:
    """Only imports, constants, functions and the DAG call at module level: the scheduler
    parses these files every few seconds, so pandas/SQL imports belong inside tasks."""
    tree = ast.parse(path.read_text())
    heavy = {"pandas", "numpy", "sqlalchemy", "mlflow", "sklearn", "great_expectations"}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            assert (module or "").split(".")[0] not in heavy, f"{path.name}: imports {module}"
            assert not (module or "").startswith(
                ("nplpipeline.ingest", "nplpipeline.delinquency", "nplpipeline.simulate")
            ), f"{path.name}: stage module imported at parse time: {module}"
        elif isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant | ast.Call), path.name
        else:
            assert isinstance(node, ast.FunctionDef | ast.Assign | ast.AnnAssign), (
                f"{path.name}: unexpected top-level {type(node).__name__}"
            )


def test_dags_serialize_for_the_dag_processor(dagbag) -> None:
    """The DAG processor ships parsed DAGs over msgpack; an exotic type (e.g. a str
    subclass) passes DagBag in-process but breaks parsing in a real deployment."""
    import msgspec
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        msgspec.msgpack.encode(DagSerialization.to_dict(dag))
