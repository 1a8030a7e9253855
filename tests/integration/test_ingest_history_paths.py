"""Issue #14, history ingest: the fast paths load exactly what the former paths loaded.

The former paths are kept here as references: the whole-frame ``DataFrame.duplicated``
duplicate rules, the full sort for the latest version per key, typing from a whole
pandas text copy, the version-comparing merge on every upsert, the merge of every batch
into a history entity's current view (now written once per load from the history), and
a GX checkpoint with a Data Docs build per batch. On a dirty simulated landing zone
loaded in many small batches, both must leave the same rows, quarantine (rules and
masked values), audit and GX outcomes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from nplpipeline.contract import ENTITIES, LOAD_ORDER, Entity
from nplpipeline.ingest import loader
from nplpipeline.ingest.loader import IngestOptions, ingest_entity
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import project_root
from nplpipeline.simulate import SimulationConfig, simulate_portfolio
from nplpipeline.validate import gx_runner, rules
from nplpipeline.validate.coerce import coerce
from nplpipeline.warehouse import upsert
from nplpipeline.warehouse.engine import begin
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.tables import (
    HISTORY_TABLES,
    RAW_TABLES,
    current_view_backlog,
    dq_results,
    load_audit,
    quarantine,
)

END = dt.date(2026, 3, 31)
WALL_CLOCK = {"loaded_at", "validated_at"}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history-paths")
    config = SimulationConfig(n_loans=150, seed=5, end_date=END, history_days=60, dirty_share=0.06)
    simulate_portfolio(config, root / "landing", root / "truth")
    return root / "landing"


# -- the former paths ---------------------------------------------------------------------


def _old_duplicate_rules(typed: pd.DataFrame, entity: Entity, add) -> None:
    scope = [*entity.key, "_source_file"]
    if not set(scope) <= set(typed.columns):
        return
    repeat, conflict = rules._exact_duplicate_masks(typed, [*entity.columns, "_source_file"], scope)
    add("duplicate_row", repeat)
    add("unique_key", conflict)


def _old_latest_per_key(good: pd.DataFrame, entity: Entity) -> pd.DataFrame:
    order = ["_version", "_drop_date", "_source_file", "_row_number"]
    return good.sort_values(order).drop_duplicates(subset=list(entity.key), keep="last")


class _PerBatchDocs:
    """The former GX wiring: a fresh context, checkpoint and Data Docs build per batch."""

    def __init__(self, options: IngestOptions) -> None:
        self.options = options
        self.index: str | None = None

    def run(self, entity, typed, drop_dates, known, run_name, expected_rows=None):
        run = gx_runner.run_suite(
            entity, typed, drop_dates=drop_dates, known=known,
            suites_dir=self.options.suites_dir, gx_dir=self.options.gx_dir,
            run_name=run_name, expected_rows=expected_rows,
            keep=self.options.gx_keep_results,
        )  # fmt: skip
        self.index = run.data_docs_index
        return run

    def finish(self) -> str | None:
        return self.index


def _old_write_rows(conn, entity: Entity, good, latest, files) -> None:
    if entity.name in HISTORY_TABLES:
        loader._keep_history(conn, entity, good, files)  # before the merge: seeds from the view
    table = RAW_TABLES[entity.name]
    upsert.upsert_latest(conn, table, entity.key, latest[[c.name for c in table.columns]])


def _use_former_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "_write_rows", _old_write_rows)
    monkeypatch.setattr(rules, "add_duplicate_rules", _old_duplicate_rules)
    monkeypatch.setattr(loader, "_latest_per_key", _old_latest_per_key)
    monkeypatch.setattr(
        loader, "coerce_table", lambda table, e: coerce(table.to_pandas(date_as_object=False), e)
    )
    monkeypatch.setattr(upsert, "has_rows", lambda conn, query: True)  # always the merge
    monkeypatch.setattr(loader, "_gx_session", _PerBatchDocs)


# -- comparing ------------------------------------------------------------------------------


def _load(engine, landing: Path, options: IngestOptions) -> dict[str, tuple[int, int, int]]:
    """A history load to three weeks before the end, then those weeks: the second pass
    replaces the touched keys of a full current view, the first fills an empty one."""
    counts: dict[str, tuple[int, int, int]] = {}
    for up_to in (END - dt.timedelta(days=21), END):
        for entity in LOAD_ORDER:
            with contextlib.suppress(loader.IngestError):
                r = ingest_entity(engine, landing, entity, up_to, options)
                before = counts.get(entity, (0, 0, 0))
                counts[entity] = tuple(
                    a + b
                    for a, b in zip(
                        before, (r.rows_in, r.rows_loaded, r.rows_quarantined), strict=True
                    )
                )
    return counts


def _state(engine) -> dict[str, pd.DataFrame]:
    tables = [*RAW_TABLES.values(), *HISTORY_TABLES.values(), quarantine, load_audit, dq_results]
    tables.append(current_view_backlog)
    out = {}
    with begin(engine) as conn:
        ensure_schema(conn)
        for table in tables:
            columns = [c for c in table.columns if c.name not in WALL_CLOCK]
            query = sa.select(*columns).order_by(*(table.primary_key.columns))
            out[table.name] = read_frame(conn, query).reset_index(drop=True)
    return out


def test_fast_history_paths_load_what_the_former_paths_loaded(
    engine, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def options(name: str) -> IngestOptions:
        suites = project_root() / "expectations"
        return IngestOptions(chunk_rows=400, gx_dir=tmp_path / name, suites_dir=suites)

    fast_counts = _load(engine, landing, options("gx-fast"))
    fast = _state(engine)
    reasons = set(";".join(fast["ops_quarantine"]["rules"]).split(";"))
    assert {"unique_key", "orphan:loan_id"} <= reasons  # the drop is dirty where it matters
    assert fast["ops_load_audit"]["source_file"].nunique() > 50  # many batches
    assert len(fast["ops_dq_results"]) > 0
    assert fast["ops_current_view_backlog"].empty  # every deferred view was written
    with begin(engine) as conn:
        for table in reversed(list(fast)):
            conn.execute(sa.text(f'DELETE FROM "{table}"'))

    with monkeypatch.context() as patch:
        _use_former_paths(patch)
        former_counts = _load(engine, landing, options("gx-former"))
    former = _state(engine)

    assert fast_counts == former_counts
    for entity, (rows_in, loaded, held) in fast_counts.items():
        assert rows_in == loaded + held, entity
    for name in fast:
        pd.testing.assert_frame_equal(fast[name], former[name], obj=name)
    for name in ("gx-fast", "gx-former"):
        assert (tmp_path / name / "uncommitted/data_docs/local_site/index.html").is_file()


# -- the hashed duplicate rules, row by row ----------------------------------------------


def _random_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    entity = ENTITIES["installments"]
    frame = pd.DataFrame(
        {c: rng.choice(["a", "b", None], n).astype(object) for c in entity.columns}
    )
    frame["loan_id"] = rng.choice(["L1", "L2", "L3", None], n).astype(object)
    frame["installment_no"] = pd.array(rng.choice([1, 2, None], n), dtype="Int64")
    frame["principal_due"] = rng.choice([1.0, np.nan, 2.5], n)
    frame["_source_file"] = rng.choice(["f1", "f2"], n).astype(object)
    return frame


def _masks(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    rules.add_duplicate_rules(frame, ENTITIES["installments"], found.__setitem__)
    return found


@pytest.mark.parametrize("collide", [False, True])
def test_hashed_duplicate_rules_equal_the_whole_frame_comparison(
    collide: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same verdicts as ``DataFrame.duplicated`` on the whole frame, including when
    every row's hash collides (the exact comparison then clears the false candidates)."""
    if collide:
        monkeypatch.setattr(rules, "_key_hashes", lambda f, cols: np.zeros(len(f), np.uint64))
    entity = ENTITIES["installments"]
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(60):
        frame = _random_frame(rng, int(rng.integers(1, 120)))
        n = len(frame)
        repeat, conflict = rules._exact_duplicate_masks(
            frame, [*entity.columns, "_source_file"], [*entity.key, "_source_file"]
        )
        found = _masks(frame)
        assert np.array_equal(found.get("duplicate_row", np.zeros(n, bool)), repeat)
        assert np.array_equal(found.get("unique_key", np.zeros(n, bool)), conflict)
        hits += int(repeat.any()) + int(conflict.any())
    assert hits > 20  # the frames do have repeats and conflicts


