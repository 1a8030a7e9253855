"""
### NPL recovery model: features, training, registry, promotion

Weekly (and on demand with params): builds the point-in-time feature table for every
month-end of the training window (one mapped task per as-of date, so dates run in
parallel on a Celery or Kubernetes deployment), then trains a WoE scorecard and a
calibrated gradient-boosted model, validates them out of time, logs everything to
MLflow and registers the better one as `challenger`. It becomes `champion` only if it
beats the current champion on the same out-of-time set, its scores are stable (PSI)
and no segment's AUC collapses. The window ends at the last month-end whose 90-day
label horizon has passed. A promoted version is champion from the run's as-of date on:
scoring and monitoring of earlier dates keep the champion of their own date.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from airflow.sdk import Param, get_current_context

from nplpipeline.orchestration.assets import DELINQUENCY_SNAPSHOT, FEATURES, RECOVERY_MODEL
from nplpipeline.orchestration.data_calendar import TRAINING_SCHEDULE
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import RegisteredModel, tables


@npl_dag(
    "npl_train_model",
    schedule=TRAINING_SCHEDULE,  # weekly on logical dates: the data calendar
    tags=["model"],
    doc_md=__doc__,
    params={"months": Param(18, type="integer", minimum=3, maximum=60)},
)
def npl_train_model() -> None:
    @npl_task
    def training_dates(as_of) -> list[str]:
        from nplpipeline.features.window import training_month_ends

        months = int(get_current_context()["params"]["months"])
        return [d.isoformat() for d in training_month_ends(as_of, months)]

    @npl_task(
        outlets=[FEATURES],
        map_index_template="{{ task.op_kwargs['month_end'] }}",
        reads=tables("raw_loans", "raw_installments", "raw_repayments", "raw_collection_actions"),
        writes=tables("int_features", "ops_feature_builds"),
    )
    def build_features(month_end: str) -> dict[str, object]:
        import datetime as dt

        from nplpipeline.features.stage import run_build_features

        counts = run_build_features([dt.date.fromisoformat(month_end)])
        return {"as_of": month_end, "rows": counts["rows"], "labelled": counts["labelled"]}

    @npl_task(
        inlets=[DELINQUENCY_SNAPSHOT, FEATURES],
        outlets=[RECOVERY_MODEL],
        reads=tables("int_features"),
        writes=(RegisteredModel(),),
    )
    def train_register_promote(as_of, dates: list[str]) -> dict[str, object]:
        import datetime as dt

        from nplpipeline.model.stage import run_training

        start, end = dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1])
        result = run_training(start, end, as_of=as_of)  # promoted: champion from as_of on
        keys = ("as_of", "model", "version", "chosen", "promoted", "oot")
        return {k: result[k] for k in keys}

    dates = training_dates()
    built = build_features.expand(month_end=dates)
    built >> train_register_promote(dates)


npl_train_model()
