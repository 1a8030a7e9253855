"""Shards K=1 vs K=N: the per-account stages of one day, each shard in its own process.

Prepares a workdir once (simulate, ingest the history, month-end features and a
champion trained on them), then for each K runs the snapshot, scoring (features +
scores + reason codes) and treatment plan shard by shard in a pool of ``--parallel``
processes (what Airflow's workers do with mapped tasks), and the worklists once after.
Reports per stage the wall seconds and the largest peak RSS of one process. No
assertions; the numbers go to benchmarks/README.md.

    nice -n 10 python benchmarks/shards.py --loans 100000 --shards 1 4 --parallel 2 \\
        --workdir /tmp/npl-bench-shards [--warehouse-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END = dt.date(2026, 10, 31)
STAGES = ("delinquency", "score", "plan")


def _env(workdir: Path, warehouse_url: str | None) -> None:
    os.environ["NPL_HOME"] = str(workdir / "var")
    os.environ["NPL_WAREHOUSE_URL"] = warehouse_url or f"duckdb:///{workdir / 'warehouse.duckdb'}"
    os.environ["NPL_LANDING_DIR"] = str(workdir / "landing")
    os.environ["NPL_GROUND_TRUTH_DIR"] = str(workdir / "truth")
    os.environ["NPL_MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    os.environ["NPL_MLFLOW_ARTIFACT_ROOT"] = str(workdir / "artifacts")


def prepare(workdir: Path, loans: int) -> dict[str, float]:
    """Simulate, ingest and train once per workdir (skipped when already done)."""
    marker = workdir / "prepared.json"
    if marker.exists():
        return json.loads(marker.read_text())
    from nplpipeline.features.calendar import month_ends
    from nplpipeline.features.stage import run_build_features
    from nplpipeline.ingest.stage import run_ingest
    from nplpipeline.model.config import ModelConfig
    from nplpipeline.model.stage import run_training
    from nplpipeline.simulate.stage import run_simulation

    seconds = {}
    clock = time.perf_counter()
    run_simulation(loans=loans, end_date=END, dirty_share=0.0)
    seconds["simulate"], clock = time.perf_counter() - clock, time.perf_counter()
    run_ingest(END)
    seconds["ingest"], clock = time.perf_counter() - clock, time.perf_counter()
    ends = month_ends(END - dt.timedelta(days=31 * 8), END - dt.timedelta(days=95))
    run_build_features(ends)
    config = ModelConfig(evaluation_sample_rows=2000, importance_sample_rows=1000)
    run_training(ends[0], ends[-1], config=config)
    seconds["train"] = time.perf_counter() - clock
    marker.write_text(json.dumps(seconds))
    return seconds


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited across exec,
    so a spawned shard process reports its own peak, not its parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _one_shard(args: tuple[str, int, int, Path, str | None]) -> dict[str, float]:
    """One shard of one stage in a fresh process: seconds and this process's peak RSS."""
    stage, index, count, workdir, warehouse_url = args
    _env(workdir, warehouse_url)
    from nplpipeline.act.stage import run_treatment_plan
    from nplpipeline.delinquency.stage import run_delinquency_snapshot
    from nplpipeline.score.stage import run_scoring
    from nplpipeline.warehouse.shards import Shard

    run = {"delinquency": run_delinquency_snapshot, "score": run_scoring,
           "plan": run_treatment_plan}[stage]  # fmt: skip
    clock = time.perf_counter()
    run(END, shard=Shard(index, count))
    peak = _peak_mb()
    return {"seconds": time.perf_counter() - clock, "peak_mb": peak}


def _worklists(workdir: Path, warehouse_url: str | None) -> dict[str, float]:
    _env(workdir, warehouse_url)
    from nplpipeline.act.stage import run_worklists

    clock = time.perf_counter()
    run_worklists(END)
    peak = _peak_mb()
    return {"seconds": time.perf_counter() - clock, "peak_mb": peak}


def run_k(k: int, parallel: int, workdir: Path, warehouse_url: str | None) -> list[dict]:
    rows = []
    context = get_context("spawn")  # a fresh interpreter per shard, like a task process
    for stage in STAGES:
        clock = time.perf_counter()
        jobs = [(stage, i, k, workdir, warehouse_url) for i in range(k)]
        with ProcessPoolExecutor(parallel, mp_context=context, max_tasks_per_child=1) as pool:
            shards = list(pool.map(_one_shard, jobs))
        rows.append({
            "k": k, "stage": stage, "wall_s": round(time.perf_counter() - clock, 1),
            "slowest_shard_s": round(max(s["seconds"] for s in shards), 1),
            "peak_mb_per_process": round(max(s["peak_mb"] for s in shards)),
        })  # fmt: skip
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        reduce = pool.submit(_worklists, workdir, warehouse_url).result()
    rows.append({
        "k": k, "stage": "worklists (reduce)", "wall_s": round(reduce["seconds"], 1),
        "slowest_shard_s": None, "peak_mb_per_process": round(reduce["peak_mb"]),
    })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--warehouse-url", default=None)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    _env(args.workdir, args.warehouse_url)
    sys.path.insert(0, str(ROOT))
    prepared = prepare(args.workdir, args.loans)
    rows = [row for k in args.shards for row in run_k(k, args.parallel, args.workdir,
                                                      args.warehouse_url)]  # fmt: skip
    print(json.dumps({"loans": args.loans, "parallel": args.parallel, "prepare_s": prepared,
                      "stages": rows}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
