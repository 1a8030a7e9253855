"""Stage: compare the pipeline's world with the status quo's and write the mart.

Reads the pipeline's tiers on the start date (``int_account_scores``, the cohort) from
the warehouse and what really happened in each world from the twin's ground truth (an
evaluation harness for dev and demo runs: the pipeline itself never reads the truth),
measures both with :func:`measure.measure_policies` and replaces the as-of date's rows of
``mart_policy_comparison``.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from nplpipeline.report.comparison.measure import (
    INCREMENTAL,
    OVERALL,
    PIPELINE,
    STATUS_QUO,
    Window,
    measure_policies,
)
from nplpipeline.report.comparison.outcomes import world_outcomes
from nplpipeline.report.comparison.tables import policy_comparison
from nplpipeline.report.kpis.plan import load_plan
from nplpipeline.report.marts.rows import json_number
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import account_scores
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.partitions import replace_partition

log = logging.getLogger(__name__)


def read_cohort(conn: sa.Connection, start: dt.date) -> pd.DataFrame:
    """The accounts scored on ``start`` with their tier and overdue balance then."""
    s = account_scores.c
    query = sa.select(s.loan_id, s.tier, s.overdue_amount.label("overdue_at_entry")).where(
        s.as_of_date == start
    )
    cohort = read_frame(conn, query)
    cohort["overdue_at_entry"] = pd.to_numeric(cohort["overdue_at_entry"]).astype("float64")
    return cohort


def write_comparison(
    conn: sa.Connection, result: pd.DataFrame, start: dt.date, as_of: dt.date
) -> int:
    """Replace ``as_of``'s rows of ``mart_policy_comparison`` with ``result``."""
    frame = result.assign(as_of_date=as_of, start_date=start, days=(as_of - start).days)
    frame["accounts"] = frame["accounts"].round().astype("Int64")
    return replace_partition(conn, policy_comparison, "as_of_date", as_of, frame)


def run_policy_comparison(
    start: dt.date,
    as_of: dt.date,
    truth_dirs: dict[str, Path],
    n_loans: int,
    settings: Settings | None = None,
    decisions_dirs: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Measure both worlds over (start, as_of] and replace ``as_of``'s mart rows.

    ``truth_dirs`` / ``decisions_dirs``: per policy (``pipeline``, ``status_quo``), the
    world's truth folder and the live run's log of the decisions it received.
    """
    if as_of <= start:
        raise ValueError(f"as_of {as_of} must be after the start date {start}")
    settings = settings or get_settings()
    plan = load_plan()
    window = Window(
        days=(as_of - start).days, investment_scale=n_loans / plan.economics.portfolio_loans
    )
    logs = decisions_dirs or {}
    worlds = {
        p: world_outcomes(truth_dirs[p], start, as_of, logs.get(p)) for p in (PIPELINE, STATUS_QUO)
    }
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        cohort = read_cohort(conn, start)
        if cohort.empty:
            raise LookupError(f"no accounts scored on {start}: the cohort is empty")
        tiers = [t.name for t in settings.policy.tiering.tiers]
        result = measure_policies(cohort, worlds, plan, window, tiers)
        rows = write_comparison(conn, result, start, as_of)
    summary = _summary(start, as_of, result, rows)
    log.info("policy comparison %s: %s", as_of, summary)
    return summary


def _summary(start: dt.date, as_of: dt.date, result: pd.DataFrame, rows: int) -> dict[str, Any]:
    """Counts and the overall headline only (it goes to XCom and logs)."""
    overall = result[result["segment"] == OVERALL].set_index("policy")
    inc = overall.loc[INCREMENTAL]
    return {
        "start": start.isoformat(),
        "as_of": as_of.isoformat(),
        "rows": rows,
        "recovery": {
            p: json_number(overall.loc[p, "recovery_rate"]) for p in (PIPELINE, STATUS_QUO)
        },
        "incremental": [json_number(inc[c]) for c in ("recovery_rate", "ci_low", "ci_high")],
    }
