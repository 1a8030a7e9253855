"""Small, shared frame helpers for the KPI formulas: ratios, days, groups, checks.

Conventions every KPI module follows (and its docstrings rely on):

* A ratio whose denominator is zero or missing is NaN -- never an exception, never 0 or
  inf -- so an empty cohort shows as "no data", not as a 0% rate.
* Money is float64 yuan; days are midnight ``datetime64[ns]`` timestamps. Timestamps
  are compared by calendar day (timezone-naive, as the warehouse stores them).
* ``by`` names dimension columns of the input; groups keep missing values as a group of
  their own (``dropna=False``). With no ``by`` the result is always one overall row,
  also for an empty input (counts 0, rates NaN); with ``by`` an empty input gives an
  empty frame with the output columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Fail with the missing column names rather than a ``KeyError`` deep in a merge."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def ratio(numerator: object, denominator: object) -> np.ndarray:
    """Element-wise ``numerator / denominator``; NaN where the denominator is 0 or NaN."""
    num = np.asarray(numerator, dtype="float64")
    den = np.asarray(denominator, dtype="float64")
    out = np.full(np.broadcast(num, den).shape, np.nan)
    ok = np.isfinite(den) & (den != 0)
    np.divide(num, den, out=out, where=ok)
    return out


def money(values: pd.Series) -> pd.Series:
    """Amounts as float64 (``Decimal`` or text from a source become numbers; null = NaN)."""
    return pd.to_numeric(values, errors="coerce").astype("float64")


def timestamps(values: pd.Series) -> pd.Series:
    """Timezone-naive ``datetime64[ns]`` (wall-clock time kept if a zone was attached)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or values.dtype.kind == "M":
        ts = values
    else:  # text (ISO 8601, with or without a time) or date objects
        ts = pd.to_datetime(values, format="ISO8601")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)
    return ts.astype("datetime64[ns]")


def days(values: pd.Series) -> pd.Series:
    """Calendar day (midnight) of dates or timestamps."""
    return timestamps(values).dt.normalize()


def day(value: object) -> pd.Timestamp:
    """One date (``date``, ``datetime``, text) as a midnight timestamp."""
    return pd.Timestamp(value).normalize()


def group_sum(frame: pd.DataFrame, by: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Sums of ``columns`` per ``by`` group, as a flat frame (``by`` columns first).

    Without ``by`` the answer is one row even for an empty frame (sums of nothing = 0),
    so "overall" always exists; with ``by`` an empty frame gives no rows.
    """
    by = list(by)
    if not by:
        sums = frame[list(columns)].sum(numeric_only=False)
        return pd.DataFrame([sums.to_numpy()], columns=list(columns)).astype("float64")
    return (
        frame.groupby(by, dropna=False, sort=True, observed=True)[list(columns)]
        .sum()
        .astype("float64")
        .reset_index()
    )


def merge_on(left: pd.DataFrame, right: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Left join of two ``group_sum`` results on ``by`` (a plain column bind when none)."""
    by = list(by)
    if not by:
        return pd.concat([left.reset_index(drop=True), right.reset_index(drop=True)], axis=1)
    return left.merge(right, on=by, how="left")
