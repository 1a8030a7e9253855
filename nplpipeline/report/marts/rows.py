"""Long-form ``mart_kpi`` rows: one per (date, period, KPI, dimension, member)."""

from __future__ import annotations

import datetime as dt

import pandas as pd


def kpi_rows(
    frame: pd.DataFrame,
    as_of: dt.date,
    period: str,
    kpi: str,
    num: str,
    den: str,
    value: str,
    unit: str,
    dimension: str = "overall",
) -> pd.DataFrame:
    """Rows for one KPI from a tidy frame (grouped by ``dimension`` or overall), with the
    numerator and denominator beside the value so BI re-aggregates correctly."""
    member = frame[dimension].astype(str) if dimension != "overall" else "all"
    return pd.DataFrame(
        {
            "as_of_date": as_of,
            "period": period,
            "kpi": kpi,
            "dimension": dimension,
            "member": member,
            "numerator": frame[num].astype(float),
            "denominator": frame[den].astype(float),
            "value": frame[value].astype(float),
            "unit": unit,
        }
    )


def json_number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def month_start(as_of: dt.date) -> pd.Timestamp:
    return pd.Timestamp(as_of).replace(day=1)
