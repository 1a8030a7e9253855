"""The training stage as Airflow calls it: `int_features` rows in, a registered model out.

Maps the features stage's schema (label `recovered`, `label_data_date`, segments) onto
the model config, reads labelled rows for the window, and runs `train_and_register`
against the settings' MLflow store. Returns a small JSON-able dict for XCom.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from nplpipeline.model.config import ModelConfig, load_model_config
from nplpipeline.model.train import train_and_register
from nplpipeline.settings import Settings, get_settings

log = logging.getLogger(__name__)


def config_for_features(config: ModelConfig | None = None) -> ModelConfig:
    """The model config with column roles taken from `nplpipeline.features.schema`."""
    from nplpipeline.features.schema import ID_COLUMNS, LABEL_COLUMN, LABEL_DATA_DATE_COLUMN

    config = config or load_model_config()
    cols = config.columns
    ids = tuple(c for c in ID_COLUMNS if c != cols.date_column)
    columns = cols.model_copy(
        update={
            "id_columns": tuple(dict.fromkeys((*cols.id_columns, *ids))),
            "label_column": LABEL_COLUMN,
            "exclude_columns": tuple(
                dict.fromkeys((*cols.exclude_columns, LABEL_DATA_DATE_COLUMN))
            ),
        }
    )
    return config.model_copy(update={"columns": columns})


def tier_segments(tiering: Any) -> Callable[[pd.DataFrame, np.ndarray], pd.DataFrame]:
    """Metrics by tier: each model's test rows get the tier its own scores would give."""
    from nplpipeline.config.tiers import assign_tiers

    def add_tier(frame: pd.DataFrame, p: np.ndarray) -> pd.DataFrame:
        return frame.assign(tier=assign_tiers(frame["dpd"].to_numpy(), p, tiering))

    return add_tier


def latest_dq_runs(engine: Any) -> str:
    """The latest Great Expectations run per entity: which validated data fed the model."""
    import sqlalchemy as sa

    from nplpipeline.validate.results import latest_runs
    from nplpipeline.warehouse.engine import begin
    from nplpipeline.warehouse.tables import ensure_schema

    latest = latest_runs()
    query = sa.select(latest.c.entity, latest.c.run_id).order_by(latest.c.entity)
    with begin(engine) as conn:
        ensure_schema(conn)
        return ";".join(f"{entity}={run}" for entity, run in conn.execute(query))


def earliest_as_of(window_end: dt.date) -> dt.date:
    """The first as-of date whose training window ends at ``window_end`` (its labels'
    horizon has passed): ``features.window.training_month_ends`` inverted."""
    from nplpipeline.features.config import load_feature_config

    return window_end + dt.timedelta(days=load_feature_config().horizon_days)


def run_training(
    start: dt.date,
    end: dt.date,
    settings: Settings | None = None,
    config: ModelConfig | None = None,
    dq_run_id: str | None = None,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """Train on labelled feature rows with as-of dates in [start, end]; gate; report.

    ``as_of`` is the day the training runs for (the DAG's and CLI's date); a promoted
    version is champion from it on. Without it: the first day the window's last labels
    had matured (``end`` + the label horizon), the earliest day this window is known."""
    from sqlalchemy.engine import make_url

    from nplpipeline.features.schema import LABEL_DATA_DATE_COLUMN
    from nplpipeline.features.stage import load_training_frame
    from nplpipeline.warehouse.engine import opened

    settings = settings or get_settings()
    config = config_for_features(config)
    as_of = as_of or earliest_as_of(end)
    with opened(settings.warehouse_url) as engine:
        frame = load_training_frame(engine, start, end, policy=settings.policy.delinquency)
        dq_run_id = dq_run_id or latest_dq_runs(engine)
    if frame.empty:
        raise ValueError(f"no labelled feature rows between {start} and {end}")
    label_date = frame[LABEL_DATA_DATE_COLUMN].max()
    identity = {
        "feature_table": "int_features",
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "label_data_date": str(label_date.date()) if label_date == label_date else None,
        "warehouse": make_url(settings.warehouse_url).render_as_string(hide_password=True),
        "dq_run_id": dq_run_id,
    }
    result = train_and_register(
        frame,
        config,
        tracking_uri=settings.mlflow_tracking_uri,
        data_identity=identity,
        artifact_location=settings.mlflow_artifact_root.as_uri(),
        derived_segments=tier_segments(settings.policy.tiering),
        pipeline=True,
        as_of=as_of,
    )
    log.info(
        "model %s v%s (%s): %s",
        result.model_name,
        result.version,
        result.chosen,
        result.gate.reason,
    )
    return {
        "as_of": as_of.isoformat(),
        "model": result.model_name,
        "version": result.version,
        "chosen": result.chosen,
        "promoted": result.promoted,
        "gate_reason": result.gate.reason,
        "run_id": result.run_id,
        "oot": {k: round(v["auc"], 4) for k, v in result.oot_metrics.items()},
        "seconds": {k: round(v, 1) for k, v in result.timings.items()},
    }
