"""The stand-in CRM's store over a long live run: seconds per applied batch, day 1 vs last.

Feeds ``CrmState.submit`` what a live run sends (``--batches`` batches of ``--items``
worklist items a day for ``--days`` days) and times each batch. ``--old <module file>``
times a previous ``crm_server.py`` the same way (e.g. the JSON store that rewrote its
whole state per batch: ``git show 9ae4093:nplpipeline/devtools/crm_server.py >
/tmp/old_crm.py``).

    nice -n 10 python benchmarks/crm_store.py --days 30 --batches 4 --items 1000
    nice -n 10 python benchmarks/crm_store.py --days 30 --old /tmp/old_crm.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _state_class(old: Path | None):
    if old is None:
        from nplpipeline.devtools.crm_server import CrmState

        return CrmState
    spec = importlib.util.spec_from_file_location("old_crm_server", old)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.CrmState


def _item(day: int, n: int) -> dict:
    return {
        "item_id": f"{day:04d}-{n:06d}",
        "loan_id": f"L{n:09d}",
        "customer_id": f"C{n:09d}",
        "channel": "call",
        "queue": "E0001",
        "queue_rank": n,
        "timezone": "Asia/Shanghai",
        "window_start_utc": "2026-11-01T01:00:00Z",
        "window_end_utc": "2026-11-01T12:00:00Z",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--old", type=Path, default=None)
    args = parser.parse_args()
    state_class = _state_class(args.old)
    start = dt.date(2026, 11, 1)
    per_day: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        state = state_class(Path(tmp) / "crm-state")
        for d in range(args.days):
            as_of = (start + dt.timedelta(days=d)).isoformat()
            seconds = []
            for b in range(args.batches):
                items = [_item(d, b * args.items + i) for i in range(args.items)]
                key = hashlib.sha256(f"{as_of}-{b}".encode()).hexdigest()
                body = hashlib.sha256(json.dumps(items).encode()).hexdigest()
                began = time.perf_counter()
                state.submit(as_of, key, body, items)
                seconds.append(time.perf_counter() - began)
            per_day.append(statistics.mean(seconds))
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    print(
        json.dumps(
            {
                "store": str(args.old or "sqlite"),
                "days": args.days,
                "batches_per_day": args.batches,
                "items_per_batch": args.items,
                "seconds_per_batch_day_1": round(per_day[0], 4),
                "seconds_per_batch_last_day": round(per_day[-1], 4),
                "seconds_total": round(sum(per_day) * args.batches, 2),
                "store_mb": round(size / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
