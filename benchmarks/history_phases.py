"""Where a history load's time goes, per entity and per phase, at a given book size.

    nice -n 0 python benchmarks/history_phases.py --loans 3000000 --entities customers,loans \
        --workdir /tmp/history-phases

Simulates ``--loans`` loans into ``<workdir>/<loans>`` (once: an existing landing zone is
reused), then loads each entity's history (every drop before the bench's day) into a
fresh DuckDB warehouse as ``npl_ingest`` does, timing the loader's phases from outside:
GX validation, the SCD-2 history append (and its interval closing within it), the
latest-view upsert (entities without history), the history entities' one refresh of
their current view, the whole write, and the commit. Comparing two sizes shows which
phase grows faster than the rows (issue #14's 10M history load). Prints one JSON line
per entity. Experiments (each changes the load, so never on a warehouse that matters):

- ``--checkpoint-threshold 100GB`` sets DuckDB's on every connection: are automatic
  checkpoints what a commit waits for?
- ``--without-keys history|current|both`` creates those tables with no primary key;
- ``--no-interval-closing`` leaves the SCD-2 intervals open;
- ``--merge-every-batch`` merges each batch into the history entities' current views
  (the loader before the view was written once per load from the history: the 10M
  load's quadratic commit).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import END, HISTORY_END, environment  # noqa: E402

TOTALS: dict[str, float] = {}


def _timed(function: Callable[..., Any], label: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        clock = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TOTALS[label] = TOTALS.get(label, 0.0) + time.perf_counter() - clock

    return wrapper


def _commit_timed(begin: Callable[..., Any]) -> Callable[..., Any]:
    """``begin`` whose exit (the COMMIT) is timed apart from the work inside it."""

    @contextlib.contextmanager
    def timed_begin(engine: Any) -> Iterator[Any]:
        manager = begin(engine)
        conn = manager.__enter__()
        try:
            yield conn
        except BaseException:
            manager.__exit__(*sys.exc_info())
            raise
        clock = time.perf_counter()
        manager.__exit__(None, None, None)
        TOTALS["commit"] = TOTALS.get("commit", 0.0) + time.perf_counter() - clock

    return timed_begin


def _drop_keys(which: str) -> None:
    """Tables created without their primary key (before ``ensure_schema`` makes them)."""
    import sqlalchemy as sa

    from nplpipeline.warehouse import tables

    chosen = list(tables.HISTORY_TABLES.values()) if which in ("history", "both") else []
    if which in ("current", "both"):
        chosen += [tables.RAW_TABLES[name] for name in tables.HISTORY_ENTITIES]
    for table in chosen:
        table.constraints.discard(table.primary_key)
        for column in table.columns:
            column.primary_key = False
        table.primary_key = sa.PrimaryKeyConstraint()
        table.primary_key._set_parent(table)


def _experiments(args: argparse.Namespace) -> None:
    import nplpipeline.ingest.loader as loader
    import nplpipeline.warehouse.history as history

    if args.without_keys:
        _drop_keys(args.without_keys)
    if args.no_interval_closing:
        history._close_intervals = lambda *_args, **_kwargs: None
    if args.merge_every_batch:

        def write_rows(conn: Any, entity: Any, good: Any, latest: Any, files: Any) -> None:
            if entity.name in loader.HISTORY_TABLES:
                loader._keep_history(conn, entity, good, files)
            table = loader.RAW_TABLES[entity.name]
            loader.upsert_latest(conn, table, entity.key, latest[[c.name for c in table.columns]])

        loader._write_rows = write_rows


def _instrument(checkpoint_threshold: str | None) -> None:
    import sqlalchemy as sa

    import nplpipeline.ingest.loader as loader
    import nplpipeline.warehouse.history as history

    for name, label in (("_run_expectations", "gx"), ("append_versions", "history"),
                        ("upsert_latest", "upsert"), ("_write_batch", "write"),
                        ("refresh_current_view", "refresh")):  # fmt: skip
        setattr(loader, name, _timed(getattr(loader, name), label))
    history._close_intervals = _timed(history._close_intervals, "close_intervals")
    loader.begin = _commit_timed(loader.begin)
    if checkpoint_threshold:

        @sa.event.listens_for(sa.engine.Engine, "connect")
        def _threshold(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute(f"SET checkpoint_threshold='{checkpoint_threshold}'")
            cursor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--entities", default="customers,loans")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "history-phases")
    parser.add_argument("--checkpoint-threshold", default=None, help="e.g. 100GB")
    parser.add_argument("--without-keys", choices=("history", "current", "both"))
    parser.add_argument("--no-interval-closing", action="store_true")
    parser.add_argument("--merge-every-batch", action="store_true")
    args = parser.parse_args()
    if args.no_interval_closing and not args.merge_every_batch:
        parser.error("the view refresh reads the closed intervals: add --merge-every-batch")
    workdir = args.workdir / str(args.loans)
    os.environ.update(environment(workdir))
    if not (workdir / "landing").exists():
        from nplpipeline.simulate.stage import run_simulation

        run_simulation(loans=args.loans, end_date=END)
    for stale in ("warehouse.duckdb", "warehouse.duckdb.wal", "var"):
        target = workdir / stale
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    _experiments(args)
    _instrument(args.checkpoint_threshold)
    from nplpipeline.ingest.stage import run_ingest_entity

    for entity in args.entities.split(","):
        TOTALS.clear()
        clock = time.perf_counter()
        out = run_ingest_entity(entity, HISTORY_END)
        seconds = time.perf_counter() - clock
        phases = {k: round(v, 1) for k, v in TOTALS.items()}
        line = {"loans": args.loans, "entity": entity, "seconds": round(seconds, 1),
                "rows_in": out.get("rows_in"), "phases_s": phases}  # fmt: skip
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
