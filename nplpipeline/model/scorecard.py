"""Logistic Weight-of-Evidence scorecard: the transparent baseline.

Every feature is cut into bins (quantiles for numerics, levels for categoricals, plus a
missing bin), each bin gets its WoE, and a logistic regression on the WoE columns gives
the log-odds of recovery. Scaled to points (PDO), each bin carries a fixed number of
points a collector or auditor can read off `points_table()`, and reason codes are the
points a row lost against each feature's best bin. Higher score = likelier to recover.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from nplpipeline.model.encoding import MISSING, UNKNOWN, category_codes, category_levels
from nplpipeline.model.frame import is_categorical

OTHER_LABEL = "__other__"
MISSING_LABEL = "missing"


class WoEScorecard(ClassifierMixin, BaseEstimator):
    """scikit-learn classifier on a DataFrame; `predict_proba[:, 1]` = P(recovery).

    Bins per numeric feature: ``len(edges_[f]) + 1`` value bins, then the missing bin.
    Bins per categorical: one per kept level, then "__other__" (rare at fit or unseen),
    then the missing bin. A bin never seen in training has WoE 0 (neutral).
    """

    def __init__(
        self,
        numeric_features: list[str] | None = None,
        categorical_features: list[str] | None = None,
        n_bins: int = 10,
        smoothing: float = 0.5,
        min_category_share: float = 0.005,
        C: float = 1.0,
        pdo: float = 20.0,
        base_score: float = 600.0,
        base_odds: float = 50.0,
    ):
        self.numeric_features = numeric_features
        self.categorical_features = categorical_features
        self.n_bins = n_bins
        self.smoothing = smoothing
        self.min_category_share = min_category_share
        self.C = C
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: np.ndarray) -> WoEScorecard:
        y = np.asarray(y).astype(np.int64)
        if self.numeric_features is None and self.categorical_features is None:
            self.categorical_features_ = [c for c in X.columns if is_categorical(X[c])]
            self.numeric_features_ = [c for c in X.columns if c not in self.categorical_features_]
        else:
            self.numeric_features_ = list(self.numeric_features or [])
            self.categorical_features_ = list(self.categorical_features or [])
        self.edges_: dict[str, np.ndarray] = {}
        self.levels_: dict[str, list[str]] = {}
        for f in self.numeric_features_:
            x = _as_float(X[f])
            self.edges_[f] = _quantile_edges(x, self.n_bins)
        for f in self.categorical_features_:
            self.levels_[f] = category_levels(X[f], min_share=self.min_category_share)
        self.feature_names_ = [*self.numeric_features_, *self.categorical_features_]
        self.classes_ = np.array([0, 1])

        bins = self._bin_matrix(X)
        n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
        if n_pos == 0 or n_neg == 0:
            raise ValueError("the scorecard needs both classes in the training labels")
        self.woe_: dict[str, np.ndarray] = {}
        self.bin_counts_: dict[str, np.ndarray] = {}
        self.bin_events_: dict[str, np.ndarray] = {}
        a = self.smoothing
        for j, f in enumerate(self.feature_names_):
            size = self._n_bins_of(f)
            tot = np.bincount(bins[:, j], minlength=size).astype(float)
            pos = np.bincount(bins[:, j], weights=y, minlength=size)
            neg = tot - pos
            woe = np.log((pos + a) / (n_pos + a * size)) - np.log((neg + a) / (n_neg + a * size))
            woe[tot == 0] = 0.0
            self.woe_[f], self.bin_counts_[f], self.bin_events_[f] = woe, tot, pos
        W = self._woe_matrix(bins)
        self.logit_ = LogisticRegression(C=self.C, max_iter=1000).fit(W, y)
        self._scale_points()
        return self

    def _scale_points(self) -> None:
        """Points per bin so that the sum over features = offset + factor * ln(odds)."""
        factor = self.pdo / math.log(2.0)
        offset = self.base_score - factor * math.log(self.base_odds)
        k = len(self.feature_names_)
        coef = self.logit_.coef_[0]
        intercept = float(self.logit_.intercept_[0])
        self.points_: dict[str, np.ndarray] = {}
        for j, f in enumerate(self.feature_names_):
            self.points_[f] = factor * (coef[j] * self.woe_[f] + intercept / k) + offset / k
        # Best bin = the most points among bins seen in training (what reason codes compare to)
        self.best_points_ = {
            f: float(self.points_[f][self.bin_counts_[f] > 0].max()) for f in self.feature_names_
        }

    # -- binning ---------------------------------------------------------------------------
    def _n_bins_of(self, f: str) -> int:
        if f in self.edges_:
            return len(self.edges_[f]) + 2
        return len(self.levels_[f]) + 2

    def _bin_matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.feature_names_ if f not in X.columns]
        if missing:
            raise KeyError(f"frame lacks scorecard features: {missing}")
        out = np.empty((len(X), len(self.feature_names_)), dtype=np.int64)
        for j, f in enumerate(self.feature_names_):
            if f in self.edges_:
                x = _as_float(X[f])
                edges = self.edges_[f]
                idx = np.searchsorted(edges, x, side="right")
                idx[np.isnan(x)] = len(edges) + 1
            else:
                codes = category_codes(X[f], self.levels_[f])
                n_levels = len(self.levels_[f])
                idx = np.where(
                    codes == UNKNOWN, n_levels, np.where(codes == MISSING, n_levels + 1, codes)
                )
            out[:, j] = idx
        return out

    def _woe_matrix(self, bins: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [self.woe_[f][bins[:, j]] for j, f in enumerate(self.feature_names_)]
        )

    # -- prediction ------------------------------------------------------------------------
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.logit_.predict_proba(self._woe_matrix(self._bin_matrix(X)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def row_points(self, X: pd.DataFrame) -> np.ndarray:
        """Points each row earns per feature (rows x features, order `feature_names_`)."""
        bins = self._bin_matrix(X)
        return np.column_stack(
            [self.points_[f][bins[:, j]] for j, f in enumerate(self.feature_names_)]
        )

    def score_points(self, X: pd.DataFrame) -> np.ndarray:
        """The credit-style score: offset + factor * ln(recovery odds)."""
        return self.row_points(X).sum(axis=1)

    def points_table(self) -> pd.DataFrame:
        """One row per feature bin: its range or level, count, recovery rate, WoE, points."""
        rows = []
        for f in self.feature_names_:
            labels = (
                _interval_labels(self.edges_[f])
                if f in self.edges_
                else [*self.levels_[f], OTHER_LABEL]
            ) + [MISSING_LABEL]
            n, ev = self.bin_counts_[f], self.bin_events_[f]
            for b, label in enumerate(labels):
                rows.append(
                    {
                        "feature": f,
                        "bin": b,
                        "label": label,
                        "n": int(n[b]),
                        "recovery_rate": float(ev[b] / n[b]) if n[b] else float("nan"),
                        "woe": float(self.woe_[f][b]),
                        "points": float(self.points_[f][b]),
                    }
                )
        return pd.DataFrame(rows)


def _as_float(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def _quantile_edges(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner cut points at equal-frequency quantiles; ties collapse bins instead of
    leaving empty ones (a 0/1 flag gets one cut, not nine)."""
    finite = x[~np.isnan(x)]
    if finite.size == 0:
        return np.empty(0)
    qs = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = np.unique(qs)
    return edges[edges > finite.min()]


def _interval_labels(edges: np.ndarray) -> list[str]:
    bounds = [-np.inf, *edges.tolist(), np.inf]
    return [f"[{lo:.4g}, {hi:.4g})" for lo, hi in itertools.pairwise(bounds)]
