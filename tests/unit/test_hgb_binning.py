"""The booster's weighted bin edges from one sort per feature equal scikit-learn's own."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting import binning

from nplpipeline.model.hgb_binning import _ORIGINAL, one_sort_per_feature, weighted_thresholds


def _column(rng: np.random.Generator, n: int) -> np.ndarray:
    x = np.round(rng.lognormal(3, 1, n), 1)  # many ties
    x[rng.random(n) < 0.05] = np.nan
    return x


def test_weighted_edges_equal_scikit_learns() -> None:
    rng = np.random.default_rng(0)
    for n in (300, 5_000):
        x = _column(rng, n)
        w = np.power(0.5, rng.integers(0, 400, n) / 90.0)
        w[rng.random(n) < 0.02] = 0.0  # zero weights are dropped, as sklearn drops them
        for weights in (w, None):
            ours = weighted_thresholds(x, 255, weights)
            np.testing.assert_array_equal(ours, _ORIGINAL(x, 255, sample_weight=weights))
        flags = (rng.random(n) < 0.3).astype(float)  # few distinct values: midpoints
        np.testing.assert_array_equal(
            weighted_thresholds(flags, 255, w), _ORIGINAL(flags, 255, sample_weight=w)
        )


def test_a_weighted_fit_is_unchanged_and_the_patch_is_undone() -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([_column(rng, 3_000), rng.normal(size=3_000)])
    y = (np.nan_to_num(X[:, 0]) / 30 + X[:, 1] + rng.normal(size=3_000) > 1).astype(int)
    w = rng.uniform(0.1, 1.0, 3_000)
    kw = {"max_iter": 20, "early_stopping": False, "random_state": 0}
    plain = HistGradientBoostingClassifier(**kw).fit(X, y, sample_weight=w)
    with one_sort_per_feature():
        assert binning._find_binning_thresholds is weighted_thresholds
        fast = HistGradientBoostingClassifier(**kw).fit(X, y, sample_weight=w)
    assert binning._find_binning_thresholds is _ORIGINAL
    edges = zip(plain._bin_mapper.bin_thresholds_, fast._bin_mapper.bin_thresholds_, strict=True)
    for a, b in edges:
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain.predict_proba(X), fast.predict_proba(X))
