"""Dump the KPI stage's tables (star and marts) and the monitoring rows of a kept bench
warehouse, or compare two dumps: the check that a faster KPI / monitoring path writes
the same tables (issue #14, whole-book steps); ``int_features`` too, which monitoring
rebuilds for two dates.

    python benchmarks/kpi_tables.py dump /tmp/bench/100000/warehouse.duckdb /tmp/before
    python benchmarks/kpi_tables.py compare /tmp/before /tmp/after

Rows are sorted by every column before comparing, so only content counts; floats must
be equal to the bit (``check_exact``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nplpipeline.features.config import load_feature_config  # noqa: E402
from nplpipeline.features.tables import features_table  # noqa: E402
from nplpipeline.model.tables import model_monitoring  # noqa: E402
from nplpipeline.report.marts import tables as t  # noqa: E402
from nplpipeline.warehouse.frames import read_frame  # noqa: E402

TABLES = [
    obj for obj in vars(t).values() if isinstance(obj, sa.Table)
] + [model_monitoring, features_table(load_feature_config())]  # fmt: skip


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in frame.columns if frame[c].notna().any()]
    text = frame[keys].astype(str)
    return frame.iloc[text.sort_values(keys).index].reset_index(drop=True)


def dump(warehouse: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"duckdb:///{warehouse}", connect_args={"read_only": True})
    with engine.connect() as conn:
        for table in TABLES:
            frame = read_frame(conn, sa.select(table))
            frame.to_pickle(out / f"{table.name}.pkl")
            print(f"{table.name}: {len(frame)} rows")
    engine.dispose()


def compare(before: Path, after: Path) -> int:
    differ = 0
    for path in sorted(before.glob("*.pkl")):
        a, b = pd.read_pickle(path), pd.read_pickle(after / path.name)
        try:
            pd.testing.assert_frame_equal(_sorted(a), _sorted(b), check_exact=True)
            print(f"{path.stem}: same ({len(a)} rows)")
        except AssertionError as exc:
            differ += 1
            print(f"{path.stem}: DIFFERENT: {str(exc)[:400]}")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("dump", "compare"))
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.first, args.second)
    else:
        sys.exit(1 if compare(args.first, args.second) else 0)


if __name__ == "__main__":
    main()