def test_latest_per_key_equals_the_full_sort() -> None:
    entity = ENTITIES["loans"]
    rng = np.random.default_rng(8)
    n = 500
    good = pd.DataFrame(
        {
            "loan_id": rng.choice([f"L{i}" for i in range(60)], n).astype(object),
            "_version": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 5, n), unit="D"),
            "_drop_date": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 3, n), unit="D"),
            "_source_file": rng.choice(["a.csv", "b.csv"], n).astype(object),
            "_row_number": np.arange(n),
        },
        index=rng.permutation(n) + 1000,
    )
    fast = loader._latest_per_key(good, entity)
    former = _old_latest_per_key(good, entity)
    assert len(fast) == good["loan_id"].nunique()
    pd.testing.assert_frame_equal(fast.sort_index(), former.sort_index())


def test_coerce_table_equals_coerce_of_the_text_frame(landing: Path) -> None:
    from nplpipeline.ingest.landing import list_drops
    from nplpipeline.ingest.readers import read_drop

    for name in ("customers", "repayments"):
        entity = ENTITIES[name]
        drop = list_drops(landing, name, END)[-1]
        table = read_drop(drop, entity)
        typed, masks = loader.coerce_table(table, entity)
        expected, expected_masks = coerce(table.to_pandas(date_as_object=False), entity)
        pd.testing.assert_frame_equal(typed, expected)
        assert masks.keys() == expected_masks.keys()
        for rule in masks:
            assert np.array_equal(masks[rule], expected_masks[rule])


