"""Stage: measure the learned policy's arm and replace its rows of ``mart_nba_comparison``.

* ``run_nba_comparison`` (the KPI DAG, ``nplpipeline nba-comparison``): the nba arm
  against the static arm from the warehouse, everything as known on D;
* ``run_nba_status_quo`` (the twin's comparison step, ``nba-comparison --twin``): the nba
  arm's loans in the pipeline's world against the same loans in the status quo's world,
  from the twin's truth (an evaluation harness: the pipeline itself never reads it).

S, the cohort's date, is the first plan date before D with an account in the nba arm
(``outcomes.nba_start``) unless given, so a rerun of D measures the same cohort over the
same window. Each writes only its own baseline's rows of D; without an nba arm nothing is
written (and the date's rows of that baseline are cleared: there is nothing to show).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from nplpipeline.report.marts.rows import json_number
from nplpipeline.report.nba.measure import (
    DIFFERENCE,
    NBA,
    OVERALL,
    STATIC,
    STATUS_QUO,
    compare_arms,
    compare_paired,
)
from nplpipeline.report.nba.outcomes import (
    nba_start,
    read_cohort,
    truth_outcomes,
    warehouse_outcomes,
)
from nplpipeline.report.nba.tables import nba_comparison
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import Settings, get_settings
from nplpipeline.uplift.config import load_uplift_policy
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.partitions import replace_where

log = logging.getLogger(__name__)
SOURCES = {STATIC: "warehouse", STATUS_QUO: "twin_truth"}


def write_nba_comparison(
    conn: sa.Connection, result: pd.DataFrame, baseline: str, start: dt.date | None,
    as_of: dt.date,
) -> int:  # fmt: skip
    """Replace ``as_of``'s rows of ``baseline`` with ``result`` (may be empty)."""
    c = nba_comparison.c
    where = sa.and_(c.as_of_date == as_of, c.baseline == baseline)
    if result.empty:
        conn.execute(nba_comparison.delete().where(where))
        return 0
    frame = result.assign(
        as_of_date=as_of, start_date=start, source=SOURCES[baseline],
        days=(as_of - start).days if start else 0,
    )  # fmt: skip
    for col in ("accounts", "baseline_accounts"):
        frame[col] = frame[col].round().astype("Int64")
    return replace_where(conn, nba_comparison, where, frame)


def _tiers(settings: Settings) -> list[str]:
    return [t.name for t in settings.policy.tiering.tiers]


def _cohort(conn: sa.Connection, as_of: dt.date, start: dt.date | None):
    start = start or nba_start(conn, as_of)
    if start is not None and start >= as_of:
        raise ValueError(f"the start date {start} must be before the as-of date {as_of}")
    return start, (read_cohort(conn, start) if start else pd.DataFrame())


# (conn, cohort, S, contact costs, tiers) -> the comparison rows of one baseline
Compare = Callable[
    [sa.Connection, pd.DataFrame, dt.date, Mapping[str, float], list[str]], pd.DataFrame
]


def _measure_and_write(
    as_of: dt.date, settings: Settings | None, start: dt.date | None, baseline: str,
    compare: Compare,
) -> dict[str, Any]:  # fmt: skip
    """The one transaction both comparisons share: find the cohort, compare, replace."""
    settings = settings or get_settings()
    costs = load_uplift_policy().contact_cost
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        start, cohort = _cohort(conn, as_of, start)
        result = pd.DataFrame()
        if start is not None and not cohort.empty:
            result = compare(conn, cohort, start, costs, _tiers(settings))
        rows = write_nba_comparison(conn, result, baseline, start, as_of)
    return _summary(baseline, start, as_of, result, rows)


def run_nba_comparison(
    as_of: dt.date, settings: Settings | None = None, start: dt.date | None = None
) -> dict[str, Any]:
    """The nba arm against the static arm over (S, as_of], from the warehouse."""

    def against_static(conn, cohort, start, costs, tiers) -> pd.DataFrame:
        sums = warehouse_outcomes(conn, cohort, start, as_of, costs)
        accounts = cohort.astype({"loan_id": str}).merge(sums, on="loan_id")
        return compare_arms(accounts, tiers)

    return _measure_and_write(as_of, settings, start, STATIC, against_static)


def run_nba_status_quo(
    as_of: dt.date, truth_dirs: dict[str, Path], settings: Settings | None = None,
    start: dt.date | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The nba arm's loans in both twin worlds over (S, as_of], paired by loan.

    ``truth_dirs``: ``{"pipeline": ..., "status_quo": ...}`` truth folders."""

    def against_status_quo(conn, cohort, start, costs, tiers) -> pd.DataFrame:
        mine = cohort[cohort["policy_arm"].fillna(STATIC).astype(str) == NBA]
        loans = mine["loan_id"].astype(str)
        worlds = {
            w: truth_outcomes(truth_dirs[w], loans, start, as_of, costs)
            for w in ("pipeline", STATUS_QUO)
        }
        nba_world = mine.astype({"loan_id": str}).merge(worlds["pipeline"], on="loan_id")
        return compare_paired(nba_world, worlds[STATUS_QUO], tiers)

    return _measure_and_write(as_of, settings, start, STATUS_QUO, against_status_quo)


def _summary(
    baseline: str, start: dt.date | None, as_of: dt.date, result: pd.DataFrame, rows: int
) -> dict[str, Any]:
    """Counts and the overall difference only (it goes to XCom and logs)."""
    out: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "baseline": baseline,
        "start": start.isoformat() if start else None,
        "rows": rows,
        "nba_accounts": 0,
    }
    if result.empty:
        log.info("nba comparison %s vs %s: no nba arm", as_of, baseline)
        return out
    d = result[(result["segment"] == OVERALL) & (result["policy"] == DIFFERENCE)].iloc[0]
    out["nba_accounts"] = int(d["accounts"])
    out["baseline_accounts"] = int(d["baseline_accounts"])
    cols = ("net_recovery", "net_recovery_ci_low", "net_recovery_ci_high")
    out["net_recovery_difference"] = [json_number(d[c]) for c in cols]
    log.info("nba comparison %s vs %s: %s", as_of, baseline, out)
    return out
