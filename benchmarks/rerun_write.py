"""Time a first write and reruns of one date's delinquency snapshot (issue #14: a rerun's
write replaced 1M rows and DuckDB rebuilt the primary-key index at commit, 31.9 s).

    python benchmarks/rerun_write.py --rows 1000000 --workdir /tmp/rerun-writes

A synthetic frame with ``int_delinquency_snapshot``'s columns goes into a fresh DuckDB
file: an optional earlier date (``--other-dates``), then the date's first write, an
identical rerun, a rerun with ``--changed`` of the rows changed, and a rerun with every
row changed. Each write is its own transaction, timed with its commit. The path to the
package comes first from ``PYTHONPATH`` (so one script times two trees).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.append(str(Path(__file__).resolve().parents[1]))

from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.partitions import replace_partition

MONEY = (
    "overdue_principal", "overdue_interest", "overdue_fees", "overdue_amount",
    "outstanding_principal", "total_paid",
)  # fmt: skip


def snapshot_frame(rows: int, as_of: dt.date, seed: int = 7) -> pd.DataFrame:
    """``rows`` loans on ``as_of``, shaped like the snapshot (money in cents, some NULLs)."""
    rng = np.random.default_rng(seed)
    dpd = rng.integers(0, 400, rows)
    frame = pd.DataFrame(
        {
            "as_of_date": pd.Timestamp(as_of),
            "loan_id": [f"L{i:08d}" for i in range(rows)],
            "customer_id": [f"C{i:08d}" for i in rng.integers(0, rows, rows)],
            "product": rng.choice(["cash", "card", "auto"], rows),
            "status": rng.choice(["active", "closed", None], rows),
            "dpd": dpd,
            "bucket": np.where(dpd > 90, "90+", "0-90"),
            "regulatory_grade": np.where(dpd > 90, "substandard", "normal"),
            "is_npl": dpd > 90,
            "oldest_unpaid_due_date": pd.Timestamp(as_of) - pd.to_timedelta(dpd, "D"),
            "last_payment_date": pd.Timestamp(as_of) - pd.to_timedelta(dpd // 2, "D"),
            "installments_due": rng.integers(1, 60, rows),
            "installments_overdue": dpd // 30,
            "months_on_book": rng.integers(1, 60, rows),
            "on_book": True,
        }
    )
    for col in MONEY:
        frame[col] = rng.integers(0, 10_000_000, rows) / 100
    frame.loc[dpd == 0, "oldest_unpaid_due_date"] = pd.NaT
    return frame[[c.name for c in delinquency_snapshot.columns]]


def timed_write(engine, as_of: dt.date, frame: pd.DataFrame) -> float:
    clock = time.perf_counter()
    with begin(engine) as conn:
        replace_partition(conn, delinquency_snapshot, "as_of_date", as_of, frame)
    return round(time.perf_counter() - clock, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rerun-writes"))
    parser.add_argument("--other-dates", type=int, default=0)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"rerun-{time.time_ns()}.duckdb"
    engine = create_warehouse_engine(f"duckdb:///{path}")
    delinquency_snapshot.create(engine)
    as_of = dt.date(2026, 11, 30)
    for k in range(args.other_dates, 0, -1):
        earlier = as_of - dt.timedelta(days=k)
        timed_write(engine, earlier, snapshot_frame(args.rows, earlier))
    frame = snapshot_frame(args.rows, as_of)
    some = frame.copy()
    hit = np.random.default_rng(1).random(len(frame)) < args.changed
    some.loc[hit, "dpd"] += 1
    every = frame.assign(dpd=frame["dpd"] + 1)
    figures = {
        "rows": args.rows,
        "other_dates": args.other_dates,
        "first_run_s": timed_write(engine, as_of, frame),
        "identical_rerun_s": timed_write(engine, as_of, frame),
        f"rerun_{args.changed:.0%}_changed_s": timed_write(engine, as_of, some),
        "rerun_all_changed_s": timed_write(engine, as_of, every),
    }
    engine.dispose()
    path.unlink()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
