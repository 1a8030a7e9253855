"""
### NPL recovery model: features, training, registry, promotion

Weekly (and on demand with params): builds the point-in-time feature table for every
month-end of the training window (one mapped task per as-of date, so dates run in
parallel on a Celery or Kubernetes deployment), then trains a WoE scorecard and a
calibrated gradient-boosted model, validates them out of time, logs everything to
MLflow and registers the better one as `challenger`. It becomes `champion` only if it
beats the current champion on the same out-of-time set, its scores are stable (PSI)
and no segment's AUC collapses. The window ends at the last month-end whose 90-day
label horizon has passed.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from nplpipeline.orchestration.assets import DELINQUENCY_SNAPSHOT, FEATURES, RECOVERY_MODEL
from nplpipeline.orchestration.defaults import START_DATE, default_args


@dag(
    dag_id="npl_train_model",
    schedule="@weekly",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["npl", "model"],
    doc_md=__doc__,
    params={
        "as_of": Param(None, type=["null", "string"], format="date"),
        "months": Param(18, type="integer", minimum=3, maximum=60),
    },
)
def npl_train_model() -> None:
    @task
    def training_dates() -> list[str]:
        from nplpipeline.features.window import training_month_ends
        from nplpipeline.orchestration.run_dates import resolve_as_of

        context = get_current_context()
        as_of = resolve_as_of(context)
        months = int(context["params"]["months"])
        return [d.isoformat() for d in training_month_ends(as_of, months)]

    @task(outlets=[FEATURES], map_index_template="{{ task.op_kwargs['as_of'] }}")
    def build_features(as_of: str) -> dict[str, object]:
        import datetime as dt

        from nplpipeline.features.stage import run_build_features

        counts = run_build_features([dt.date.fromisoformat(as_of)])
        return {"as_of": as_of, "rows": counts["rows"], "labelled": counts["labelled"]}

    @task(inlets=[DELINQUENCY_SNAPSHOT, FEATURES], outlets=[RECOVERY_MODEL])
    def train_register_promote(dates: list[str]) -> dict[str, object]:
        import datetime as dt

        from nplpipeline.model.stage import run_training

        result = run_training(dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1]))
        return {k: result[k] for k in ("model", "version", "chosen", "promoted", "oot")}

    dates = training_dates()
    built = build_features.expand(as_of=dates)
    built >> train_register_promote(dates)


npl_train_model()
