"""Gradient-boosted recovery model with calibrated probabilities.

Why HistGradientBoostingClassifier (scikit-learn's LightGBM-style booster):
- no extra dependency: it ships with scikit-learn, which the stack already pins, and it
  serialises with skops (no pickles in the registry);
- handles missing values natively (learnt split direction) and categoricals natively
  (no one-hot blow-up for product, bucket, province ...);
- histogram binning makes it fast on millions of rows (multi-threaded, O(n) per level);
- captures the non-linearities and interactions (DPD x contact history, income x
  employment ...) that a WoE scorecard, additive in its bins, cannot. How much AUC that
  buys depends on how much interaction the data hold: on the simulator, whose cure
  hazard is mostly proportional, it is small (benchmarks/README.md, model quality).

Time-ordered slices of the training period (oldest to latest): fit | validation |
calibration. Time order rather than shuffled rows or CV folds because the model is applied
to later dates, and the same accounts recur month after month (a random hold-out would
hold out near-copies of training rows):
- early stopping: the booster is grown on the fit slice and stopped by its log-loss on
  the validation slice (`validation_share` of the dates before calibration);
- calibration: tier rules use probability thresholds (>= 0.6 mild, < 0.3 extremely
  severe), so scores must be probabilities. An isotonic (or sigmoid) map from the raw
  score is fitted on the latest dates (`calibration_share`), scored by a booster that
  never saw them: it corrects the drift in base rate that random folds would average
  away, and never uses the OOT test period;
- refit (`refit_on_all_dates`): the served booster is then refit on *every* training
  date with the chosen iteration count, and the out-of-time calibrator applied to it.
  Under drift the latest months are the most informative; the scorecard is fit on all of
  them, so a booster that leaves them out for housekeeping starts behind.
Hyper-parameter defaults (config.py) were chosen on the validation slice of the training
period (`benchmarks/booster_tuning.py`), never on the test dates.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from nplpipeline.model.config import BoostingConfig
from nplpipeline.model.encoding import FrameEncoder, as_strings


class BoostedRecoveryModel(ClassifierMixin, BaseEstimator):
    """Encoder + HistGradientBoosting + calibrator; `predict_proba[:, 1]` = P(recovery).

    Takes any frame holding the feature columns (extra columns are ignored). Stores each
    feature's training median / mode in `reference_values_` for reason codes.
    """

    def __init__(
        self,
        numeric_features: list[str] | None = None,
        categorical_features: list[str] | None = None,
        max_iter: int = 1000,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 200,
        l2_regularization: float = 1.0,
        early_stopping: bool = True,
        n_iter_no_change: int = 30,
        validation_share: float = 0.2,
        max_categories: int = 250,
        calibration: str = "isotonic",
        calibration_share: float = 0.2,
        refit_on_all_dates: bool = True,
        recency_half_life_days: float | None = 90.0,
        random_state: int = 0,
    ):
        self.numeric_features = numeric_features
        self.categorical_features = categorical_features
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.validation_share = validation_share
        self.max_categories = max_categories
        self.calibration = calibration
        self.calibration_share = calibration_share
        self.refit_on_all_dates = refit_on_all_dates
        self.recency_half_life_days = recency_half_life_days
        self.random_state = random_state

    @classmethod
    def from_config(
        cls, config: BoostingConfig, numeric: list[str], categorical: list[str]
    ) -> BoostedRecoveryModel:
        return cls(
            numeric_features=numeric, categorical_features=categorical, **config.model_dump()
        )

    def _booster(self, max_iter: int, early_stopping: bool) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=early_stopping,
            n_iter_no_change=self.n_iter_no_change,
            scoring="loss",
            categorical_features=self.encoder_.categorical_mask_,
            random_state=self.random_state,
        )

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, as_of: pd.Series | np.ndarray | None = None
    ) -> BoostedRecoveryModel:
        """Early-stop on the validation slice, calibrate on the latest, refit on all.

        Without `as_of`, rows are taken to be in time order and the slices are the last
        shares of rows.
        """
        y = np.asarray(y).astype(np.int64)
        self.encoder_ = FrameEncoder(
            self.numeric_features, self.categorical_features, self.max_categories
        ).fit(X)
        self.feature_names_ = list(self.encoder_.feature_names_out_)
        self.classes_ = np.array([0, 1])
        Z = self.encoder_.transform(X)
        dates = None if as_of is None else np.asarray(as_of)
        is_cal = _calibration_mask(len(X), dates, self.calibration_share)
        is_val = np.zeros(len(X), dtype=bool)
        if self.early_stopping:
            rest = np.flatnonzero(~is_cal)
            rest_dates = None if dates is None else dates[rest]
            is_val[rest] = latest_dates_mask(len(rest), rest_dates, self.validation_share)
        is_fit = ~is_cal & ~is_val
        for name, mask in (("fit", is_fit), ("validation", is_val), ("calibration", is_cal)):
            if (mask.any() or name != "validation") and len(np.unique(y[mask])) < 2:
                raise ValueError(f"the {name} slice needs both classes")
        w = _recency_weights(dates, self.recency_half_life_days, len(X))
        if is_val.any():
            stage = self._booster(self.max_iter, True).fit(
                Z[is_fit], y[is_fit], sample_weight=w[is_fit], X_val=Z[is_val], y_val=y[is_val]
            )
            self.best_iteration_ = int(stage.n_iter_)
            # Regrown on every date before calibration with the chosen count: it scores
            # the calibration slice it never saw (closer to the served booster than the
            # early-stopping one, which lacks the validation dates).
            before = ~is_cal
            stage = self._booster(self.best_iteration_, False).fit(
                Z[before], y[before], sample_weight=w[before]
            )
        else:  # no early stopping, or too few dates for a time slice: sklearn's own
            stage = self._booster(self.max_iter, self.early_stopping).fit(  # random 10%
                Z[is_fit], y[is_fit], sample_weight=w[is_fit]
            )
            self.best_iteration_ = int(stage.n_iter_)
        self.calibrator_ = _fit_calibrator(
            self.calibration, stage.decision_function(Z[is_cal]), y[is_cal]
        )
        if self.refit_on_all_dates:
            self.booster_ = self._booster(self.best_iteration_, False).fit(Z, y, sample_weight=w)
        else:
            self.booster_ = stage
        self.n_fit_rows_ = int((~is_cal).sum())
        self.n_validation_rows_ = int(is_val.sum())
        self.n_calibration_rows_ = int(is_cal.sum())
        self.n_booster_rows_ = len(X) if self.refit_on_all_dates else self.n_fit_rows_
        self.reference_values_ = _reference_values(X, self.encoder_)
        return self

    def __setstate__(self, state: dict[str, object]) -> None:
        """Models stored before the time-ordered slices (registry champions) lack the newer
        parameters: give them the values that describe how they were fit."""
        for key, value in _STORED_BEFORE_SLICES.items():
            state.setdefault(key, value)
        super().__setstate__(state)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if isinstance(self.calibrator_, CalibratedClassifierCV):  # stored before the slices
            return self.calibrator_.predict_proba(self.encoder_.transform(X))
        raw = self.booster_.decision_function(self.encoder_.transform(X))
        if self.calibration == "isotonic":
            p = self.calibrator_.predict(raw)
        else:
            p = self.calibrator_.predict_proba(raw[:, None])[:, 1]
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict_proba_uncalibrated(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_.predict_proba(self.encoder_.transform(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


# Fit settings of models stored before validation/refit/recency existed (sklearn's random
# 10% early stopping, booster fit on the dates before the calibration slice).
_STORED_BEFORE_SLICES: dict[str, object] = {
    "n_iter_no_change": 10,
    "validation_share": 0.1,
    "refit_on_all_dates": False,
    "recency_half_life_days": None,
}


def _recency_weights(dates: np.ndarray | None, half_life_days: float | None, n: int) -> np.ndarray:
    """0.5 ** (days before the latest date / half-life); ones without dates or half-life."""
    if dates is None or half_life_days is None:
        return np.ones(n)
    d = pd.to_datetime(pd.Series(dates)).to_numpy(dtype="datetime64[D]")
    age = (d.max() - d).astype(np.float64)
    return np.power(0.5, age / half_life_days)


def _fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> object:
    """Monotone map raw score -> probability (isotonic, or Platt's logistic on the score)."""
    if method == "isotonic":
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    if method == "sigmoid":
        return LogisticRegression(C=1e6).fit(raw[:, None], y)
    raise ValueError(f"unknown calibration {method!r}")


def _calibration_mask(n: int, as_of: pd.Series | np.ndarray | None, share: float) -> np.ndarray:
    """True for rows on the latest dates making up ~`share` of rows (at least one date)."""
    if as_of is not None and pd.Series(np.asarray(as_of)).nunique() < 2:
        raise ValueError("time-ordered calibration needs at least two as-of dates in training")
    return latest_dates_mask(n, as_of, share)


def latest_dates_mask(n: int, as_of: pd.Series | np.ndarray | None, share: float) -> np.ndarray:
    """True for rows on the latest dates making up ~`share` of rows, never all dates.

    All False when there is a single date (nothing earlier would be left).
    """
    if as_of is None:
        mask = np.zeros(n, dtype=bool)
        k = min(max(1, math.ceil(share * n)), n - 1)
        if k > 0:
            mask[n - k :] = True
        return mask
    dates = pd.to_datetime(pd.Series(np.asarray(as_of)))
    counts = dates.value_counts().sort_index(ascending=False)
    if len(counts) < 2:
        return np.zeros(n, dtype=bool)
    cum = counts.cumsum() / n
    n_dates = max(1, int((cum < share).sum()) + 1)
    n_dates = min(n_dates, len(counts) - 1)
    first = counts.index[n_dates - 1]
    return (dates >= first).to_numpy()


def _reference_values(X: pd.DataFrame, enc: FrameEncoder) -> dict[str, object]:
    """Training median (numerics) / mode (categoricals): the 'typical account' baseline."""
    ref: dict[str, object] = {}
    for f in enc.numeric_features_:
        v = pd.to_numeric(X[f], errors="coerce").astype("float64").median()
        ref[f] = float(v) if pd.notna(v) else float("nan")
    for f in enc.categorical_features_:
        mode = as_strings(X[f]).mode(dropna=True)
        ref[f] = str(mode.iloc[0]) if len(mode) else None
    return ref
