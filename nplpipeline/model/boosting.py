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
period (`benchmarks/booster_tuning.py`), never on the test dates. Leaf size, patience,
calibration method and the recency half-life adapt to the number of rows (config.py
says how); the values used are in `resolved_`. Without as-of dates (undated data, see
split.py) the slices are random and stratified by label and rows are not weighted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from nplpipeline.model import binned_scores
from nplpipeline.model.config import BoostingConfig
from nplpipeline.model.encoding import FrameEncoder, as_strings
from nplpipeline.model.hgb_binning import one_sort_per_feature
from nplpipeline.model.split import stratified_mask


@dataclass(frozen=True)
class HeldOut:
    """The rows a fit held out of the booster that scored them (its calibration slice,
    True) and that booster's raw scores on them, in row order. Selection reuses them as
    the booster's validation scores when its validation rows are these rows."""

    mask: np.ndarray
    raw: np.ndarray


class BoostedRecoveryModel(ClassifierMixin, BaseEstimator):
    """Encoder + HistGradientBoosting + calibrator; `predict_proba[:, 1]` = P(recovery).

    Takes any frame holding the feature columns (extra columns are ignored). Stores each
    feature's training median / mode in `reference_values_` for reason codes.
    `n_threads` caps OpenMP threads while fitting and scoring (None: all cores).
    """

    def __init__(
        self,
        numeric_features: list[str] | None = None,
        categorical_features: list[str] | None = None,
        max_iter: int = 1000,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int | None = None,
        leaf_share: float = 0.02,
        min_samples_leaf_floor: int = 5,
        min_samples_leaf_cap: int = 200,
        l2_regularization: float = 1.0,
        early_stopping: bool = True,
        n_iter_no_change: int | None = None,
        rows_sqrt_per_patience: float = 7.0,
        patience_floor: int = 10,
        patience_cap: int = 30,
        validation_share: float = 0.2,
        max_categories: int = 250,
        calibration: str = "auto",
        isotonic_min_rows: int = 2000,
        calibration_share: float = 0.2,
        refit_on_all_dates: bool = True,
        recency_half_life_days: float | None = 90.0,
        min_effective_share: float = 0.5,
        min_effective_rows: int = 2000,
        random_state: int = 0,
        n_threads: int | None = 1,
    ):
        self.numeric_features = numeric_features
        self.categorical_features = categorical_features
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.leaf_share = leaf_share
        self.min_samples_leaf_floor = min_samples_leaf_floor
        self.min_samples_leaf_cap = min_samples_leaf_cap
        self.l2_regularization = l2_regularization
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.rows_sqrt_per_patience = rows_sqrt_per_patience
        self.patience_floor = patience_floor
        self.patience_cap = patience_cap
        self.validation_share = validation_share
        self.max_categories = max_categories
        self.calibration = calibration
        self.isotonic_min_rows = isotonic_min_rows
        self.calibration_share = calibration_share
        self.refit_on_all_dates = refit_on_all_dates
        self.recency_half_life_days = recency_half_life_days
        self.min_effective_share = min_effective_share
        self.min_effective_rows = min_effective_rows
        self.random_state = random_state
        self.n_threads = n_threads

    @classmethod
    def from_config(
        cls,
        config: BoostingConfig,
        numeric: list[str],
        categorical: list[str],
        n_threads: int | None = 1,
    ) -> BoostedRecoveryModel:
        return cls(
            numeric_features=numeric,
            categorical_features=categorical,
            n_threads=n_threads,
            **config.model_dump(),
        )

    def _booster(self, max_iter: int, early_stopping: bool) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.resolved_["min_samples_leaf"],
            l2_regularization=self.l2_regularization,
            early_stopping=early_stopping,
            n_iter_no_change=self.resolved_["n_iter_no_change"],
            scoring="loss",
            categorical_features=self.encoder_.categorical_mask_,
            random_state=self.random_state,
        )

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, as_of: pd.Series | np.ndarray | None = None
    ) -> BoostedRecoveryModel:
        """Early-stop on the validation slice, calibrate on the latest, refit on all.

        Without `as_of` (undated data) the slices are random, stratified by label, and
        rows are not weighted by recency.
        """
        self.fit_holding_out(X, y, as_of)
        return self

    def fit_holding_out(
        self, X: pd.DataFrame, y: np.ndarray, as_of: pd.Series | np.ndarray | None = None
    ) -> HeldOut:
        """`fit`, returning the calibration slice and the raw scores the calibrator was
        fitted on (not kept on the model: they would be stored with it)."""
        with threadpool_limits(limits=self.n_threads, user_api="openmp"), one_sort_per_feature():
            return self._fit(X, np.asarray(y).astype(np.int64), as_of)

    def _fit(self, X: pd.DataFrame, y: np.ndarray, as_of: pd.Series | np.ndarray | None) -> HeldOut:
        self.encoder_ = FrameEncoder(
            self.numeric_features, self.categorical_features, self.max_categories
        ).fit(X)
        self.feature_names_ = list(self.encoder_.feature_names_out_)
        self.classes_ = np.array([0, 1])
        Z = self.encoder_.transform(X)
        dates = None if as_of is None else np.asarray(as_of)
        is_fit, is_val, is_cal = self._slices(len(X), y, dates)
        w, half_life, ess = recency_weights_with_floor(
            dates,
            self.recency_half_life_days,
            len(X),
            self.min_effective_share,
            self.min_effective_rows,
        )
        self.resolved_ = self._resolve(len(X), int(is_cal.sum())) | {
            "recency_half_life_days": half_life,
            "effective_sample_size": ess,
        }
        stage = self._grow(Z, y, w, is_fit, is_val, is_cal)
        method = self.resolved_["calibration"]
        raw_cal = stage.decision_function(Z[is_cal])
        self.calibrator_ = _fit_calibrator(method, raw_cal, y[is_cal])
        if self.refit_on_all_dates:
            self.booster_ = self._booster(self.best_iteration_, False).fit(Z, y, sample_weight=w)
        else:
            self.booster_ = stage
        self.n_fit_rows_ = int((~is_cal).sum())
        self.n_validation_rows_ = int(is_val.sum())
        self.n_calibration_rows_ = int(is_cal.sum())
        self.n_booster_rows_ = len(X) if self.refit_on_all_dates else self.n_fit_rows_
        self.reference_values_ = _reference_values(X, self.encoder_)
        return HeldOut(is_cal, raw_cal)

    def _resolve(self, n_rows: int, n_calibration: int) -> dict[str, object]:
        """Size-adaptive settings: the values this fit uses (config.py says why)."""
        root = math.sqrt(n_rows)
        leaf = self.min_samples_leaf
        if leaf is None:
            leaf = round(self.leaf_share * n_rows)
            leaf = min(max(leaf, self.min_samples_leaf_floor), self.min_samples_leaf_cap)
        patience = self.n_iter_no_change
        if patience is None:
            patience = round(root / self.rows_sqrt_per_patience)
            patience = min(max(patience, self.patience_floor), self.patience_cap)
        method = self.calibration
        if method == "auto":
            method = "isotonic" if n_calibration >= self.isotonic_min_rows else "sigmoid"
        return {
            "min_samples_leaf": int(leaf),
            "n_iter_no_change": int(patience),
            "calibration": method,
            "calibration_rows": n_calibration,
        }

    def _slices(
        self, n: int, y: np.ndarray, dates: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """fit | validation | calibration masks: latest dates, or random stratified."""
        seed = self.random_state
        if dates is None:
            is_cal = stratified_mask(y, n, self.calibration_share, seed)
        else:
            is_cal = _calibration_mask(n, dates, self.calibration_share)
        is_val = np.zeros(n, dtype=bool)
        if self.early_stopping:
            rest = np.flatnonzero(~is_cal)
            if dates is None:
                val = stratified_mask(y[rest], len(rest), self.validation_share, seed + 1)
            else:
                val = latest_dates_mask(len(rest), dates[rest], self.validation_share)
            is_val[rest] = val
        is_fit = ~is_cal & ~is_val
        for name, mask in (("fit", is_fit), ("validation", is_val), ("calibration", is_cal)):
            if (mask.any() or name != "validation") and len(np.unique(y[mask])) < 2:
                raise ValueError(f"the {name} slice needs both classes")
        return is_fit, is_val, is_cal

    def _grow(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        is_fit: np.ndarray,
        is_val: np.ndarray,
        is_cal: np.ndarray,
    ) -> HistGradientBoostingClassifier:
        """The booster that scores the calibration slice; sets `best_iteration_`."""
        if not is_val.any():  # no early stopping, or too few dates: sklearn's random 10%
            stage = self._booster(self.max_iter, self.early_stopping).fit(
                Z[is_fit], y[is_fit], sample_weight=w[is_fit]
            )
            self.best_iteration_ = int(stage.n_iter_)
            return stage
        stage = self._booster(self.max_iter, True).fit(
            Z[is_fit], y[is_fit], sample_weight=w[is_fit], X_val=Z[is_val], y_val=y[is_val]
        )
        self.best_iteration_ = int(stage.n_iter_)
        # Regrown on every row before calibration with the chosen count: it scores the
        # calibration slice it never saw (closer to the served booster than the
        # early-stopping one, which lacks the validation rows).
        before = ~is_cal
        return self._booster(self.best_iteration_, False).fit(
            Z[before], y[before], sample_weight=w[before]
        )

    def __setstate__(self, state: dict[str, object]) -> None:
        """Models stored before the time-ordered slices (registry champions) lack the newer
        parameters: give them the values that describe how they were fit."""
        for key, value in _STORED_BEFORE_SLICES.items():
            state.setdefault(key, value)
        for key, value in _STORED_BEFORE_SIZING.items():
            state.setdefault(key, value)
        state.setdefault("resolved_", {"calibration": state.get("calibration", "isotonic")})
        super().__setstate__(state)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba_encoded(self.encode(X))

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """The frame as the booster reads it; column by column, so permuting a column of
        the encoding is permuting it in the frame (permutation importance relies on it)."""
        return self.encoder_.transform(X)

    def predict_proba_encoded(self, Z: np.ndarray, by_bins: bool = False) -> np.ndarray:
        """`predict_proba` of an already encoded frame (`encode`). `by_bins`: the trees
        walk the booster's bin codes (`binned_scores`), the same numbers in less CPU."""
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            if isinstance(self.calibrator_, CalibratedClassifierCV):  # stored before slices
                return self.calibrator_.predict_proba(Z)
            if by_bins:
                raw = binned_scores.raw_scores(self.booster_, Z)
            else:
                raw = self.booster_.decision_function(Z)
        p = _calibrated(self.resolved_["calibration"], self.calibrator_, raw)
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict_proba_by_bins(self, X: pd.DataFrame) -> np.ndarray:
        """`predict_proba`, bit for bit, in about half the CPU (`binned_scores`): for the
        training run's full passes over its training and test rows."""
        return self.predict_proba_encoded(self.encode(X), by_bins=True)

    def predict_proba_uncalibrated(self, X: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
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
# Models stored before size-adaptive settings: fixed values, no thread cap, no floor.
_STORED_BEFORE_SIZING: dict[str, object] = {
    "leaf_share": 0.02,
    "min_samples_leaf_floor": 5,
    "min_samples_leaf_cap": 200,
    "rows_sqrt_per_patience": 7.0,
    "patience_floor": 10,
    "patience_cap": 30,
    "isotonic_min_rows": 2000,
    "min_effective_share": 0.0,
    "min_effective_rows": 1,
    "n_threads": None,
}


def _recency_weights(dates: np.ndarray | None, half_life_days: float | None, n: int) -> np.ndarray:
    """0.5 ** (days before the latest date / half-life); ones without dates or half-life."""
    if dates is None or half_life_days is None:
        return np.ones(n)
    d = pd.to_datetime(pd.Series(dates)).to_numpy(dtype="datetime64[D]")
    age = (d.max() - d).astype(np.float64)
    return np.power(0.5, age / half_life_days)


def kish_effective_size(w: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: n for equal weights."""
    return float(w.sum() ** 2 / np.square(w).sum()) if len(w) else 0.0


def recency_weights_with_floor(
    dates: np.ndarray | None,
    half_life_days: float | None,
    n: int,
    min_share: float,
    min_rows: int,
) -> tuple[np.ndarray, float | None, float]:
    """Recency weights whose effective sample size is at least the floor
    ``max(min_share * n, min(n, min_rows))``; the half-life is lengthened (x1.25 a step)
    until it is, and dropped (equal weights, half-life None) when nothing short of equal
    weights reaches it. Returns weights, half-life used, effective size."""
    floor = max(min_share * n, min(n, min_rows))
    if dates is None or half_life_days is None or floor >= n:
        return np.ones(n), None, float(n)
    half_life = float(half_life_days)
    for _ in range(60):  # 1.25**60 ~ 6.5e5: a half-life beyond any data's span
        w = _recency_weights(dates, half_life, n)
        ess = kish_effective_size(w)
        if ess >= floor:
            return w, half_life, ess
        half_life *= 1.25
    return np.ones(n), None, float(n)


def _fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> object:
    """Monotone map raw score -> probability: isotonic; Platt's logistic on the score
    (sigmoid); or beta calibration, a logistic on ln(s) and -ln(1 - s) of s = expit(raw)
    (Kull et al. 2017), which also bends the tails. Near-unpenalised (C = 1e6)."""
    if method == "isotonic":
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    if method in ("sigmoid", "beta"):
        return LogisticRegression(C=1e6).fit(_calibration_inputs(method, raw), y)
    raise ValueError(f"unknown calibration {method!r}")


def _calibration_inputs(method: str, raw: np.ndarray) -> np.ndarray:
    if method == "sigmoid":
        return raw[:, None]
    # ln(expit(r)) = -log1p(exp(-r)); -ln(1 - expit(r)) = log1p(exp(r)); stable forms
    return np.column_stack([-np.logaddexp(0.0, -raw), np.logaddexp(0.0, raw)])


def _calibrated(method: str, calibrator: object, raw: np.ndarray) -> np.ndarray:
    if method == "isotonic":
        return calibrator.predict(raw)
    return calibrator.predict_proba(_calibration_inputs(method, raw))[:, 1]


def _calibration_mask(n: int, as_of: pd.Series | np.ndarray | None, share: float) -> np.ndarray:
    """True for rows on the latest dates making up ~`share` of rows (at least one date)."""
    if as_of is not None and pd.Series(np.asarray(as_of)).nunique() < 2:
        raise ValueError("time-ordered calibration needs at least two as-of dates in training")
    return latest_dates_mask(n, as_of, share)


def latest_dates_mask(n: int, as_of: pd.Series | np.ndarray | None, share: float) -> np.ndarray:
    """True for rows on the latest dates making up ~`share` of rows, never all dates.

    All False when there is a single date (nothing earlier would be left). Without
    dates, the last `share` of rows (rows taken to be in time order).
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
