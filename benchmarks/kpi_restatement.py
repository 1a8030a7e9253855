"""Time the KPI step's restatement alone on a kept bench warehouse (issue #14): the
trailing year's month-end snapshots as known (``stream_snapshots_as_known``, the loans
read as the stage reads them) and the portfolio marts built from them
(``from_snapshots``), CPU seconds (``time.process_time``) and wall, each ``--repeat``
times in this process. Read-only: nothing is written to the warehouse.

    PYTHONPATH=<tree> nice -n 19 python benchmarks/kpi_restatement.py \\
        --warehouse /tmp/bench/300000/warehouse.duckdb --parts 4 --repeat 3

Run it once with ``PYTHONPATH`` at each tree to compare (the script imports whatever
``nplpipeline`` the path gives); ``--parts`` is the number of loan-hash parts (the
stage's ``NPL_REDUCE_LOANS_PER_PART`` gives 4 at 1M loans).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import sqlalchemy as sa

from nplpipeline.delinquency.as_known_streamed import stream_snapshots_as_known
from nplpipeline.report.marts.inputs import read_loans
from nplpipeline.report.marts.stage import from_snapshots, snapshot_dates
from nplpipeline.settings import get_settings

END = dt.date(2026, 10, 31)  # benchmarks/run.py's day


def _timed(call):
    cpu, wall = time.process_time(), time.perf_counter()
    out = call()
    return out, round(time.process_time() - cpu, 2), round(time.perf_counter() - wall, 2)


def measure(warehouse: Path, parts: int, as_of: dt.date) -> dict[str, float]:
    policy = get_settings().policy
    engine = sa.create_engine(f"duckdb:///{warehouse}", connect_args={"read_only": True})
    with engine.connect() as conn:
        loans = read_loans(conn, as_of)
        snaps, cpu, wall = _timed(
            lambda: stream_snapshots_as_known(
                conn, as_of, snapshot_dates(as_of)[1], policy.delinquency, loans["loan_id"], parts
            )
        )
    engine.dispose()
    _, marts_cpu, marts_wall = _timed(lambda: from_snapshots(as_of, snaps, loans, policy))
    return {
        "rows": len(snaps), "restate_cpu_s": cpu, "restate_wall_s": wall,
        "portfolio_cpu_s": marts_cpu, "portfolio_wall_s": marts_wall,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=END)
    args = parser.parse_args()
    for _ in range(args.repeat):
        print(json.dumps(measure(args.warehouse, args.parts, args.as_of)), flush=True)


if __name__ == "__main__":
    main()
