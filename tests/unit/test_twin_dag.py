"""The twin's DAG: wiring only, triggered by the day's CRM delivery and agency placements."""

from __future__ import annotations

from conftest import ROOT


def test_twin_dag_runs_after_crm_delivery_and_placements() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from nplpipeline.orchestration.assets import AGENCY_PLACEMENTS, CRM_DELIVERY

    bag = DagBag(dag_folder=str(ROOT / "dags" / "npl_lender_twin.py"))
    assert bag.import_errors == {}
    dag = bag.dags["npl_lender_twin"]
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"  # both, not either
    assert {a.uri for a in condition.objects} == {CRM_DELIVERY.uri, AGENCY_PLACEMENTS.uri}
    assert "twin" in dag.tags
    assert [t.task_id for t in dag.tasks] == ["step_twin"]
    assert dag.params.get_param("policy").value == "pipeline"
