"""The data calendar: which as-of dates retrain the model and which write the report.

Both follow the *logical* (as-of) date, never the wall clock, so a live run over
simulated days, a backfill and a production deployment train and report on the same
days. ``npl_train_model`` is scheduled with ``TRAINING_SCHEDULE``; its timetable's
logical dates are exactly ``training_days`` (``tests/unit/test_live_plan.py`` checks the
DAG's own timetable against it). The monthly report is written on month ends.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt

TRAINING_SCHEDULE = "@weekly"  # cron 0 0 * * 0: logical dates are Sundays, 00:00 UTC
TRAINING_WEEKDAY = 6  # Sunday, as date.weekday() counts


def is_training_day(day: dt.date) -> bool:
    return day.weekday() == TRAINING_WEEKDAY


def training_days(first: dt.date, last: dt.date) -> list[dt.date]:
    """The weekly training dates within [first, last] (both inclusive)."""
    ahead = (TRAINING_WEEKDAY - first.weekday()) % 7
    days = []
    day = first + dt.timedelta(days=ahead)
    while day <= last:
        days.append(day)
        day += dt.timedelta(days=7)
    return days


def is_month_end(day: dt.date) -> bool:
    return day.day == _calendar.monthrange(day.year, day.month)[1]


def report_due(as_of: dt.date, asked: bool = False) -> bool:
    """The management report is monthly, on the month end's run, or whenever asked."""
    return is_month_end(as_of) or bool(asked)
