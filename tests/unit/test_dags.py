"""DAG integrity: every file imports in Airflow's own DagBag, with the conventions we keep."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
DAG_IDS = sorted(f.stem for f in DAG_FILES)  # one DAG per file, named like the file
HEAVY_MODULES = {"pandas", "numpy", "sqlalchemy", "mlflow", "sklearn", "great_expectations"}
# The gate that only reports (a drift alert) must not retry; everything else retries.
NO_RETRY_TASKS = {
    ("npl_model_monitoring", "drift_gate"),
    ("npl_ingest", "wait_for_drop"),  # its timeout is the whole wait; a retry would restart it
}
NO_RETRY_DAGS = {"npl_simulate_portfolio"}  # a seeded simulation: nothing transient to wait out


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    files_with_dags = {Path(d.fileloc).name for d in dagbag.dags.values()}
    assert files_with_dags == {f.name for f in DAG_FILES}
    assert sorted(dagbag.dags) == DAG_IDS


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_has_no_import_error(dagbag, path: Path) -> None:
    assert str(path) not in dagbag.import_errors
    assert path.stem in dagbag.dags


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_has_tags_docs_and_no_catchup(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert "npl" in dag.tags and len(dag.tags) >= 2, dag.tags  # npl + its stage
    assert dag.doc_md and len(dag.doc_md) > 80
    assert dag.catchup is False


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_task_has_the_owner_and_retries(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    for task in dag.tasks:
        assert task.owner == "collections-data", task.task_id
        if dag_id in NO_RETRY_DAGS or (dag_id, task.task_id) in NO_RETRY_TASKS:
            assert task.retries == 0, task.task_id
        else:
            assert task.retries >= 2, task.task_id


@pytest.mark.parametrize("dag_id", sorted(set(DAG_IDS) - NO_RETRY_DAGS))
def test_dated_dags_take_an_as_of_param(dagbag, dag_id: str) -> None:
    param = dagbag.dags[dag_id].params.get_param("as_of")
    assert param.value is None and "date" in str(param.schema.get("format"))


def test_a_task_keeps_its_own_arguments_over_the_dags_defaults(dagbag) -> None:
    crm = dagbag.dags["npl_collections"].get_task("deliver_to_crm")
    assert crm.retries == 5 and crm.retry_exponential_backoff
    assert dagbag.dags["npl_collections"].get_task("plan_treatments").retries == 2


def test_ingest_loads_parents_before_children(dagbag) -> None:
    dag = dagbag.dags["npl_ingest"]
    upstream = {t.task_id: t.get_flat_relative_ids(upstream=True) for t in dag.tasks}
    assert "load_customers" in upstream["load_loans"]
    for child in ("load_installments", "load_repayments", "load_collection_actions"):
        assert "load_loans" in upstream[child]
    assert "load_customers" in upstream["load_satisfaction"]


def test_ingest_waits_for_the_days_drop_and_fails_visibly(dagbag) -> None:
    dag = dagbag.dags["npl_ingest"]
    sensor = dag.get_task("wait_for_drop")
    assert sensor.mode == "reschedule" and not sensor.soft_fail
    assert 0 < sensor.poke_interval < sensor.timeout
    loads = {t.task_id for t in dag.tasks if t.task_id.startswith("load_")}
    assert loads <= sensor.get_flat_relative_ids(upstream=False)
    # the run's state follows its leaves: one of them fails whenever a load did not succeed
    gate = dag.get_task("day_loaded")
    assert not gate.downstream_task_ids and gate.trigger_rule == "all_success"
    assert loads <= gate.get_flat_relative_ids(upstream=True)


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
    # the uplift learners are refitted before the plan reads the policy selected as of D
    assert "train_uplift" in upstream["plan_treatments"]
    assert "train_uplift" in upstream["deliver_to_crm"]
    assert {"plan_treatments", "place_with_agencies", "build_worklists"} <= upstream[
        "deliver_to_crm"
    ]
    assert dagbag.dags["npl_kpis"].timetable.asset_condition.uri == WORKLISTS.uri


def _condition_uris(condition: object) -> set[str]:
    """The asset URIs a schedule's condition names (an asset, or all/any of several)."""
    objects = getattr(condition, "objects", None)
    if objects is not None:
        return set().union(*(_condition_uris(o) for o in objects))
    uri = getattr(condition, "uri", None)
    return {uri} if uri else set()


