"""Out-of-time split by as-of date.

Validation is out of time (domain.md): the model is used on dates after those it learnt
from, so it is tested that way. A random split would mix the same accounts and months
across both sides and overstate AUC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from nplpipeline.model.config import SplitConfig


@dataclass(frozen=True)
class OOTSplit:
    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp  # first test date
    embargoed_rows: int

    def describe(self, date_column: str) -> dict[str, object]:
        return {
            "train_rows": len(self.train),
            "test_rows": len(self.test),
            "train_from": str(self.train[date_column].min().date()),
            "train_to": str(self.train[date_column].max().date()),
            "test_from": str(self.test[date_column].min().date()),
            "test_to": str(self.test[date_column].max().date()),
            "embargoed_rows": self.embargoed_rows,
        }


def out_of_time_split(
    frame: pd.DataFrame, config: SplitConfig, date_column: str = "as_of_date"
) -> OOTSplit:
    """Train on as-of dates before the cutoff, test on the cutoff and later.

    The cutoff is ``config.cutoff`` when set, else the earliest of the latest
    ``config.test_dates`` distinct as-of dates.
    """
    dates = pd.to_datetime(frame[date_column])
    if dates.isna().any():
        raise ValueError(f"{int(dates.isna().sum())} rows have no {date_column}")
    if config.cutoff is not None:
        cutoff = pd.Timestamp(config.cutoff)
    else:
        distinct = dates.drop_duplicates().sort_values()
        if len(distinct) <= config.test_dates:
            raise ValueError(
                f"need more than {config.test_dates} distinct {date_column} values, "
                f"got {len(distinct)}"
            )
        cutoff = distinct.iloc[-config.test_dates]
    is_test = (dates >= cutoff).to_numpy()
    embargo_start = cutoff - dt.timedelta(days=config.embargo_days)
    is_embargo = ((dates >= embargo_start) & (dates < cutoff)).to_numpy()
    train = frame.loc[~is_test & ~is_embargo]
    test = frame.loc[is_test]
    if train.empty or test.empty:
        raise ValueError(f"cutoff {cutoff.date()} leaves an empty train or test set")
    return OOTSplit(train, test, cutoff, int(is_embargo.sum()))
