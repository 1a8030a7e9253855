"""
### NPL model monitoring

Runs after each day's scoring (asset `int_account_scores`), not beside it: scoring has
then built and stamped the day's features, which monitoring reuses instead of
rebuilding the whole book, and the two never write the same feature shards at once. A
day whose scoring failed is not monitored until it is scored. Scores the day's
delinquent accounts with the model decided for the date (the version its monitoring
rows name on a rerun, else the champion as of the date), compares score and key-feature
distributions with the champion's training sample (PSI: < 0.1 stable, 0.1-0.25 watch,
> 0.25 shift) and measures realised AUC on the latest month-end whose 90-day labels
have matured. Results go to `ops_model_monitoring`; `drift_gate` fails, visibly, when
anything is in alert, so the run shows red in the grid while the figures are already
stored.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from nplpipeline.orchestration.assets import ACCOUNT_SCORES, FEATURES, RECOVERY_MODEL
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import RegisteredModel, tables


@npl_dag(
    "npl_model_monitoring",
    schedule=ACCOUNT_SCORES,  # after scoring: its stamped features are reused
    tags=["model", "monitoring"],
    doc_md=__doc__,
)
def npl_model_monitoring() -> None:
    @npl_task(
        inlets=[RECOVERY_MODEL, ACCOUNT_SCORES, FEATURES],
        reads=(
            RegisteredModel(),
            *tables("int_delinquency_snapshot", "int_features", "ops_feature_builds"),
        ),
        # features only where the stored ones are missing or stale (features.builds)
        writes=tables("ops_model_monitoring", "int_features", "ops_feature_builds"),
    )
    def monitor(as_of) -> dict[str, object]:
        from nplpipeline.model.monitoring_stage import run_monitoring

        return run_monitoring(as_of)

    @npl_task(retries=0)
    def drift_gate(summary: dict[str, object]) -> str:
        from nplpipeline.orchestration.errors import check_drift

        return check_drift(summary)  # an alert shows red at once; the figures are stored

    drift_gate(monitor())


npl_model_monitoring()
