"""GX retention: the newest N validation results and Data Docs pages per suite stay,
older ones go (through the GX store), and the docs index stops listing them."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_gx_suites import _clean_overrides, _frame, _run

from nplpipeline.validate.retention import prune_validations, run_validation_retention

RUNS = ("run-a", "run-b", "run-c")


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three validations of two suites, oldest first."""
    folder = tmp_path_factory.mktemp("gx-retention")
    for run_name in RUNS:
        for entity in ("agencies", "collectors"):
            _run(entity, _frame(entity, _clean_overrides(entity)[:2]), folder, run_name=run_name)
    return folder


def _results(gx_dir: Path, suite: str) -> list[str]:
    store = gx_dir / "uncommitted/validations"
    return sorted(p.parent.parent.name for p in store.glob(f"{suite}/*/*/*.json"))


def _pages(gx_dir: Path, suite: str) -> list[str]:
    docs = gx_dir / "uncommitted/data_docs/local_site/validations"
    return sorted(p.parent.parent.name for p in docs.glob(f"{suite}/*/*/*.html"))


def test_keeps_the_newest_per_suite_and_drops_the_rest(gx_dir: Path) -> None:
    assert _results(gx_dir, "npl_agencies") == list(RUNS)
    assert _pages(gx_dir, "npl_agencies") == list(RUNS)

    pruned = prune_validations(gx_dir, keep=2)

    assert pruned.deleted == {"npl_agencies": 1, "npl_collectors": 1}
    assert pruned.kept == {"npl_agencies": 2, "npl_collectors": 2}
    assert pruned.pages_deleted == 2
    for suite in ("npl_agencies", "npl_collectors"):
        assert _results(gx_dir, suite) == ["run-b", "run-c"]
        assert _pages(gx_dir, suite) == ["run-b", "run-c"]
    index = (gx_dir / "uncommitted/data_docs/local_site/index.html").read_text()
    assert "run-a" not in index and "run-c" in index

    again = prune_validations(gx_dir, keep=2)  # idempotent: nothing more to delete
    assert again.deleted == {"npl_agencies": 0, "npl_collectors": 0}


def test_the_task_reads_its_setting(gx_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPL_GX_DIR", str(gx_dir))
    monkeypatch.setenv("NPL_GX_KEEP_RESULTS", "1")
    summary = run_validation_retention()
    assert summary["keep"] == 1
    assert _results(gx_dir, "npl_collectors") == ["run-c"]


def test_no_gx_project_is_left_alone(tmp_path: Path) -> None:
    assert prune_validations(tmp_path / "none", keep=3).deleted == {}
    assert not (tmp_path / "none").exists()
    with pytest.raises(ValueError, match="at least 1"):
        prune_validations(tmp_path, keep=0)


def test_each_checkpoint_keeps_its_suite_inside_the_window(tmp_path: Path) -> None:
    """``keep`` on a run prunes before the docs build: the store, the pages and the index
    never hold more than the window, however many batches ran (a history load's)."""
    frame = _frame("agencies", _clean_overrides("agencies")[:2])
    suite_page = tmp_path / "uncommitted/data_docs/local_site/expectations/npl_agencies.html"
    for run_name in ("run-1", "run-2", "run-3", "run-4"):
        _run("agencies", frame, tmp_path, run_name=run_name, keep=2)
        assert len(_results(tmp_path, "npl_agencies")) <= 2
        if run_name == "run-1":
            rendered = suite_page.stat().st_mtime_ns
    assert suite_page.stat().st_mtime_ns == rendered  # the unchanged suite: rendered once
    assert _results(tmp_path, "npl_agencies") == ["run-3", "run-4"]
    assert _pages(tmp_path, "npl_agencies") == ["run-3", "run-4"]
    index = (tmp_path / "uncommitted/data_docs/local_site/index.html").read_text()
    assert "run-4" in index and "run-2" not in index and "run-1" not in index


def test_pruning_rebuilds_the_index_not_every_kept_page(tmp_path: Path) -> None:
    """Kept pages stay as rendered; a full rebuild would rewrite every one of them."""
    frame = _frame("agencies", _clean_overrides("agencies")[:2])
    for run_name in RUNS:
        _run("agencies", frame, tmp_path, run_name=run_name)
    docs = tmp_path / "uncommitted/data_docs/local_site/validations"
    before = {p: p.stat().st_mtime_ns for p in docs.glob("npl_agencies/*/*/*.html")}
    assert len(before) == 3

    prune_validations(tmp_path, keep=2)  # run-a goes; the index and run-c are rebuilt

    after = {p: p.stat().st_mtime_ns for p in docs.glob("npl_agencies/*/*/*.html")}
    assert len(after) == 2
    untouched = sorted(p.parent.parent.name for p in after if after[p] == before[p])
    assert untouched == ["run-b"]
