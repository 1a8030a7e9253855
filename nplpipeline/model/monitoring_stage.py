"""Daily model monitoring: is today's population still the one the champion learned on?

PSI of the score and of the champion's key features between its training sample (the
reference logged with its run) and today's delinquent accounts, plus realised AUC on
the latest month-end whose labels have matured. Rows go to ``ops_model_monitoring``
(replaced per as-of date); the DAG turns an ``alert`` into a failed, visible task.
The model is the one decided for the date (``model.pinning``): a rerun keeps the version
its rows name, a date never monitored uses the champion as of it.

The two dates' features are rebuilt over the whole book, so that is done one stable-hash
shard at a time (``NPL_REDUCE_LOANS_PER_PART`` loans each): the same rows as one pass,
in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd
import sqlalchemy as sa

from nplpipeline.model.tables import model_monitoring
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.partitions import replace_partition
from nplpipeline.warehouse.shards import all_shards
from nplpipeline.warehouse.tables import RAW_TABLES, ensure_schema

log = logging.getLogger(__name__)


def rebuild_features(dates: list[dt.date], settings: Settings) -> int:
    """Rebuild and store ``dates``' features shard by shard; returns the shards used."""
    from nplpipeline.features.stage import build_and_store_features

    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            ensure_schema(conn)
            loans = RAW_TABLES["loans"].c.loan_id
            book = int(conn.execute(sa.select(sa.func.count(sa.distinct(loans)))).scalar_one())
    finally:
        engine.dispose()
    shards = all_shards(settings.reduce_parts(book))
    for shard in shards:
        build_and_store_features(dates, settings, shard=shard)
    return len(shards)


def run_monitoring(as_of: dt.date, settings: Settings | None = None) -> dict[str, Any]:
    """Compute and store today's monitoring rows; returns the worst status and subjects."""
    from nplpipeline.features.stage import load_features_on, load_training_frame
    from nplpipeline.features.window import training_month_ends
    from nplpipeline.model.config import load_model_config
    from nplpipeline.model.monitoring import load_reference, monitor
    from nplpipeline.model.pinning import pinned_model

    settings = settings or get_settings()
    engine = create_warehouse_engine(settings.warehouse_url)
    try:  # no champion for the date: fail loudly
        champion, choice = pinned_model(
            engine, model_monitoring, as_of, settings.mlflow_tracking_uri
        )
    finally:
        engine.dispose()
    reference = load_reference(settings.mlflow_tracking_uri, champion.run_id)
    (matured,) = training_month_ends(as_of, 1)
    rebuild_features(sorted({as_of, matured}), settings)
    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        current = load_features_on(engine, as_of, policy=settings.policy.delinquency)
        labelled = load_training_frame(engine, matured, matured)
    finally:
        engine.dispose()
    rows = monitor(reference, current, champion.score(current), load_model_config().monitoring)
    if len(labelled):
        realised = monitor(
            reference, labelled, champion.score(labelled), load_model_config().monitoring,
            labels=labelled["recovered"].astype(float),
        )  # fmt: skip
        rows = pd.concat([rows, realised[realised["metric"] != "psi"]], ignore_index=True)
    rows = rows.assign(as_of_date=pd.Timestamp(as_of), model_version=str(champion.version))
    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            ensure_schema(conn)
            replace_partition(conn, model_monitoring, "as_of_date", as_of, rows)
    finally:
        engine.dispose()
    order = {"alert": 3, "watch": 2, "ok": 1}
    worst = max(rows["status"], key=lambda s: order.get(s, 0))
    summary = {
        "as_of": as_of.isoformat(),
        "model_version": str(champion.version),
        "model": choice.to_xcom(),
        "status": worst,
        "alert": sorted(rows.loc[rows["status"] == "alert", "subject"]),
        "watch": sorted(rows.loc[rows["status"] == "watch", "subject"]),
    }
    level = logging.WARNING if worst in ("alert", "watch") else logging.INFO
    log.log(level, "model monitoring %s: %s", as_of, summary)
    return summary
