"""
### NPL model monitoring

Runs after each delinquency snapshot: scores today's delinquent accounts with the
`champion`, compares score and key-feature distributions with the champion's training
sample (PSI: < 0.1 stable, 0.1-0.25 watch, > 0.25 shift) and measures realised AUC on
the latest month-end whose 90-day labels have matured. Results go to
`ops_model_monitoring`; `drift_gate` fails, visibly, when anything is in alert, so the
run shows red in the grid while the figures are already stored.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from nplpipeline.orchestration.assets import DELINQUENCY_SNAPSHOT, RECOVERY_MODEL
from nplpipeline.orchestration.defaults import START_DATE, default_args


@dag(
    dag_id="npl_model_monitoring",
    schedule=DELINQUENCY_SNAPSHOT,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["npl", "model", "monitoring"],
    doc_md=__doc__,
    params={"as_of": Param(None, type=["null", "string"], format="date")},
)
def npl_model_monitoring() -> None:
    @task(inlets=[RECOVERY_MODEL, DELINQUENCY_SNAPSHOT])
    def monitor() -> dict[str, object]:
        from nplpipeline.model.monitoring_stage import run_monitoring
        from nplpipeline.orchestration.run_dates import resolve_as_of

        return run_monitoring(resolve_as_of(get_current_context()))

    @task(retries=0)
    def drift_gate(summary: dict[str, object]) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        if summary["status"] == "alert":
            raise AirflowFailException(
                f"model v{summary['model_version']} drift alert on {summary['as_of']}: "
                f"{', '.join(summary['alert'])} (see ops_model_monitoring)"
            )
        return str(summary["status"])

    drift_gate(monitor())


npl_model_monitoring()
