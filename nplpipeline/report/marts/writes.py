"""Writing the KPI marts for one as-of date without rolling later dates back.

Marts keyed by as-of date replace that date's rows. The marts keyed otherwise are
written so a rerun of an earlier date leaves what later runs wrote untouched:

* ``mart_npl_trend`` / ``mart_roll_rates`` replace the snapshot dates and month ends
  the run computed; each is computed from what was known on its own date, so a rerun
  writes the rows a later run wrote for them;
* ``mart_vintage_curves`` is not replaced wholesale: a run replaces the cells observed
  at its own month ends (vintage month + months on book) and keeps older cells, and a
  rerun of a date before the latest run only adds cells nobody wrote yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.report.marts import tables as t
from nplpipeline.report.marts.portfolio import PortfolioMarts, vintage_month_end
from nplpipeline.report.marts.recovery import RecoveryMarts
from nplpipeline.report.marts.scorecards import ScorecardMarts
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.partitions import replace_where


@dataclass(frozen=True)
class KpiMarts:
    """Everything one run computes, before it is written."""

    as_of: dt.date
    ends: list[dt.date]
    dates: list[dt.date]
    portfolio: PortfolioMarts
    recovery: RecoveryMarts
    scorecards: ScorecardMarts
    kpi: pd.DataFrame


def merge_vintage(
    stored: pd.DataFrame, computed: pd.DataFrame, ends: list[dt.date], rerun: bool
) -> pd.DataFrame:
    """The curve table after this run: its own month ends' cells replace the stored ones
    (or, on a rerun of an earlier date, only fill cells not stored yet)."""
    keys = ["vintage", "months_on_book", "threshold_dpd"]
    if rerun:
        known = (
            pd.MultiIndex.from_frame(stored[keys])
            if len(stored)
            else pd.MultiIndex.from_tuples([], names=keys)
        )
        new = computed[~pd.MultiIndex.from_frame(computed[keys]).isin(known)]
        return pd.concat([stored, new], ignore_index=True)
    if stored.empty:
        return computed
    observed = vintage_month_end(stored).isin(pd.to_datetime(ends))
    return pd.concat([stored[~observed], computed], ignore_index=True)


def _write_vintage(conn: Connection, marts: KpiMarts, rerun: bool) -> int:
    stored = read_frame(conn, sa.select(t.vintage_curves))
    merged = merge_vintage(stored, marts.portfolio.vintage, marts.ends, rerun)
    replace_where(conn, t.vintage_curves, None, merged)
    return len(marts.portfolio.vintage)


def _agency_rows(cards: ScorecardMarts, as_of: dt.date) -> pd.DataFrame:
    renamed = {
        "placed_balance": "balance_placed",
        "commissions": "commission",
        "composite": "score",
    }
    agency = cards.agency.assign(as_of_date=as_of).rename(columns=renamed)
    agency["net_recovery"] = agency["collected"] - agency["commission"]
    return agency


def _collector_rows(cards: ScorecardMarts, as_of: dt.date) -> pd.DataFrame:
    frames = []
    for level, frame in cards.collectors.items():
        key = "collector_id" if level == "collector" else "team"
        frames.append(
            frame.assign(
                as_of_date=as_of, level=level, member=frame[key], team=frame["team"],
                accounts_worked=frame["accounts_contacted"], recovered_amount=frame["recovered"],
                guardrail_holds=frame["suppressions"], score=frame["composite"],
            )
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _uplift_rows(recovery: RecoveryMarts, as_of: dt.date) -> pd.DataFrame:
    uplift = recovery.uplift
    if uplift.empty:
        return uplift
    return uplift.assign(
        as_of_date=as_of, arm=uplift["arm_a"], baseline_arm=uplift["arm_b"],
        accounts=uplift["accounts_a"], baseline_accounts=uplift["accounts_b"],
        recovery_rate=uplift["rate_a"], baseline_rate=uplift["rate_b"],
        uplift=uplift["difference"],
    )  # fmt: skip


def write_marts(conn: Connection, marts: KpiMarts, latest: dt.date | None) -> dict[str, int]:
    """Replace ``marts.as_of``'s rows of every mart; returns rows written per table."""
    as_of = marts.as_of
    dated = {
        t.kpi: marts.kpi,
        t.plan_tracking: marts.recovery.plan_tracking.assign(as_of_date=as_of),
        t.agency_scorecard: _agency_rows(marts.scorecards, as_of),
        t.collector_scorecard: _collector_rows(marts.scorecards, as_of),
        t.experiment_uplift: _uplift_rows(marts.recovery, as_of),
        t.roi: marts.recovery.roi,
    }
    n = {
        table.name: replace_where(conn, table, table.c.as_of_date == as_of, frame)
        for table, frame in dated.items()
    }
    p = marts.portfolio
    trend, rolls = t.npl_trend, t.roll_rates
    in_trend, in_rolls = trend.c.as_of_date.in_(marts.dates), rolls.c.month_end.in_(marts.ends[1:])
    n[trend.name] = replace_where(conn, trend, in_trend, p.npl_trend)
    n[rolls.name] = replace_where(conn, rolls, in_rolls, p.roll_rates)
    n[t.vintage_curves.name] = _write_vintage(
        conn, marts, rerun=latest is not None and as_of < latest
    )
    return n