def _upstream_dags(dagbag, dag_id: str) -> set[str]:
    """Every DAG whose outlet assets lead, through asset schedules, to ``dag_id``'s runs."""
    producers: dict[str, set[str]] = {}
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            for asset in task.outlets:
                producers.setdefault(asset.uri, set()).add(dag.dag_id)
    seen: set[str] = set()
    todo = [dag_id]
    while todo:
        condition = getattr(dagbag.dags[todo.pop()].timetable, "asset_condition", None)
        for uri in _condition_uris(condition):
            for producer in producers.get(uri, set()) - seen:
                seen.add(producer)
                todo.append(producer)
    return seen


def test_monitoring_runs_after_scoring_not_beside_it(dagbag) -> None:
    """Monitoring reuses the day's features scoring stamped: on scoring's own trigger it
    would rebuild the whole book's features and race scoring's writes of the same shards."""
    from nplpipeline.orchestration.assets import ACCOUNT_SCORES, FEATURES, RECOVERY_MODEL

    monitoring = dagbag.dags["npl_model_monitoring"]
    condition = _condition_uris(monitoring.timetable.asset_condition)
    assert condition == {ACCOUNT_SCORES.uri}
    scoring = _condition_uris(dagbag.dags["npl_score_accounts"].timetable.asset_condition)
    assert not condition & scoring  # not a sibling started by the same event
    assert "npl_score_accounts" in _upstream_dags(dagbag, "npl_model_monitoring")
    assert "npl_model_monitoring" not in _upstream_dags(dagbag, "npl_score_accounts")
    inlets = {a.uri for a in monitoring.get_task("monitor").inlets}
    assert inlets == {RECOVERY_MODEL.uri, ACCOUNT_SCORES.uri, FEATURES.uri}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_do_no_top_level_work(path: Path) -> None:
    """Only imports, constants, functions and the DAG call at module level: the scheduler
    parses these files every few seconds, so pandas/SQL imports belong inside tasks."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            assert (module or "").split(".")[0] not in HEAVY_MODULES, f"imports {module}"
            allowed = ("__future__", "datetime", "airflow.sdk", "nplpipeline.orchestration")
            assert (module or "").startswith(allowed), f"{path.name}: imports {module}"
            assert module != "nplpipeline.orchestration.lineage_facets"
        elif isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant | ast.Call), path.name
        else:
            assert isinstance(node, ast.FunctionDef | ast.Assign | ast.AnnAssign), (
                f"{path.name}: unexpected top-level {type(node).__name__}"
            )


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_a_dag_file_loads_no_heavy_module(path: Path) -> None:
    """Import the file in a fresh interpreter: what it pulls in transitively counts too."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in set(sys.argv[2:]))))"
    )
    heavy = sorted(HEAVY_MODULES - {"sqlalchemy"})  # importing airflow.sdk loads SQLAlchemy
    done = subprocess.run(
        [sys.executable, "-c", probe, str(path), *heavy],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    assert done.stdout.strip() == "", f"{path.name} loads {done.stdout.strip()}"


def test_dags_use_the_factory_not_their_own_boilerplate() -> None:
    for path in DAG_FILES:
        text = path.read_text()
        assert "@npl_dag(" in text, path.name
        for repeated in ("default_args", "start_date", "AirflowFailException", "@dag", "@task"):
            assert repeated not in text, f"{path.name} repeats {repeated}"


def test_dags_serialize_for_the_dag_processor(dagbag) -> None:
    """The DAG processor ships parsed DAGs over msgpack; an exotic type (e.g. a str
    subclass) passes DagBag in-process but breaks parsing in a real deployment."""
    import msgspec
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        msgspec.msgpack.encode(DagSerialization.to_dict(dag))
