"""Validation speed: one 1M-row repayments drop through the whole ingest path.

Reads the CSV as text, types it by the contract, runs every row rule, runs the
repayments Great Expectations checkpoint (with Data Docs), splits good rows from
quarantined ones and upserts, all timed end to end. 0.5% of rows are dirty.

    python benchmarks/validate_repayments.py --rows 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nplpipeline.ingest.loader import IngestOptions, ingest_entity
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import project_root
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.frames import insert_frame
from nplpipeline.warehouse.tables import RAW_TABLES

DROP = dt.date(2026, 10, 31)


def _loans(n: int) -> pd.DataFrame:
    ids = [f"L{i:09d}" for i in range(n)]
    return pd.DataFrame(
        {
            "loan_id": ids, "customer_id": [f"C{i:09d}" for i in range(n)],
            "product": "cash_loan", "origination_date": pd.Timestamp("2025-01-01"),
            "principal_amount": 10_000.0, "annual_interest_rate": 0.18, "term_months": 12,
            "currency": "CNY", "status": "active", "updated_at": pd.Timestamp("2025-01-01"),
            "_version": pd.Timestamp("2025-01-01"), "_drop_date": pd.Timestamp("2025-01-01"),
            "_source_file": "loans/2025-01-01/part.csv", "_row_number": np.arange(n) + 2,
        }
    )  # fmt: skip


def _repayments(rows: int, loans: int, rng: np.random.Generator) -> pd.DataFrame:
    seconds = rng.integers(0, 300 * 86_400, rows)
    paid = pd.Timestamp("2026-01-01") + pd.to_timedelta(seconds, unit="s")
    frame = pd.DataFrame(
        {
            "repayment_id": [f"R{i:010d}" for i in range(rows)],
            "loan_id": [f"L{i:09d}" for i in rng.integers(0, loans, rows)],
            "paid_at": paid.strftime("%Y-%m-%dT%H:%M:%S"),
            "amount": np.round(rng.uniform(50, 3_000, rows), 2),
            "reversal_of": "", "channel": rng.choice(["app", "bank_transfer", "collector"], rows),
            "agency_id": "", "collector_id": "", "updated_at": paid.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )  # fmt: skip
    dirty = rng.choice(rows, rows // 200, replace=False)
    frame.loc[dirty[0::3], "amount"] = -1.0
    frame.loc[dirty[1::3], "loan_id"] = "L_UNKNOWN"
    frame.loc[dirty[2::3], "channel"] = "wechat"
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loans", type=int, default=200_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="npl-bench-validate-"))
    try:
        engine = create_warehouse_engine(f"duckdb:///{work / 'warehouse.duckdb'}")
        with begin(engine) as conn:
            ensure_schema(conn)
            insert_frame(conn, RAW_TABLES["loans"], _loans(args.loans))
        drop = work / "landing" / "repayments" / DROP.isoformat() / "part-0.csv"
        drop.parent.mkdir(parents=True)
        _repayments(args.rows, args.loans, np.random.default_rng(1)).to_csv(drop, index=False)
        options = IngestOptions(gx_dir=work / "gx", suites_dir=project_root() / "expectations")
        start, cpu = time.perf_counter(), time.process_time()
        result = ingest_entity(engine, work / "landing", "repayments", DROP, options)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "rows": result.rows_in,
                "loaded": result.rows_loaded,
                "quarantined": result.rows_quarantined,
                "rules": result.rules,
                "seconds": round(seconds, 2),
                "rows_per_s": round(result.rows_in / seconds),
                "cpu_seconds": round(cpu, 2),  # this process only: the machine may be shared
                "rows_per_cpu_s": round(result.rows_in / cpu),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
