"""The Great Expectations step of a history load alone, per entity, in CPU seconds.

    nice -n 19 python benchmarks/gx_checkpoint.py capture --loans 200000 \
        --workdir /tmp/gx-checkpoint
    nice -n 19 python benchmarks/gx_checkpoint.py time --workdir /tmp/gx-checkpoint/200000
    nice -n 19 python benchmarks/gx_checkpoint.py profile --workdir /tmp/gx-checkpoint/200000

``capture`` simulates ``--loans`` loans (once), loads the history of the large entities
(customers, loans, installments, repayments, collection_actions) as ``npl_ingest`` does,
and pickles what the loader hands :meth:`GxSession.run` for each entity's first batch
(typed frame, drop dates, ``known`` flags, row-count band). ``time`` replays those
inputs through a fresh :class:`GxSession` (``gx_frame`` plus the checkpoint, as in the
loader) and prints one JSON line per entity: rows, CPU and wall seconds, rows per CPU
second, and a digest of the per-expectation verdicts and counts, so two checkouts'
lines show both the speed and that no verdict moved. ``profile`` validates each
expectation of the suite on its own on the ``gx_frame`` of those inputs and prints the
slowest ones with the dtype GX saw (the suite run shares metrics, so the parts add up
to more than the whole).

Before/after a change, run ``time`` with ``PYTHONPATH`` pointing at each checkout, in
turns (A B A B), since the machine is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from nplpipeline.validate.suites import ROW_COUNT_PARAMS

ENTITIES = ("customers", "loans", "installments", "repayments", "collection_actions")


def _capture(loans: int, workdir: Path) -> None:
    """Real loads of each entity's history; the first batch's GX inputs pickled."""
    from benchmarks.run import END, HISTORY_END, environment

    workdir = workdir / str(loans)
    os.environ.update(environment(workdir))
    if not (workdir / "landing").exists():
        from nplpipeline.simulate.stage import run_simulation

        run_simulation(loans=loans, end_date=END)
    for stale in ("warehouse.duckdb", "warehouse.duckdb.wal", "var"):
        target = workdir / stale
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    from nplpipeline.ingest.stage import run_ingest_entity
    from nplpipeline.validate.gx_runner import GxSession

    original = GxSession.run

    def run(self: Any, entity: str, typed: Any, **kwargs: Any) -> Any:
        path = workdir / "gx-inputs" / f"{entity}.pickle"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            inputs = (entity, typed, kwargs["drop_dates"], kwargs["known"])
            with open(path, "wb") as handle:
                pickle.dump((*inputs, kwargs.get("expected_rows")), handle)
        return original(self, entity, typed, **kwargs)

    GxSession.run = run
    for entity in ENTITIES:
        out = run_ingest_entity(entity, HISTORY_END)
        print(json.dumps({"entity": entity, "rows_in": out["rows_in"]}), flush=True)


def _inputs(workdir: Path, entities: list[str]) -> list[tuple[Any, ...]]:
    out = []
    for entity in entities:
        with open(workdir / "gx-inputs" / f"{entity}.pickle", "rb") as handle:
            out.append(pickle.load(handle))
    return out


def _digest(run: Any) -> str:
    """Every expectation's verdict and counts, in suite order, as a short hash."""
    rows = [dataclasses.astuple(o) for o in run.outcomes]
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:16]


def _time(workdir: Path, entities: list[str], suites_dir: Path) -> None:
    """Each entity's batch through a fresh GxSession: gx_frame + checkpoint, no docs."""
    from nplpipeline.validate.gx_runner import GxSession

    for entity, typed, drop_dates, known, rows in _inputs(workdir, entities):
        gx_dir = Path(tempfile.mkdtemp(prefix="gx-checkpoint-"))
        try:
            session = GxSession(gx_dir, suites_dir, keep=30)
            head = {k: v[:1000] for k, v in known.items()}
            session.run(entity, typed.head(1000), drop_dates.head(1000), head, "warm-up", rows)
            cpu, wall = time.process_time(), time.perf_counter()
            run = session.run(entity, typed, drop_dates, known, "timed", rows)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            shutil.rmtree(gx_dir, ignore_errors=True)
        failed = sorted(o.rule for o in run.outcomes if not o.success)
        line = {"entity": entity, "rows": len(typed), "cpu_s": round(cpu, 2),
                "wall_s": round(wall, 2), "rows_per_cpu_s": round(len(typed) / cpu),
                "verdicts": _digest(run), "failed": failed}  # fmt: skip
        print(json.dumps(line), flush=True)


