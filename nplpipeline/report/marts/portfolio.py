"""Portfolio marts from month-end snapshots: NPL trend, roll rates, vintages, cure rate."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nplpipeline.config.policy import DelinquencyPolicy
from nplpipeline.report import kpis as k
from nplpipeline.report.marts.rows import kpi_rows

TREND_COLUMNS = ["as_of_date", "npl_balance", "outstanding", "npl_ratio", "npl_accounts"]
ROLL_COLUMNS = ["month_end", "from_bucket", "to_bucket", "from_balance", "balance", "rate"]
VINTAGE_COLUMNS = [
    "vintage", "months_on_book", "threshold_dpd", "share_balance", "share_count", "loans",
]  # fmt: skip


@dataclass(frozen=True)
class PortfolioMarts:
    npl_trend: pd.DataFrame  # mart_npl_trend rows for every snapshot date
    roll_rates: pd.DataFrame  # mart_roll_rates rows for ends[1:]
    vintage: pd.DataFrame  # mart_vintage_curves cells observed at ``ends``
    kpi: list[pd.DataFrame]  # mart_kpi rows: npl_ratio (day), cure_rate (month)


def _at(snaps: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """``snaps``' rows of ``day``. The stage's snapshots come ordered by date, so that is
    a slice (no copy of the 13 dates' string columns per month-end pair); the same rows,
    labels and order as the boolean filter any other frame takes."""
    dates = snaps["as_of_date"]
    when = pd.Timestamp(day)
    if not dates.is_monotonic_increasing:
        return snaps[dates == when]
    values = dates.to_numpy()
    lo, hi = (
        np.searchsorted(values, when.to_datetime64(), side="left"),
        np.searchsorted(values, when.to_datetime64(), side="right"),
    )
    return snaps.iloc[lo:hi]


def _roll_rates(snaps: pd.DataFrame, ends: list[dt.date], policy: DelinquencyPolicy):
    rolls = [
        k.roll_rate_matrix(_at(snaps, before), _at(snaps, after), buckets=policy.bucket_names)
        .assign(month_end=after)
        .rename(columns={"balance_from": "from_balance"})[ROLL_COLUMNS]
        for before, after in itertools.pairwise(ends)
    ]
    return pd.concat(rolls, ignore_index=True) if rolls else pd.DataFrame(columns=ROLL_COLUMNS)


def _cure_kpis(snaps: pd.DataFrame, ends: list[dt.date], as_of: dt.date) -> list[pd.DataFrame]:
    if len(ends) < 2:
        return []
    start, end = _at(snaps, ends[-2]), _at(snaps, ends[-1])
    rows = []
    for dim in ("overall", "product"):
        cure = k.cure_rates(start, end, by=() if dim == "overall" else (dim,))
        rows.append(
            kpi_rows(cure, as_of, "month", "cure_rate", "balance_cured", "balance_delinquent",
                     "cure_rate_balance", "ratio", dim)
        )  # fmt: skip
    return rows


def build_portfolio(
    as_of: dt.date,
    ends: list[dt.date],
    snaps: pd.DataFrame,
    loans: pd.DataFrame,
    policy: DelinquencyPolicy,
) -> PortfolioMarts:
    """Pure: ``snaps`` holds the snapshots of ``ends`` and ``as_of`` (as known on each)."""
    trend = k.npl_ratio_trend(snaps)[TREND_COLUMNS]
    month_snaps = snaps[snaps["as_of_date"].isin(pd.to_datetime(ends))]
    vintage = k.vintage_curves(month_snaps, loans)[VINTAGE_COLUMNS]
    npl_today = kpi_rows(
        trend[trend["as_of_date"] == pd.Timestamp(as_of)],
        as_of, "day", "npl_ratio", "npl_balance", "outstanding", "npl_ratio", "ratio",
    )  # fmt: skip
    return PortfolioMarts(
        npl_trend=trend,
        roll_rates=_roll_rates(snaps, ends, policy),
        vintage=vintage,
        kpi=[*_cure_kpis(snaps, ends, as_of), npl_today],
    )


def vintage_month_end(vintage: pd.DataFrame) -> pd.Series:
    """The month end each curve cell was observed at: vintage month + months on book."""
    origin = pd.PeriodIndex(vintage["vintage"].astype(str), freq="M")
    months = pd.to_numeric(vintage["months_on_book"]).to_numpy(dtype=int)
    ends = (origin + months).to_timestamp(how="end").normalize()
    return pd.Series(ends, index=vintage.index)
