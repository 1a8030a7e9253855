"""A small portfolio's day, run unsharded or in K shards, and the tables it leaves.

Shared by the sharding tests (in-process, DuckDB and PostgreSQL) and the Celery test
(the single-process reference); ``land`` simulates the portfolio's landing zone, once
per test module. The caller points ``NPL_*`` at its own folders and warehouse first;
``train_champion`` registers a champion trained on this portfolio's own month-end
features in the MLflow store the settings name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import warehouse_reads
from simulated_landing import simulate_landing

from nplpipeline.act.placement.stage import run_placements
from nplpipeline.act.stage import run_treatment_plan, run_worklists
from nplpipeline.act.tables import suppression_log, treatment_plan, worklist
from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.features.calendar import month_ends
from nplpipeline.features.config import load_feature_config
from nplpipeline.features.stage import run_build_features
from nplpipeline.features.tables import features_table
from nplpipeline.model.config import ModelConfig
from nplpipeline.model.stage import run_training
from nplpipeline.score.stage import run_scoring
from nplpipeline.score.tables import account_scores
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.shards import all_shards

END = dt.date(2026, 10, 31)
LOANS = 700
SEED = 11
FAST_MODEL = ModelConfig(evaluation_sample_rows=500, importance_sample_rows=300)


def land(root: Path, *, dirty: bool = False) -> Path:
    """This portfolio's landing zone under ``root`` (clean unless ``dirty``: then with
    the simulator's few dirty rows); returns the landing folder."""
    return simulate_landing(
        root, loans=LOANS, seed=SEED, end_date=END, dirty_share=None if dirty else 0.0
    )


def sharded_tables() -> list[sa.Table]:
    """What the per-account shards and the worklist reduce write for a day."""
    return [
        delinquency_snapshot,
        features_table(load_feature_config()),
        account_scores,
        treatment_plan,
        worklist,
        suppression_log,
    ]


def train_champion(end: dt.date = END, months: int = 8) -> dict[str, object]:
    """Month-end features of the loaded portfolio, then a champion trained on them."""
    ends = month_ends(end - dt.timedelta(days=31 * months), end - dt.timedelta(days=95))
    run_build_features(ends)
    return run_training(ends[0], ends[-1], config=FAST_MODEL)


def run_day(as_of: dt.date, shards: int) -> None:
    """The per-account steps shard by shard, then the whole-book placements and
    worklists (the order of ``npl_collections``)."""
    for step in (run_delinquency_snapshot, run_scoring, run_treatment_plan):
        for shard in all_shards(shards):
            step(as_of, shard=shard)
    run_placements(as_of)
    run_worklists(as_of)


def snapshot_shard(label: str, as_of: dt.date = END) -> int:
    """One shard's snapshot (``"k/K"``), e.g. in its own process as a mapped task would."""
    from nplpipeline.warehouse.shards import Shard

    return int(run_delinquency_snapshot(as_of, shard=Shard.parse(label))["loans"])


def wipe(as_of: dt.date) -> None:
    with transaction(get_settings().warehouse_url) as conn:
        for table in sharded_tables():
            conn.execute(table.delete().where(table.c.as_of_date == as_of))


def day_tables(as_of: dt.date) -> dict[str, pd.DataFrame]:
    """The day's rows of every sharded table, in key order."""
    return warehouse_reads.read_tables(sharded_tables(), as_of)


def assert_same_tables(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    """Row for row and value for value; dtypes are not compared."""
    warehouse_reads.assert_same_tables(got, want, check_dtype=False)
