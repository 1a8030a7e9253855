"""Agency (trailing year of placements) and collector (month to date) scorecards."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from nplpipeline.report import kpis as k
from nplpipeline.report.marts.contact import month_to_date
from nplpipeline.report.marts.rows import kpi_rows, month_start


@dataclass(frozen=True)
class ScorecardMarts:
    agency: pd.DataFrame
    collectors: dict[str, pd.DataFrame]  # level (collector | team) -> scorecard
    kpi: list[pd.DataFrame]


def build_scorecards(
    as_of: dt.date,
    placements: pd.DataFrame,
    acts: pd.DataFrame,
    repayments: pd.DataFrame,
    agencies: pd.DataFrame,
    collectors: pd.DataFrame,
    satisfaction: pd.DataFrame,
) -> ScorecardMarts:
    """Pure: every frame holds only what was known by ``as_of``."""
    year_ago = pd.Timestamp(as_of) - pd.DateOffset(years=1)
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    recent = placements[pd.to_datetime(placements["placed_at"]) >= year_ago]
    liquidation = k.agency_liquidation(recent, repayments, agencies)
    agency = k.agency_scorecard(
        liquidation, acts, repayments, start=year_ago, end=end, satisfaction=satisfaction
    )
    mtd = month_to_date(acts, as_of)
    by_level = {
        level: k.collector_scorecard(
            mtd, repayments, collectors, start=month_start(as_of), end=end,
            satisfaction=satisfaction, level=level,
        )
        for level in ("collector", "team")
    }  # fmt: skip
    rows = kpi_rows(liquidation, as_of, "month", "agency_liquidation_rate", "collected",
                    "placed_balance", "liquidation_rate", "ratio", "agency_id")  # fmt: skip
    return ScorecardMarts(agency, by_level, [rows])
