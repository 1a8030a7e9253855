"""``make bench``: time every stage of the chain on simulated portfolios.

Each stage runs in its own process so its peak memory is its own (``ru_maxrss``). The
warehouse is the embedded DuckDB default; set ``NPL_WAREHOUSE_URL`` to time PostgreSQL.
Prints one JSON document and writes it to ``benchmarks/results/``. No assertions:
speed targets are read here, not enforced in tests.

    python benchmarks/run.py --loans 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END_DATE = "2026-10-31"


def _stage(name: str, loans: int, workdir: Path) -> dict[str, object]:
    """Run one stage in this process and report seconds, rows and peak RSS."""
    import datetime as dt

    os.environ.setdefault("NPL_WAREHOUSE_URL", f"duckdb:///{workdir / 'warehouse.duckdb'}")
    os.environ["NPL_LANDING_DIR"] = str(workdir / "landing")
    os.environ["NPL_GROUND_TRUTH_DIR"] = str(workdir / "ground_truth")
    start = time.perf_counter()
    phases = None
    if name == "simulate":
        from nplpipeline.simulate.stage import run_simulation

        out = run_simulation(loans=loans, end_date=END_DATE)
        rows = sum(out["rows_written"].values())
    elif name == "ingest":
        from nplpipeline.ingest.stage import run_ingest

        out = run_ingest(dt.date.fromisoformat(END_DATE))
        rows = sum(r["rows_in"] for r in out)
    elif name == "delinquency":
        from nplpipeline.delinquency.stage import run_delinquency_snapshot

        out = run_delinquency_snapshot(dt.date.fromisoformat(END_DATE))
        rows = int(out["loans"])
        phases = out["seconds"]
    else:
        raise SystemExit(f"unknown stage {name}")
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "stage": name,
        "seconds": round(seconds, 2),
        "rows": rows,
        "rows_per_s": round(rows / seconds) if seconds else None,
        "peak_rss_mb": round(peak_mb),
        **({"phases_s": phases} if phases else {}),
    }


def _run_stage_process(name: str, loans: int, workdir: Path) -> dict[str, object]:
    command = [sys.executable, __file__, "--stage", name, "--loans", str(loans),
               "--workdir", str(workdir)]  # fmt: skip
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args()

    if args.stage:  # child process: one stage
        print(json.dumps(_stage(args.stage, args.loans[0], args.workdir)))
        return

    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "warehouse": os.environ.get("NPL_WAREHOUSE_URL", "duckdb (embedded)"),
        "runs": [],
    }
    for loans in args.loans:
        workdir = args.workdir / f"{loans}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        stages = [
            _run_stage_process(name, loans, workdir)
            for name in ("simulate", "ingest", "delinquency")
        ]
        report["runs"].append({"loans": loans, "stages": stages})
        print(json.dumps(report["runs"][-1]), file=sys.stderr, flush=True)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    out = ROOT / "benchmarks" / "results" / f"bench-{int(time.time())}.json"
    out.write_text(text)


if __name__ == "__main__":
    main()
