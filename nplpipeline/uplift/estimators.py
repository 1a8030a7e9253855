"""Uplift estimators: scikit-learn meta-learners over several treatments.

Both return, per row and treatment, the expected net outcome ``mu_t(x)`` (NaN where the
treatment has no support for that row: propensity 0 or too few logged rows), so the
policy and the off-policy evaluation read one shape whatever learner made it.

* ``TLearner``: one outcome regressor per treatment, fitted on the rows that got it.
  Assignment is random given the covariates (the arms draw by hash within a tier), so
  no weighting is needed for consistency.
* ``DRLearner`` (Kennedy 2023): cross-fitted outcome models, then the doubly robust
  pseudo-outcome ``mu_t(x) + 1[T=t] / p_t(x) (Y - mu_t(x))`` with the *known*
  propensities, regressed on x per treatment. Consistent if either the outcome model
  or the propensity is right; the propensity is known, so a poor outcome model costs
  variance, never bias.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor

Regressor = RegressorMixin


def default_regressor(seed: int = 0) -> Regressor:
    """Shallow, regularised boosting: outcomes are heavy-tailed money amounts."""
    return HistGradientBoostingRegressor(
        max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=50,
        l2_regularization=1.0, random_state=seed,
    )  # fmt: skip


def _supported(treatment: np.ndarray, prob: pd.DataFrame, min_rows: int) -> list[str]:
    counts = pd.Series(treatment).value_counts()
    return [t for t in prob.columns if counts.get(t, 0) >= min_rows]


@dataclass
class TLearner:
    make: Callable[[], Regressor] = default_regressor
    min_rows: int = 200
    models: dict[str, Regressor] = field(default_factory=dict)

    def fit(self, x: np.ndarray, t: np.ndarray, y: np.ndarray, prob: pd.DataFrame) -> TLearner:
        self.models = {}
        for name in _supported(t, prob, self.min_rows):
            mine = t == name
            self.models[name] = clone(self.make()).fit(x[mine], y[mine])
        return self

    def predict(self, x: np.ndarray, prob: pd.DataFrame) -> pd.DataFrame:
        return _masked({n: m.predict(x) for n, m in self.models.items()}, prob)


def _masked(values: dict[str, np.ndarray], prob: pd.DataFrame) -> pd.DataFrame:
    """Values per treatment, NaN where the row gives the treatment no support."""
    out = pd.DataFrame(np.nan, index=prob.index, columns=list(prob.columns))
    for name, v in values.items():
        out[name] = np.where(prob[name].to_numpy() > 0, v, np.nan)
    return out


def cross_fit_outcomes(
    x: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    prob: pd.DataFrame,
    names: Sequence[str],
    make: Callable[[], Regressor],
    folds: int,
    seed: int,
) -> pd.DataFrame:
    """Out-of-fold ``mu_t(x)`` for every row and treatment in ``names``."""
    fold = np.random.default_rng(seed).integers(0, folds, len(y))
    out = pd.DataFrame(np.nan, index=prob.index, columns=list(names))
    for k in range(folds):
        train, test = fold != k, fold == k
        for name in names:
            mine = train & (t == name)
            if mine.sum() < 2:
                continue
            out.loc[test, name] = clone(make()).fit(x[mine], y[mine]).predict(x[test])
    return out.fillna(0.0)


def dr_pseudo_outcomes(
    t: np.ndarray, y: np.ndarray, prob: pd.DataFrame, mu: pd.DataFrame
) -> pd.DataFrame:
    """``mu_t + 1[T=t] / p_t (Y - mu_t)`` per treatment in ``mu`` (NaN where p_t = 0)."""
    out = pd.DataFrame(np.nan, index=mu.index, columns=mu.columns)
    for name in mu.columns:
        p = prob[name].to_numpy()
        m = mu[name].to_numpy()
        got = (t == name).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(p > 0, m + got / p * (y - m), np.nan)
    return out


@dataclass
class DRLearner:
    make: Callable[[], Regressor] = default_regressor
    make_final: Callable[[], Regressor] = default_regressor
    min_rows: int = 200
    folds: int = 2
    seed: int = 0
    outcome: Callable[..., pd.DataFrame] | None = None  # for tests: a deliberately wrong model
    models: dict[str, Regressor] = field(default_factory=dict)

    def fit(self, x: np.ndarray, t: np.ndarray, y: np.ndarray, prob: pd.DataFrame) -> DRLearner:
        names = _supported(t, prob, self.min_rows)
        if self.outcome is not None:
            mu = self.outcome(x, names)
        else:
            mu = cross_fit_outcomes(x, t, y, prob, names, self.make, self.folds, self.seed)
        pseudo = dr_pseudo_outcomes(t, y, prob, mu)
        self.models = {}
        for name in names:
            ok = pseudo[name].notna().to_numpy()
            self.models[name] = clone(self.make_final()).fit(x[ok], pseudo[name].to_numpy()[ok])
        return self

    def predict(self, x: np.ndarray, prob: pd.DataFrame) -> pd.DataFrame:
        return _masked({n: m.predict(x) for n, m in self.models.items()}, prob)
