"""A date keeps the model decided for it: reruns and backfills after a later promotion.

A small simulated portfolio; v1 is promoted effective A and scores D1; v2 is then
promoted effective A2 > D1 (the `champion` alias moves to it). Rerunning D1 must keep
v1 and reproduce its scores exactly; backfilling D0 (A <= D0 < A2, never scored) must
use v1, the champion as of D0; a date before any promotion fails with NoChampionError.
Real MLflow sqlite registry, real warehouses (DuckDB and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import shard_chain
import sqlalchemy as sa
from shard_chain import END, FAST_MODEL
from simulated_landing import ingest_landing
from warehouse_reads import read

from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.features.calendar import month_ends
from nplpipeline.features.stage import run_build_features
from nplpipeline.model import registry
from nplpipeline.model.config import ColumnsConfig, ModelConfig
from nplpipeline.model.monitoring_stage import run_monitoring
from nplpipeline.model.pinning import AS_OF, RECORDED, AmbiguousModelError, choose_model
from nplpipeline.model.stage import run_training
from nplpipeline.score.stage import gather_scores, run_scoring
from nplpipeline.score.tables import account_scores

NAME = registry.DEFAULT_MODEL_NAME
A = dt.date(2026, 10, 15)  # v1 is champion from here
D0 = dt.date(2026, 10, 20)  # never scored before v2's promotion: a backfill
D1 = END  # scored under v1, rerun after v2's promotion
A2 = dt.date(2026, 11, 15)  # v2 is champion from here (after D1)
BEFORE = dt.date(2026, 10, 10)  # before any promotion
# v2 sees fewer features than v1: different scores, so using the wrong one shows
WEAK = FAST_MODEL.model_copy(
    update={
        "columns": ColumnsConfig(feature_columns=("dpd", "overdue_amount", "product", "bucket"))
    }
)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shard_chain.land(tmp_path_factory.mktemp("pin-landing"))


@pytest.fixture
def world(landing: Path, npl_env: dict[str, str], monkeypatch, tmp_path) -> str:
    """The portfolio loaded, month-end features built; returns the MLflow store."""
    uri = ingest_landing(landing, npl_env, monkeypatch, tmp_path, END)
    ends = month_ends(END - dt.timedelta(days=31 * 8), END - dt.timedelta(days=95))
    run_build_features(ends)
    return uri


def _train(config: ModelConfig, as_of: dt.date) -> str:
    ends = month_ends(END - dt.timedelta(days=31 * 8), END - dt.timedelta(days=95))
    return str(run_training(ends[0], ends[-1], config=config, as_of=as_of)["version"])


def _scores(day: dt.date) -> pd.DataFrame:
    s = account_scores.c
    return read(sa.select(account_scores).where(s.as_of_date == day).order_by(s.loan_id))


def _score(day: dt.date) -> dict[str, object]:
    run_delinquency_snapshot(day)
    return run_scoring(day)


def test_reruns_keep_their_model_and_backfills_use_the_champion_of_their_date(world) -> None:
    v1 = _train(FAST_MODEL, A)  # the first model is promoted (no champion yet)
    c = registry.client(world)
    assert c.get_model_version(NAME, v1).tags[registry.EFFECTIVE_TAG] == A.isoformat()
    first = _score(D1)
    assert first["model"] == {
        "name": NAME, "version": v1, "reason": AS_OF, "effective_as_of": A.isoformat(),
        "basis": "tag", "recorded_rows": 0,
    }  # fmt: skip
    before = _scores(D1)
    assert len(before) == first["accounts"] > 0 and set(before["model_version"]) == {v1}

    v2 = _train(WEAK, A2)
    registry.promote(c, NAME, v2, effective=A2)  # whatever its gate said: now champion
    assert registry.load_champion(world).version == v2 != v1

    rerun = run_scoring(D1)
    assert rerun["model"]["version"] == v1 and rerun["model"]["reason"] == RECORDED
    assert rerun["model"]["recorded_rows"] == len(before)
    pd.testing.assert_frame_equal(_scores(D1), before)  # the date is reproduced exactly
    # v2 dated D1 too (its training for D1 finished after D1 was scored): D1 keeps v1
    registry.record_effective(c, NAME, v2, D1)
    assert registry.champion_as_of(world, NAME, D1).version == v2
    assert run_scoring(D1)["model"]["version"] == v1
    pd.testing.assert_frame_equal(_scores(D1), before)
    c.set_model_version_tag(NAME, v2, registry.EFFECTIVE_TAG, A2.isoformat())  # undo

    backfill = _score(D0)
    assert backfill["model"]["version"] == v1 and backfill["model"]["reason"] == AS_OF
    assert set(_scores(D0)["model_version"]) == {v1}
    assert registry.champion_as_of(world, NAME, A2).version == v2

    with pytest.raises(registry.NoChampionError, match=str(BEFORE)):
        run_scoring(BEFORE)
    assert _scores(BEFORE).empty


def test_monitoring_keeps_its_model_too(world) -> None:
    v1 = _train(FAST_MODEL, A)
    run_delinquency_snapshot(D1)
    first = run_monitoring(D1)
    assert first["model"]["version"] == v1 and first["model"]["reason"] == AS_OF
    c = registry.client(world)
    v2 = _train(WEAK, A2)
    registry.promote(c, NAME, v2, effective=A2)
    rerun = run_monitoring(D1)
    assert rerun["model"]["version"] == v1 and rerun["model"]["reason"] == RECORDED
    assert rerun["model"]["recorded_rows"] > 0


def test_promotion_history_ties_repromotion_and_undated_versions(world) -> None:
    """Registry only: ties go to the highest version, a re-promoted version keeps its
    earlier spell, and versions promoted before the tag existed are dated honestly."""
    v1 = _train(FAST_MODEL, A)
    c = registry.client(world)
    v2 = _train(WEAK, A)
    registry.promote(c, NAME, v2, effective=A)  # same effective date: the higher wins
    assert registry.champion_as_of(world, NAME, A).version == v2
    registry.promote(c, NAME, v1, effective=A2)  # a rollback: v1 again from A2
    assert c.get_model_version(NAME, v1).tags[registry.EFFECTIVE_TAG] == f"{A},{A2}"
    assert registry.champion_as_of(world, NAME, D1).version == v2
    assert registry.champion_as_of(world, NAME, A2).version == v1

    c.delete_model_version_tag(NAME, v1, registry.EFFECTIVE_TAG)  # promoted "before"
    assert registry.champion_as_of(world, NAME, D1) == registry.Promotion(v2, A, "tag")
    undated = [p for p in registry.promotions(c, NAME) if p.version == v1]
    assert undated == [registry.Promotion(v1, A, "run_as_of")]  # the run's as_of param

    source = c.get_model_version_download_uri(NAME, v1)
    legacy = c.create_model_version(NAME, source)  # no run: dated by its registration
    c.set_model_version_tag(NAME, legacy.version, registry.GATE_TAG, registry.PROMOTED)
    created = dt.datetime.fromtimestamp(legacy.creation_timestamp / 1000, dt.UTC).date()
    latest = registry.promotions(c, NAME)[-1]
    assert latest == registry.Promotion(str(legacy.version), created, "created")
    c.set_model_version_tag(NAME, legacy.version, registry.GATE_TAG, "refused")
    assert all(p.version != str(legacy.version) for p in registry.promotions(c, NAME))


def test_a_date_with_two_versions_on_its_rows_is_refused(tmp_path: Path) -> None:
    recorded = {(NAME, "1"): 10, (NAME, "2"): 5}
    with pytest.raises(AmbiguousModelError, match="2 model versions"):
        choose_model(f"sqlite:///{tmp_path / 'unused.db'}", recorded, D1)
    one = choose_model(f"sqlite:///{tmp_path / 'unused.db'}", {(NAME, "3"): 7}, D1)
    assert (one.version, one.reason, one.recorded_rows) == ("3", RECORDED, 7)


def test_no_registered_model_is_no_champion(tmp_path: Path) -> None:
    with pytest.raises(registry.NoChampionError, match="no champion on"):
        registry.champion_as_of(f"sqlite:///{tmp_path / 'empty.db'}", NAME, D1)


def test_shards_of_one_date_must_agree_on_the_model() -> None:
    shard = {"as_of": D1.isoformat(), "accounts": 3}
    one = [shard | {"shard": {"index": i, "count": 2}, "model_version": "1"} for i in (0, 1)]
    assert gather_scores(D1, one) == {
        "as_of": D1.isoformat(), "shards": 2, "accounts": 6, "model_version": "1",
    }  # fmt: skip
    split = [one[0], one[1] | {"model_version": "2"}]
    with pytest.raises(AmbiguousModelError, match="2 model versions"):
        gather_scores(D1, split)


def test_an_undated_training_is_effective_when_its_window_was_first_known() -> None:
    from nplpipeline.features.window import training_month_ends
    from nplpipeline.model.stage import earliest_as_of

    end = dt.date(2026, 7, 31)
    first = earliest_as_of(end)
    assert training_month_ends(first, 3)[-1] == end
    assert training_month_ends(first - dt.timedelta(days=1), 3)[-1] < end