def _profile(workdir: Path, entities: list[str], suites_dir: Path, top: int) -> None:
    """Each expectation validated alone on the frame GX gets, less the cost of a batch
    (the median ``expect_column_to_exist``: every lone validation re-reads the batch);
    the slowest first, then the suite once under cProfile (the metric functions)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from nplpipeline.validate.gx_runner import RESULT_FORMAT, gx_frame
    from nplpipeline.validate.suites import load_suite

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("profile")
    for entity, typed, drop_dates, known, rows in _inputs(workdir, entities):
        frame = gx_frame(entity, typed, drop_dates, known)
        batch = source.add_dataframe_asset(entity).add_batch_definition_whole_dataframe("all")
        batch = batch.get_batch(batch_parameters={"dataframe": frame})
        suite = load_suite(suites_dir, entity)
        timings = [_lone(batch, e, frame, RESULT_FORMAT) for e in suite.expectations]
        base = float(np.median([t for t, _, kind, _ in timings if kind.endswith("to_exist")]))
        print(json.dumps({"entity": entity, "rows": len(frame), "batch_cpu_s": round(base, 3)}))
        for cpu, rule, kind, dtypes in sorted(timings, reverse=True)[:top]:
            line = {"entity": entity, "rule": rule, "type": kind, "dtypes": dtypes,
                    "cpu_s": round(cpu - base, 3),
                    "us_per_row": round((cpu - base) / len(frame) * 1e6, 2)}  # fmt: skip
            print(json.dumps(line), flush=True)
        params = dict(zip(ROW_COUNT_PARAMS, rows or (0, None), strict=True))
        _suite_profile(batch, suite, params, RESULT_FORMAT, top)


def _lone(batch: Any, expectation: Any, frame: Any, result_format: Any) -> tuple[Any, ...]:
    kwargs = expectation.configuration.kwargs
    cpu = time.process_time()
    batch.validate(
        expectation,
        result_format=result_format,
        expectation_parameters=dict.fromkeys(ROW_COUNT_PARAMS),
    )
    cpu = time.process_time() - cpu
    columns = kwargs.get("column_list") or [
        kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs
    ]
    dtypes = sorted({str(frame[c].dtype) for c in columns if c in frame})
    rule = (expectation.meta or {}).get("rule")
    return cpu, rule, expectation.expectation_type, dtypes


def _suite_profile(batch: Any, suite: Any, params: Any, result_format: Any, top: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    cpu = time.process_time()
    profiler.runcall(batch.validate, suite, result_format=result_format,
                     expectation_parameters=params)  # fmt: skip
    print(json.dumps({"suite_cpu_s": round(time.process_time() - cpu, 3)}))
    stats = pstats.Stats(profiler)
    rows = [(v[3], k) for k, v in stats.stats.items()]  # cumulative seconds
    metrics = [r for r in rows if "expectations/metrics" in r[1][0] and r[1][2] != "inner_func"]
    for seconds, (path, line, name) in sorted(metrics, reverse=True)[:top]:
        where = f"{path.split('great_expectations/')[-1]}:{line}:{name}"
        print(json.dumps({"cumulative_s": round(seconds, 3), "function": where}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("capture", "time", "profile"))
    parser.add_argument("--loans", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--entities", default=",".join(ENTITIES))
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    from nplpipeline.settings import project_root

    suites = project_root() / "expectations"
    entities = args.entities.split(",")
    if args.mode == "capture":
        _capture(args.loans, args.workdir)
    elif args.mode == "time":
        _time(args.workdir, entities, suites)
    else:
        _profile(args.workdir, entities, suites, args.top)


if __name__ == "__main__":
    main()
