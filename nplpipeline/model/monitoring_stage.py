"""Daily model monitoring: is today's population still the one the champion learned on?

PSI of the score and of the champion's key features between its training sample (the
reference logged with its run) and today's delinquent accounts, plus realised AUC on
the latest month-end whose labels have matured. Rows go to ``ops_model_monitoring``
(replaced per as-of date); the DAG turns an ``alert`` into a failed, visible task.
The model is the one decided for the date (``model.pinning``): a rerun keeps the version
its rows name, a date never monitored uses the champion as of it.

The two dates' features are read as stored when complete and current
(``features.builds``: every shard stamped with today's code, configuration, policy and
ingest loads, its customers cut on the date, its row count intact). The as-of date
normally is: scoring built it from the same loads. The matured month-end is when
training or a rerun built it since the last load; after a new drop it is stale (a late
row may change it) and rebuilt. Whatever is not current is built one date at a time,
so each date's customers are cut on it: the missing shards only when the stamps' shard
count splits the book at least as finely as the whole-book split, else the whole date
one stable-hash shard at a time (``NPL_REDUCE_LOANS_PER_PART`` loans each), the same
rows as one pass, in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd
import sqlalchemy as sa

from nplpipeline.features.builds import Coverage
from nplpipeline.model.tables import model_monitoring
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import opened, transaction
from nplpipeline.warehouse.partitions import replace_partition
from nplpipeline.warehouse.shards import Shard, all_shards
from nplpipeline.warehouse.tables import RAW_TABLES, ensure_schema

log = logging.getLogger(__name__)


def shards_to_build(coverage: Coverage, parts: int) -> list[Shard]:
    """What a date needs built: nothing when complete, the missing shards of the stamps'
    count when it splits the book at least as finely as ``parts``, else all ``parts``
    (a coarser shard would hold more loans at once than the whole-book bound)."""
    if coverage.complete:
        return []
    if coverage.count >= parts:
        return [Shard(i, coverage.count) for i in coverage.missing]
    return all_shards(parts)


def _book_size(conn: sa.Connection) -> int:
    loans = RAW_TABLES["loans"].c.loan_id
    return int(conn.execute(sa.select(sa.func.count(sa.distinct(loans)))).scalar_one())


def ensure_features(dates: list[dt.date], settings: Settings) -> dict[str, int]:
    """Build what ``dates`` lack of current stored features, each date on its own;
    returns the shards built per date (0: reused as stored)."""
    from nplpipeline.features.builds import current_stamp, stored_coverage
    from nplpipeline.features.config import load_feature_config
    from nplpipeline.features.stage import build_and_store_features
    from nplpipeline.features.tables import features_table

    config = load_feature_config()
    table = features_table(config)
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        stamp = current_stamp(conn, config, settings.policy.delinquency)
        coverage = {d: stored_coverage(conn, table, d, stamp) for d in dates}
        book = 0 if all(c.complete for c in coverage.values()) else _book_size(conn)
    parts = settings.reduce_parts(book)
    built: dict[str, int] = {}
    for d in dates:
        shards = shards_to_build(coverage[d], parts)
        for shard in shards:
            build_and_store_features([d], settings, config, shard=shard)
        built[d.isoformat()] = len(shards)
    return built


def run_monitoring(as_of: dt.date, settings: Settings | None = None) -> dict[str, Any]:
    """Compute and store today's monitoring rows; returns the worst status and subjects."""
    from nplpipeline.features.stage import load_features_on, load_training_frame
    from nplpipeline.features.window import training_month_ends
    from nplpipeline.model.config import load_model_config
    from nplpipeline.model.monitoring import load_reference, monitor
    from nplpipeline.model.pinning import pinned_model

    settings = settings or get_settings()
    with opened(settings.warehouse_url) as engine:  # no champion for the date: fail loudly
        champion, choice = pinned_model(
            engine, model_monitoring, as_of, settings.mlflow_tracking_uri
        )
    reference = load_reference(settings.mlflow_tracking_uri, champion.run_id)
    (matured,) = training_month_ends(as_of, 1)
    built = ensure_features(sorted({as_of, matured}), settings)
    with opened(settings.warehouse_url) as engine:
        current = load_features_on(engine, as_of, policy=settings.policy.delinquency)
        labelled = load_training_frame(engine, matured, matured)
    rows = monitor(reference, current, champion.score(current), load_model_config().monitoring)
    if len(labelled):
        realised = monitor(
            reference, labelled, champion.score(labelled), load_model_config().monitoring,
            labels=labelled["recovered"].astype(float),
        )  # fmt: skip
        rows = pd.concat([rows, realised[realised["metric"] != "psi"]], ignore_index=True)
    rows = rows.assign(as_of_date=pd.Timestamp(as_of), model_version=str(champion.version))
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        replace_partition(conn, model_monitoring, "as_of_date", as_of, rows)
    order = {"alert": 3, "watch": 2, "ok": 1}
    worst = max(rows["status"], key=lambda s: order.get(s, 0))
    summary = {
        "as_of": as_of.isoformat(),
        "model_version": str(champion.version),
        "model": choice.to_xcom(),
        "features_built": built,  # shards built per date, 0: reused as stored
        "status": worst,
        "alert": sorted(rows.loc[rows["status"] == "alert", "subject"]),
        "watch": sorted(rows.loc[rows["status"] == "watch", "subject"]),
    }
    level = logging.WARNING if worst in ("alert", "watch") else logging.INFO
    log.log(level, "model monitoring %s: %s", as_of, summary)
    return summary