def test_a_gx_session_validates_every_batch_and_builds_docs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three batches: three stored results, one checkpoint setup, one docs build."""
    builds: list[int] = []
    setups: list[str] = []
    real_update, real_checkpoint = gx_runner._update_docs, gx_runner._checkpoint

    def counting_update(context, gx_dir, ids, suite, source, keep):
        builds.append(len(ids))
        return real_update(context, gx_dir, ids, suite, source, keep)

    def counting_checkpoint(context, entity, suite):
        setups.append(entity)
        return real_checkpoint(context, entity, suite)

    monkeypatch.setattr(gx_runner, "_update_docs", counting_update)
    monkeypatch.setattr(gx_runner, "_checkpoint", counting_checkpoint)
    session = gx_runner.GxSession(tmp_path / "gx", project_root() / "expectations", keep=2)
    frame = pd.DataFrame(
        {"agency_id": ["A1", "A2"], "name": ["x", "y"], "commission_rate": [0.1, 2.0],
         "monthly_capacity": [10, 20], "provinces": ["GD", "SH"],
         "active": [True, True], "_source_file": ["a.csv", "a.csv"]}
    )  # fmt: skip
    runs = [session.run("agencies", frame, pd.Series([END, END]), {}, f"run-{i}") for i in range(3)]
    assert all(not r.success for r in runs)  # commission_rate 2.0 breaks its range
    assert setups == ["agencies"] and builds == []
    index = session.finish()
    assert builds == [3] and index is not None and index.startswith("file://")
    with gx_runner.gx_context(tmp_path / "gx") as context:
        from nplpipeline.validate.retention import suite_keys

        assert len(suite_keys(context)["npl_agencies"]) == 2  # pruned to keep
    assert dataclasses.asdict(runs[0])["data_docs_index"] is None


# -- a history load stopped before its current view was written ------------------------


def _stop(*args, **kwargs):
    raise sa.exc.OperationalError("stopped", None, RuntimeError("the worker died"))


def _stopping_after(calls: int, function):
    """``function``, except that the call after the first ``calls`` ones dies."""
    made = []

    def wrapper(*args, **kwargs):
        made.append(1)
        return _stop() if len(made) == calls + 1 else function(*args, **kwargs)

    return wrapper


def _views(engine) -> dict[str, pd.DataFrame]:
    state = _state(engine)
    names = [RAW_TABLES["loans"].name, HISTORY_TABLES["loans"].name, current_view_backlog.name]
    return {name: state[name] for name in names}


@pytest.mark.parametrize("stop", ["after two batches", "before the view is written"])
def test_a_stopped_history_load_is_finished_by_the_next_one(
    engine, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    """The batches a stopped load committed are in the history and the backlog, not yet in
    the current view; the next load writes them first, so the views end as one clean load
    leaves them."""
    options = IngestOptions(
        chunk_rows=40, gx_dir=tmp_path / "gx", suites_dir=project_root() / "expectations"
    )
    ingest_entity(engine, landing, "customers", END, options)
    ingest_entity(engine, landing, "loans", END, options)
    clean = _views(engine)
    assert clean["ops_current_view_backlog"].empty
    with begin(engine) as conn:
        for name in (*clean, load_audit.name, quarantine.name, dq_results.name):
            conn.execute(sa.text(f'DELETE FROM "{name}"'))
    ingest_entity(engine, landing, "customers", END, options)

    with monkeypatch.context() as patch:
        if stop == "after two batches":
            patch.setattr(loader, "_load_batch", _stopping_after(2, loader._load_batch))
        else:
            patch.setattr(loader, "refresh_current_view", _stop)
        with pytest.raises(loader.IngestDatabaseError, match="loans") as stopped:
            ingest_entity(engine, landing, "loans", END, options)
    assert "worker died" not in str(stopped.value)  # the driver's text is withheld
    lagging = _views(engine)
    assert not lagging["ops_current_view_backlog"].empty
    assert len(lagging["raw_loans"]) < len(clean["raw_loans"])

    ingest_entity(engine, landing, "loans", END, options)
    for name, frame in _views(engine).items():
        pd.testing.assert_frame_equal(frame, clean[name], obj=name)
