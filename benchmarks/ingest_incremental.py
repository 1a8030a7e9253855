"""Issue #14 item 3: the history load's rows/s and one day's incremental ingest.

Simulates ``--loans`` loans up to ``END_DATE``, loads every drop up to the day before
(the history load), then ingests the last day alone (the daily ingest), each in its
own process so the peak RSS is that step's. GX runs as in production (``NPL_GX_DIR``
under the work folder) unless ``--no-gx``. Prints one JSON line per step; no assertions.

    nice -n 10 python benchmarks/ingest_incremental.py --loans 100000
    nice -n 10 python benchmarks/ingest_incremental.py --steps day --no-gx --workdir W
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END_DATE = dt.date(2026, 10, 31)


def _env(workdir: Path) -> None:
    os.environ.setdefault("NPL_WAREHOUSE_URL", f"duckdb:///{workdir / 'warehouse.duckdb'}")
    os.environ["NPL_HOME"] = str(workdir / "var")
    os.environ["NPL_LANDING_DIR"] = str(workdir / "landing")
    os.environ["NPL_GROUND_TRUTH_DIR"] = str(workdir / "ground_truth")
    os.environ["NPL_GX_DIR"] = str(workdir / "gx")


def _ingest(day: dt.date, gx: bool) -> int:
    """Rows in for every entity up to ``day``; without GX the loader's own work alone."""
    from nplpipeline.contract import LOAD_ORDER
    from nplpipeline.ingest.loader import IngestOptions, ingest_entity
    from nplpipeline.ingest.stage import run_ingest
    from nplpipeline.settings import get_settings
    from nplpipeline.warehouse.engine import create_warehouse_engine

    if gx:
        return sum(int(r["rows_in"]) for r in run_ingest(day))
    settings = get_settings()
    engine = create_warehouse_engine(settings.warehouse_url)
    options = IngestOptions(chunk_rows=settings.ingest_chunk_rows)
    try:
        return sum(
            ingest_entity(engine, settings.landing_dir, e, day, options).rows_in for e in LOAD_ORDER
        )
    finally:
        engine.dispose()


def _step(name: str, loans: int, workdir: Path, gx: bool) -> dict[str, object]:
    _env(workdir)
    start = time.perf_counter()
    if name == "simulate":
        from nplpipeline.simulate.stage import run_simulation

        out = run_simulation(loans=loans, end_date=END_DATE)
        rows = sum(out["rows_written"].values())
    else:
        day = END_DATE - dt.timedelta(days=1) if name == "history" else END_DATE
        rows = _ingest(day, gx)
    seconds = time.perf_counter() - start
    return {
        "step": name,
        "loans": loans,
        "gx": gx,
        "seconds": round(seconds, 2),
        "rows": rows,
        "rows_per_s": round(rows / seconds) if seconds else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-ingest")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument(
        "--steps", nargs="+", default=["simulate", "history", "day"], help="steps to run"
    )
    parser.add_argument("--no-gx", action="store_true", help="skip the GX checkpoints")
    args = parser.parse_args()
    if args.step:
        print(json.dumps(_step(args.step, args.loans, args.workdir, not args.no_gx)))
        return
    if "simulate" in args.steps:
        shutil.rmtree(args.workdir, ignore_errors=True)
        args.workdir.mkdir(parents=True)
    for name in args.steps:
        command = [sys.executable, __file__, "--step", name, "--loans", str(args.loans),
                   "--workdir", str(args.workdir)] + ["--no-gx"] * args.no_gx  # fmt: skip
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
