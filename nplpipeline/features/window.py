"""Which month-ends a training run uses: labels need their horizon to have passed."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from nplpipeline.features.config import load_feature_config


def training_month_ends(
    as_of: dt.date, months: int, horizon_days: int | None = None
) -> list[dt.date]:
    """The ``months`` month-ends ending at the last one whose label horizon ends by ``as_of``."""
    horizon = horizon_days if horizon_days is not None else load_feature_config().horizon_days
    last = pd.Timestamp(as_of - dt.timedelta(days=horizon))
    last_month_end = last if last.is_month_end else last - pd.offsets.MonthEnd(1)
    ends = pd.date_range(end=last_month_end, periods=months, freq="ME")
    return [d.date() for d in ends]
