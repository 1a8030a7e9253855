"""Test split: out of time by as-of date, or a stated random holdout for undated data.

Validation is out of time (domain.md): the model is used on dates after those it learnt
from, so it is tested that way. A random split would mix the same accounts and months
across both sides and overstate AUC. Data with no dates at all (public credit sets are
usually one row per applicant, no date) cannot be tested in time; pretending with pseudo
dates gives an interleaved random split under an "out-of-time" label. Such data get a
random holdout stratified by label, and the split says so (`kind`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nplpipeline.model.config import SplitConfig

OUT_OF_TIME = "out_of_time"
RANDOM_STRATIFIED = "random_stratified"


@dataclass(frozen=True)
class OOTSplit:
    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp | None  # first test date (None for a random holdout)
    embargoed_rows: int
    kind: str = OUT_OF_TIME

    @property
    def dated(self) -> bool:
        return self.kind == OUT_OF_TIME

    def describe(self, date_column: str) -> dict[str, object]:
        out: dict[str, object] = {
            "split_kind": self.kind,
            "train_rows": len(self.train),
            "test_rows": len(self.test),
            "embargoed_rows": self.embargoed_rows,
        }
        if self.dated:
            out |= {
                "train_from": str(self.train[date_column].min().date()),
                "train_to": str(self.train[date_column].max().date()),
                "test_from": str(self.test[date_column].min().date()),
                "test_to": str(self.test[date_column].max().date()),
            }
        return out


def has_usable_dates(frame: pd.DataFrame, date_column: str) -> bool:
    """False when there is no date column, every value is missing, or all rows share one
    date: nothing to order by. Partly missing dates are an error, not 'undated'."""
    if date_column not in frame.columns:
        return False
    dates = pd.to_datetime(frame[date_column])
    return bool(dates.notna().any() and dates.nunique(dropna=True) > 1)


def out_of_time_split(
    frame: pd.DataFrame,
    config: SplitConfig,
    date_column: str = "as_of_date",
    label_column: str | None = None,
    seed: int = 0,
) -> OOTSplit:
    """Train on as-of dates before the cutoff, test on the cutoff and later.

    The cutoff is ``config.cutoff`` when set, else the earliest of the latest
    ``config.test_dates`` distinct as-of dates. Undated data (see `has_usable_dates`) get
    a random holdout stratified by `label_column`, or an error if the config says so.
    """
    if not has_usable_dates(frame, date_column):
        if config.when_no_dates == "error":
            raise ValueError(f"no usable {date_column}: an out-of-time split needs dates")
        return random_holdout(frame, config.holdout_share, label_column, seed)
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


def stratified_mask(y: np.ndarray | None, n: int, share: float, seed: int) -> np.ndarray:
    """True for ~`share` of rows drawn at random within each class (all rows one class
    when `y` is None); at least one row of each class on each side when it has two."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    groups = [np.arange(n)] if y is None else [np.flatnonzero(y == v) for v in np.unique(y)]
    for idx in groups:
        k = round(share * len(idx))
        k = min(max(k, 1), len(idx) - 1) if len(idx) > 1 else 0
        mask[rng.choice(idx, size=k, replace=False)] = True
    return mask


def stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per row, classes spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for v in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == v))
        fold[idx] = np.arange(len(idx)) % folds
    return fold


def random_holdout(
    frame: pd.DataFrame, share: float, label_column: str | None, seed: int
) -> OOTSplit:
    """A seeded random test holdout of `share` of rows, stratified by label."""
    y = None
    if label_column is not None:
        y = frame[label_column].astype("int64").to_numpy()
    is_test = stratified_mask(y, len(frame), share, seed)
    train, test = frame.loc[~is_test], frame.loc[is_test]
    if train.empty or test.empty:
        raise ValueError("too few rows for a random holdout")
    return OOTSplit(train, test, None, 0, RANDOM_STRATIFIED)
