"""The warehouse layer imports no stage; the registry above the stages knows every table;
vintage cells merge instead of being replaced wholesale."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pandas as pd

from nplpipeline.report.marts.portfolio import vintage_month_end
from nplpipeline.report.marts.writes import merge_vintage
from nplpipeline.schema import register_all


def test_warehouse_imports_no_stage() -> None:
    code = (
        "import sys, json, nplpipeline.warehouse.tables, nplpipeline.warehouse.history;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('nplpipeline.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert all(m.startswith(("nplpipeline.warehouse", "nplpipeline.contract")) for m in loaded)


def test_registry_holds_every_stage_table() -> None:
    names = set(register_all().tables)
    for name in ("raw_loans_history", "int_delinquency_snapshot", "int_account_scores",
                 "act_treatment_plan", "mart_kpi", "fact_action"):  # fmt: skip
        assert name in names


def _cells(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["vintage", "months_on_book", "share_balance"])
    return frame.assign(threshold_dpd=30, share_count=frame["share_balance"], loans=10)


def test_vintage_cells_observed_at_a_runs_month_ends_are_replaced_others_kept() -> None:
    stored = _cells([("2026-01", 1, 0.1), ("2026-01", 2, 0.2), ("2026-01", 3, 0.3)])
    assert vintage_month_end(stored).dt.date.tolist() == [
        dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30),
    ]  # fmt: skip
    computed = _cells([("2026-01", 2, 0.25), ("2026-01", 3, 0.35)])
    ends = [dt.date(2026, 3, 31), dt.date(2026, 4, 30)]
    merged = merge_vintage(stored, computed, ends, rerun=False).sort_values("months_on_book")
    assert merged["share_balance"].tolist() == [0.1, 0.25, 0.35]
    # a rerun of an earlier date only fills cells nobody wrote yet
    earlier = _cells([("2026-01", 0, 0.0), ("2026-01", 1, 0.9)])
    merged = merge_vintage(stored, earlier, [dt.date(2026, 1, 31)], rerun=True)
    merged = merged.sort_values("months_on_book")
    assert merged["share_balance"].tolist() == [0.0, 0.1, 0.2, 0.3]


def test_table_assets_name_registered_tables() -> None:
    """Assets name their tables as literals (DAG parsing stays light); each must exist."""
    from nplpipeline.orchestration import assets
    from nplpipeline.schema import register_all

    tables = register_all().tables
    for name in ("DELINQUENCY_SNAPSHOT", "FEATURES", "ACCOUNT_SCORES", "TREATMENT_PLAN",
                 "AGENCY_PLACEMENTS", "WORKLISTS", "KPI_MARTS"):  # fmt: skip
        assert getattr(assets, name).name in tables, name
