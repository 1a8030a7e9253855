"""Logistic Weight-of-Evidence scorecard: the transparent baseline.

Every feature is cut into bins (by default optbinning-style optimal bins, `binning.py`:
monotone or single-peaked event rates, a minimum share of rows per bin, categorical
levels grouped by event rate; plus a missing bin, and for categoricals a neutral bin for
levels unseen at fit), each bin gets its WoE, and a logistic regression on the WoE
columns gives the log-odds of recovery. Scaled to points (PDO), each bin carries a fixed number of
points a collector or auditor can read off `points_table()`, and reason codes are the
points a row lost against each feature's best bin. Higher score = likelier to recover.

The same class is the regularised logistic-regression candidate (`encoding="onehot"`):
each bin is its own indicator column, so the fit learns each bin's effect itself
rather than through WoE computed on the same labels, with the L2 strength chosen by
stratified cross-validation over `C_grid`. Its points, reason codes and points table
read the same way (a bin's points = its coefficient, scaled).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from nplpipeline.model.binning import BinningRules, categorical_bins, numeric_edges
from nplpipeline.model.encoding import MISSING, UNKNOWN, category_codes, category_levels
from nplpipeline.model.frame import is_categorical
from nplpipeline.model.split import stratified_mask

OTHER_LABEL = "__other__"
MISSING_LABEL = "missing"


class WoEScorecard(ClassifierMixin, BaseEstimator):
    """scikit-learn classifier on a DataFrame; `predict_proba[:, 1]` = P(recovery).

    Bins per numeric feature: ``len(edges_[f]) + 1`` value bins, then the missing bin.
    Bins per categorical: its value bins (`level_bin_[f]` maps each level in `levels_[f]`
    to one; with `binning="optimal"` levels of similar event rate share a bin and rare
    levels share the bin of their pool, otherwise one bin per kept level), then
    "__other__" (unseen at fit; with the other binnings also rare at fit), then the
    missing bin. A bin never seen in training has WoE 0 (neutral).
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
        encoding: str = "woe",
        binning: str = "optimal",
        min_bin_share: float = 0.05,
        max_prebins: int = 20,
        min_bin_class_rows: int = 2,
        trend: str = "auto",
        peak_valley_gain: float = 0.1,
        C_grid: tuple[float, ...] | None = None,
        cv_folds: int = 5,
        cv_max_rows: int = 20_000,
        random_state: int = 0,
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
        self.encoding = encoding
        self.binning = binning
        self.min_bin_share = min_bin_share
        self.max_prebins = max_prebins
        self.min_bin_class_rows = min_bin_class_rows
        self.trend = trend
        self.peak_valley_gain = peak_valley_gain
        self.C_grid = C_grid
        self.cv_folds = cv_folds
        self.cv_max_rows = cv_max_rows
        self.random_state = random_state

    def __setstate__(self, state: dict[str, object]) -> None:
        """Scorecards stored before the one-hot option were WoE with a fixed C."""
        state.setdefault("encoding", "woe")
        state.setdefault("binning", "quantile")
        state.setdefault("min_bin_share", 0.05)
        state.setdefault("max_prebins", 20)
        state.setdefault("min_bin_class_rows", 2)
        state.setdefault("trend", "auto")
        state.setdefault("peak_valley_gain", 0.1)
        levels = state.get("levels_", {})
        state.setdefault("level_bin_", {f: np.arange(len(v)) for f, v in levels.items()})
        state.setdefault("trends_", {})
        state.setdefault("bin_labels_", {})
        state.setdefault("C_grid", None)
        state.setdefault("cv_folds", 5)
        state.setdefault("cv_max_rows", 20_000)
        state.setdefault("random_state", 0)
        super().__setstate__(state)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: np.ndarray) -> WoEScorecard:
        y = np.asarray(y).astype(np.int64)
        if self.numeric_features is None and self.categorical_features is None:
            self.categorical_features_ = [c for c in X.columns if is_categorical(X[c])]
            self.numeric_features_ = [c for c in X.columns if c not in self.categorical_features_]
        else:
            self.numeric_features_ = list(self.numeric_features or [])
            self.categorical_features_ = list(self.categorical_features or [])
        self._fit_bins(X, y)
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
        W = self._design(bins)
        self.C_ = self._choose_strength(W, y)
        self.logit_ = LogisticRegression(C=self.C_, max_iter=2000).fit(W, y)
        self._scale_points()
        return self

    def _fit_bins(self, X: pd.DataFrame, y: np.ndarray) -> None:
        """Cut points per numeric, and per categorical its seen levels and their bins."""
        rules = BinningRules(
            max_prebins=self.max_prebins,
            min_prebin_share=self.min_bin_share,
            min_bin_share=self.min_bin_share,
            min_bin_class_rows=self.min_bin_class_rows,
            trend=self.trend,
            peak_valley_gain=self.peak_valley_gain,
            min_category_share=self.min_category_share,
            smoothing=self.smoothing,
        )
        self.edges_: dict[str, np.ndarray] = {}
        self.levels_: dict[str, list[str]] = {}
        self.level_bin_: dict[str, np.ndarray] = {}
        self.bin_labels_: dict[str, list[str]] = {}
        self.trends_: dict[str, str] = {}
        for f in self.numeric_features_:
            x = _as_float(X[f])
            if self.binning == "optimal":
                self.edges_[f], self.trends_[f] = numeric_edges(x, y, rules)
            elif self.binning == "tree":
                self.edges_[f] = _tree_edges(x, y, self.n_bins, self.min_bin_share)
            else:
                self.edges_[f] = _quantile_edges(x, self.n_bins)
        for f in self.categorical_features_:
            if self.binning == "optimal":
                cb = categorical_bins(X[f], y, rules)
                self.levels_[f], self.level_bin_[f] = cb.levels, cb.level_bin
                self.bin_labels_[f], self.trends_[f] = cb.labels, "event rate order"
            else:
                self.levels_[f] = category_levels(X[f], min_share=self.min_category_share)
                self.level_bin_[f] = np.arange(len(self.levels_[f]), dtype=np.int64)

    def _choose_strength(self, W: np.ndarray | sparse.csr_matrix, y: np.ndarray) -> float:
        """`C`, or the grid value with the best stratified-CV log loss."""
        if not self.C_grid:
            return float(self.C)
        folds = min(self.cv_folds, int(np.bincount(y).min()))
        if folds < 2:
            return float(self.C)
        if len(y) > self.cv_max_rows:  # the strength is stable long before this many rows
            keep = stratified_mask(y, len(y), self.cv_max_rows / len(y), self.random_state)
            W, y = W[keep], y[keep]
        cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        loss = np.zeros(len(self.C_grid))
        for fit_idx, val_idx in cv.split(np.zeros(len(y)), y):
            for i, c in enumerate(self.C_grid):
                m = LogisticRegression(C=c, max_iter=2000).fit(W[fit_idx], y[fit_idx])
                loss[i] += log_loss(y[val_idx], m.predict_proba(W[val_idx])[:, 1], labels=[0, 1])
        return float(self.C_grid[int(np.argmin(loss))])

    def _design(self, bins: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        """The logistic regression's inputs: WoE per feature, or one indicator per bin
        (sparse: one non-zero per feature and row)."""
        if self.encoding == "woe":
            return self._woe_matrix(bins)
        if self.encoding != "onehot":
            raise ValueError(f"unknown encoding {self.encoding!r}")
        offsets = np.cumsum([0] + [self._n_bins_of(f) for f in self.feature_names_])
        n, k = bins.shape
        cols = (bins + offsets[:-1][None, :]).ravel()
        rows = np.repeat(np.arange(n), k)
        return sparse.csr_matrix((np.ones(n * k), (rows, cols)), shape=(n, int(offsets[-1])))

    def _bin_logits(self) -> dict[str, np.ndarray]:
        """Each bin's contribution to the log-odds (before the intercept)."""
        coef = self.logit_.coef_[0]
        if self.encoding == "woe":
            return {f: coef[j] * self.woe_[f] for j, f in enumerate(self.feature_names_)}
        out, start = {}, 0
        for f in self.feature_names_:
            size = self._n_bins_of(f)
            contribution = coef[start : start + size].copy()
            contribution[self.bin_counts_[f] == 0] = 0.0  # unseen bin: neutral
            out[f], start = contribution, start + size
        return out

    def _scale_points(self) -> None:
        """Points per bin so that the sum over features = offset + factor * ln(odds)."""
        factor = self.pdo / math.log(2.0)
        offset = self.base_score - factor * math.log(self.base_odds)
        k = len(self.feature_names_)
        intercept = float(self.logit_.intercept_[0])
        logits = self._bin_logits()
        self.points_: dict[str, np.ndarray] = {}
        for f in self.feature_names_:
            self.points_[f] = factor * (logits[f] + intercept / k) + offset / k
        # Best bin = the most points among bins seen in training (what reason codes compare to)
        self.best_points_ = {
            f: float(self.points_[f][self.bin_counts_[f] > 0].max()) for f in self.feature_names_
        }

    # -- binning ---------------------------------------------------------------------------
    def _n_bins_of(self, f: str) -> int:
        if f in self.edges_:
            return len(self.edges_[f]) + 2
        return self._n_value_bins(f) + 2

    def _n_value_bins(self, f: str) -> int:
        """A categorical's bins before the unseen (or rare) and the missing bin."""
        groups = self.level_bin_[f]
        return int(groups.max()) + 1 if len(groups) else 0

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
                g = self._n_value_bins(f)
                lookup = np.empty(len(self.levels_[f]) + 2, dtype=np.int64)
                lookup[: len(self.levels_[f])] = self.level_bin_[f]
                lookup[UNKNOWN], lookup[MISSING] = g, g + 1  # negative codes index the end
                idx = lookup[codes]
            out[:, j] = idx
        return out

    def _woe_matrix(self, bins: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [self.woe_[f][bins[:, j]] for j, f in enumerate(self.feature_names_)]
        )

    # -- prediction ------------------------------------------------------------------------
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba_encoded(self.encode(X))

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """Bin index per row and feature; column by column, so permuting a column of the
        bins is permuting it in the frame (permutation importance relies on it)."""
        return self._bin_matrix(X)

    def predict_proba_encoded(self, bins: np.ndarray) -> np.ndarray:
        """`predict_proba` of an already binned frame (`encode`)."""
        if self.encoding == "onehot":  # unseen bins score neutral, as in the points
            factor = self.pdo / math.log(2.0)
            offset = self.base_score - factor * math.log(self.base_odds)
            return _from_logit((self._bin_points(bins).sum(axis=1) - offset) / factor)
        return self.logit_.predict_proba(self._woe_matrix(bins))

    def row_points_logit(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of recovery per row (the points, unscaled)."""
        factor = self.pdo / math.log(2.0)
        offset = self.base_score - factor * math.log(self.base_odds)
        return (self.score_points(X) - offset) / factor

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def row_points(self, X: pd.DataFrame) -> np.ndarray:
        """Points each row earns per feature (rows x features, order `feature_names_`)."""
        return self._bin_points(self._bin_matrix(X))

    def _bin_points(self, bins: np.ndarray) -> np.ndarray:
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
            if f in self.edges_:
                labels = _interval_labels(self.edges_[f])
            else:
                labels = [*self.bin_labels_.get(f, self.levels_[f]), OTHER_LABEL]
            labels.append(MISSING_LABEL)
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


def _from_logit(z: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-z))
    return np.column_stack([1.0 - p, p])


def _as_float(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def _tree_edges(x: np.ndarray, y: np.ndarray, n_bins: int, min_share: float) -> np.ndarray:
    """Cut points of a CART tree on x alone (at most `n_bins` leaves of at least
    `min_share` of the non-missing rows): supervised bins, as optbinning's prebinning,
    that merge ranges with the same outcome instead of splitting on noise."""
    ok = ~np.isnan(x)
    if ok.sum() < 2 or len(np.unique(y[ok])) < 2:
        return _quantile_edges(x, n_bins)
    leaf = max(1, math.ceil(min_share * ok.sum()))
    tree = DecisionTreeClassifier(max_leaf_nodes=n_bins, min_samples_leaf=leaf, random_state=0)
    tree.fit(x[ok, None], y[ok])
    inner = tree.tree_.feature >= 0
    return np.unique(tree.tree_.threshold[inner])


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
