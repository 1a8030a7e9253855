"""Seconds per lender-twin day (status quo decisions + step) and the warm-up, by size.

nice -n 10 python benchmarks/twin_day.py --loans 20000 --days 5 --out /tmp/twin-bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import time
from pathlib import Path

from nplpipeline.simulate.twin import (
    TwinConfig,
    load_status_quo_policy,
    status_quo_decisions,
    step_day,
    warm_up,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loans", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    cfg = TwinConfig(n_loans=a.loans, seed=a.seed)
    t0 = time.perf_counter()
    warm_up(cfg, a.out / "twin", a.out / "landing", a.out / "truth")
    warm = time.perf_counter() - t0
    policy = load_status_quo_policy()
    decide, step = [], []
    day = cfg.start_date
    for _ in range(a.days):
        t0 = time.perf_counter()
        decisions = status_quo_decisions(a.out / "twin", day, policy)
        t1 = time.perf_counter()
        step_day(a.out / "twin", day, decisions, a.out / "landing", a.out / "truth")
        decide.append(t1 - t0)
        step.append(time.perf_counter() - t1)
        day += dt.timedelta(days=1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"loans={a.loans} warm_up={warm:.1f}s step_day mean={sum(step) / len(step):.2f}s"
        f" max={max(step):.2f}s status_quo_decisions mean={sum(decide) / len(decide):.2f}s"
        f" peak_rss={rss:.0f}MB"
    )


if __name__ == "__main__":
    main()
