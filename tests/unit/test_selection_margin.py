"""Champion choice: a more complex candidate must beat a simpler one by more than noise."""

from __future__ import annotations

import numpy as np
import pytest

from nplpipeline.model import metrics
from nplpipeline.model.config import ModelConfig, SelectionConfig
from nplpipeline.model.selection import _best

ORDER = ["scorecard", "logistic", "boosted"]


def test_delong_variance_matches_the_bootstrap_and_vanishes_for_equal_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.3
    a, b = y + rng.normal(size=400), 0.8 * y + rng.normal(size=400)
    se = metrics.auc_difference_variance(y, a, b) ** 0.5
    boot = []
    for _ in range(1000):
        i = rng.integers(0, 400, 400)
        boot.append(metrics.auc(y[i], a[i]) - metrics.auc(y[i], b[i]))
    assert se == pytest.approx(np.std(boot), rel=0.1)
    assert metrics.auc_difference_variance(y, a, a) == 0.0
    assert np.isnan(metrics.auc_difference_variance(np.ones(10, bool), a[:10], b[:10]))


def _slices(lift: float, n: int, folds: int, seed: int):
    """Validation labels and scores per fold: boosted = scorecard + `lift` signal."""
    rng = np.random.default_rng(seed)
    ys, scores = [], {k: [] for k in ORDER}
    for _ in range(folds):
        y = rng.random(n) < 0.3
        base = y + rng.normal(size=n)
        ys.append(y)
        scores["scorecard"].append(base)
        scores["logistic"].append(base + 0.3 * rng.normal(size=n))
        scores["boosted"].append(base + lift * y + 0.6 * rng.normal(size=n))
    auc = {
        k: float(np.mean([metrics.auc(y, p) for y, p in zip(ys, s, strict=True)]))
        for k, s in scores.items()
    }
    return auc, scores, ys


def test_a_nominal_win_inside_the_noise_goes_to_the_simpler_candidate() -> None:
    auc, scores, ys = _slices(lift=0.3, n=150, folds=5, seed=1)
    assert max(auc, key=auc.get) == "boosted"  # the nominal best ...
    chosen, margin = _best(auc, scores, ys, ORDER, ModelConfig())
    assert chosen == "scorecard"  # ... is not clearly better on 150-row folds
    assert margin["boosted"] == 0.0 and 0.0 < margin["scorecard"] < 0.05
    assert auc["boosted"] - auc["scorecard"] < margin["scorecard"]
    plain = ModelConfig(selection=SelectionConfig(se_multiplier=0.0))
    assert _best(auc, scores, ys, ORDER, plain)[0] == "boosted"


def test_a_clear_win_is_taken_and_a_wide_tie_margin_still_applies() -> None:
    auc, scores, ys = _slices(lift=1.0, n=2000, folds=1, seed=2)
    chosen, margin = _best(auc, scores, ys, ORDER, ModelConfig())
    assert chosen == "boosted" and auc["boosted"] - auc["scorecard"] > margin["scorecard"]
    wide = ModelConfig(selection=SelectionConfig(tie_margin=1.0))
    assert _best(auc, scores, ys, ORDER, wide) == ("scorecard", dict.fromkeys(ORDER, 1.0))
