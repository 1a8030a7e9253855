"""Monitoring reads the day's stored features when current and builds only what is not.

A small simulated portfolio, on DuckDB and PostgreSQL: with the as-of date scored in
three shards and the matured month-end built, monitoring builds nothing, and its rows
and the feature tables equal those of a run that rebuilt both dates; a date scored in
two of its three shards gets only the third built; a load since the builds, another
feature configuration, deleted rows or a month-end built in a batch cut later are
rebuilt; a rerun changes nothing.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import shard_chain
import sqlalchemy as sa
from shard_chain import END, train_champion

import nplpipeline.features.stage as features_stage
from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.features.builds import forget_builds
from nplpipeline.features.config import load_feature_config
from nplpipeline.features.stage import run_build_features
from nplpipeline.features.tables import features_table
from nplpipeline.features.window import training_month_ends
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.model.monitoring_stage import run_monitoring
from nplpipeline.model.tables import model_monitoring
from nplpipeline.score.stage import run_scoring
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.shards import Shard, all_shards, shard_predicate
from nplpipeline.warehouse.tables import load_audit

(MATURED,) = training_month_ends(END, 1)
DATES = {END.isoformat(), MATURED.isoformat()}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shard_chain.land(tmp_path_factory.mktemp("reuse-landing"), dirty=True)


@pytest.fixture
def day(landing: Path, npl_env: dict[str, str], monkeypatch, tmp_path) -> list[tuple]:
    """Loaded, snapshotted and a champion trained; returns the feature builds' log."""
    monkeypatch.setenv("NPL_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("NPL_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    shutil.copytree(landing, npl_env["NPL_LANDING_DIR"])
    run_ingest(END)
    run_delinquency_snapshot(END)
    train_champion()
    builds: list[tuple] = []
    build = features_stage.build_and_store_features

    def logged(dates, settings=None, config=None, shard=None):
        builds.append((tuple(d.isoformat() for d in dates), shard or Shard()))
        return build(dates, settings, config, shard=shard)

    monkeypatch.setattr(features_stage, "build_and_store_features", logged)
    return builds


def _score(shards: list[Shard]) -> None:
    for shard in shards:
        run_scoring(END, shard=shard)


def _tables() -> dict[str, pd.DataFrame]:
    """Monitoring's rows and the two dates' features, in key order."""
    table = features_table(load_feature_config())
    engine = create_warehouse_engine(get_settings().warehouse_url)
    queries = {
        "monitoring": sa.select(model_monitoring),
        "features": sa.select(table).where(table.c.as_of_date.in_([END, MATURED])),
    }
    out = {}
    with begin(engine) as conn:
        for name, query in queries.items():
            frame = read_frame(conn, query)
            keys = [c for c in ("as_of_date", "loan_id", "subject", "metric") if c in frame]
            out[name] = frame.sort_values(keys).reset_index(drop=True)
    engine.dispose()
    return out


def _assert_same(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    for name, frame in want.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)


def _forget() -> None:
    engine = create_warehouse_engine(get_settings().warehouse_url)
    with begin(engine) as conn:
        forget_builds(conn, features_table(load_feature_config()))
    engine.dispose()


def _built(summary: dict[str, object]) -> dict[str, int]:
    return dict(summary["features_built"])  # type: ignore[call-overload]


def test_stored_features_are_reused_and_give_the_rows_a_rebuild_gives(day, monkeypatch) -> None:
    _score(all_shards(3))
    run_build_features([MATURED])  # as training builds it, on the same loads
    day.clear()
    reused = run_monitoring(END)
    assert day == [] and _built(reused) == dict.fromkeys(DATES, 0)
    want = _tables()
    assert (want["features"]["as_of_date"] == pd.Timestamp(END)).any()
    assert want["features"]["recovered"].notna().any()  # the matured month-end's labels
    assert len(want["monitoring"]) > 0

    _forget()  # nothing known about the stored rows: both dates rebuilt, in three parts
    monkeypatch.setenv("NPL_REDUCE_LOANS_PER_PART", "250")
    rebuilt = run_monitoring(END)
    assert _built(rebuilt) == dict.fromkeys(DATES, 3) and len(day) == 6
    assert {dates for dates, _ in day} == {(d,) for d in DATES}  # each date on its own
    _assert_same(_tables(), want)
    assert rebuilt["status"] == reused["status"]

    day.clear()
    rerun = run_monitoring(END)  # a rerun reuses what the last one built
    assert day == [] and _built(rerun) == dict.fromkeys(DATES, 0)
    _assert_same(_tables(), want)


def test_a_partly_scored_date_gets_only_its_missing_shard(day) -> None:
    _score([Shard(0, 3), Shard(2, 3)])  # shard 1 of the scoring day never ran
    run_build_features([MATURED])
    day.clear()
    partial = run_monitoring(END)
    assert day == [((END.isoformat(),), Shard(1, 3))]
    assert _built(partial) == {END.isoformat(): 1, MATURED.isoformat(): 0}
    want = _tables()
    _forget()
    run_monitoring(END)  # the whole book rebuilt: the same rows
    _assert_same(_tables(), want)


def test_stale_or_damaged_features_are_rebuilt(day, monkeypatch, tmp_path) -> None:
    _score(all_shards(1))
    run_build_features([MATURED, END])  # one batch: the month-end's customers cut on END
    day.clear()
    assert _built(run_monitoring(END)) == {END.isoformat(): 0, MATURED.isoformat(): 1}
    want = _tables()

    table = features_table(load_feature_config())
    engine = create_warehouse_engine(get_settings().warehouse_url)
    with begin(engine) as conn:  # a few rows of the as-of date lost
        on_end = table.c.as_of_date == END
        conn.execute(table.delete().where(on_end, shard_predicate(table.c.loan_id, Shard(0, 4))))
    engine.dispose()
    assert _built(run_monitoring(END)) == {END.isoformat(): 1, MATURED.isoformat(): 0}
    _assert_same(_tables(), want)

    engine = create_warehouse_engine(get_settings().warehouse_url)
    with begin(engine) as conn:  # a file loaded after the builds (a late or corrected drop)
        a = load_audit.c
        latest = sa.select(sa.func.max(a.loaded_at)).where(a.entity == "repayments")
        conn.execute(
            load_audit.update()
            .where(a.entity == "repayments", a.loaded_at == latest.scalar_subquery())
            .values(loaded_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
        )
    engine.dispose()
    assert _built(run_monitoring(END)) == dict.fromkeys(DATES, 1)
    _assert_same(_tables(), want)  # the same content: only the audit moved

    config = tmp_path / "features.yaml"  # the same columns, another label definition
    config.write_text("recovery_share: 0.6\n")
    monkeypatch.setenv("NPL_FEATURE_CONFIG", str(config))
    assert features_table(load_feature_config()) is table
    assert _built(run_monitoring(END)) == dict.fromkeys(DATES, 1)
    assert _built(run_monitoring(END)) == dict.fromkeys(DATES, 0)
