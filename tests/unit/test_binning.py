"""Optimal binning of the WoE scorecard: trends, minimum bins, levels, determinism."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from nplpipeline.model.binning import (
    OTHER_LEVEL,
    BinningRules,
    _best_partition,
    _range_stats,
    categorical_bins,
    numeric_edges,
    optimal_groups,
    prebin_edges,
)
from nplpipeline.model.scorecard import WoEScorecard


def _draw(rate: np.ndarray, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(len(rate)) < rate).astype(np.int64)


def _bin_rates(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.searchsorted(edges, x, side="right")
    n = np.bincount(idx, minlength=len(edges) + 1)
    return np.bincount(idx, weights=y, minlength=len(edges) + 1) / n, n


def test_a_noisy_monotone_effect_gets_strictly_monotone_bins() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    y = _draw(1 / (1 + np.exp(-0.8 * x)), 1)
    edges, trend = numeric_edges(x, y, BinningRules())
    rates, _ = _bin_rates(x, y, edges)
    assert trend == "ascending" and len(edges) >= 3
    assert (np.diff(rates) > 0).all()
    falling, trend = numeric_edges(-x, y, BinningRules())
    assert trend == "descending" and (np.diff(_bin_rates(-x, y, falling)[0]) < 0).all()


def test_a_clear_peak_is_kept_and_noise_is_merged() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, size=4000)
    y = _draw(1 / (1 + np.exp(-(1.5 - x**2))), 3)  # likeliest in the middle
    edges, trend = numeric_edges(x, y, BinningRules())
    rates, _ = _bin_rates(x, y, edges)
    top = int(np.argmax(rates))
    assert trend == "peak" and 0 < top < len(rates) - 1
    assert (np.diff(rates[: top + 1]) > 0).all() and (np.diff(rates[top:]) < 0).all()
    noise = _draw(np.full(4000, 0.3), 4)
    flat, _ = numeric_edges(x, noise, BinningRules(trend="ascending"))
    assert len(flat) < len(prebin_edges(x, noise, BinningRules())) // 2
    assert (np.diff(_bin_rates(x, noise, flat)[0]) > 0).all()


def test_every_bin_keeps_the_minimum_share_and_both_classes() -> None:
    rng = np.random.default_rng(5)
    x = rng.exponential(size=2000)
    y = _draw(1 / (1 + np.exp(-(x - 1))), 6)
    rules = BinningRules(min_bin_share=0.1, min_prebin_share=0.02, min_bin_class_rows=30)
    edges, _ = numeric_edges(x, y, rules)
    rates, n = _bin_rates(x, y, edges)
    assert len(edges) >= 2
    assert (n >= 0.1 * len(x)).all()
    events = rates * n
    assert (events >= 30).all() and (n - events >= 30).all()


def _brute_force(ev: np.ndarray, ne: np.ndarray, rules: BinningRules, sign: float) -> float:
    """Best IV over every partition into contiguous ranges with rising (sign 1) or
    falling (sign -1) event rates, by enumeration."""
    iv, rate, ok = _range_stats(ev, ne, rules)
    m, best = len(ev), -math.inf
    for k in range(m):
        for cuts in itertools.combinations(range(1, m), k):
            bounds = [0, *cuts, m]
            parts = list(itertools.pairwise(bounds))
            if not all(ok[a, b - 1] for a, b in parts):
                continue
            r = [sign * rate[a, b - 1] for a, b in parts]
            if all(p < q for p, q in itertools.pairwise(r)):
                best = max(best, sum(iv[a, b - 1] for a, b in parts))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_dynamic_programme_finds_the_best_partition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tot = rng.integers(20, 80, size=8).astype(float)
    ev = np.round(tot * rng.uniform(0.1, 0.9, size=8))
    rules = BinningRules(min_bin_share=0.08, min_bin_class_rows=3)
    iv, rate, ok = _range_stats(ev, tot - ev, rules)
    for trend, sign in (("ascending", 1.0), ("descending", -1.0)):
        value, cuts = _best_partition(iv, rate, ok, trend)
        assert value == pytest.approx(_brute_force(ev, tot - ev, rules, sign))
        groups, _ = optimal_groups(ev, tot - ev, rules, trend=trend)
        assert groups.max() == len(cuts)


def test_levels_are_grouped_by_event_rate_and_rare_levels_pooled() -> None:
    rng = np.random.default_rng(7)
    rate = {"a": 0.2, "b": 0.8, "c": 0.21, "d": 0.79, "e": 0.5}
    levels = rng.choice(list(rate), size=5000)
    levels = np.concatenate([levels, ["rare1"] * 5, ["rare2"] * 5])
    y = _draw(np.array([rate.get(v, 0.5) for v in levels]), 8)
    bins = categorical_bins(pd.Series(levels, dtype="string"), y, BinningRules())
    of = dict(zip(bins.levels, bins.level_bin, strict=True))
    assert max(of["a"], of["c"]) < of["e"] < min(of["b"], of["d"])  # in event-rate order
    assert of["rare1"] == of["rare2"]  # pooled before binning
    assert any(OTHER_LEVEL in label for label in bins.labels)
    many = rng.choice([f"L{i}" for i in range(40)], size=4000)  # 40 levels of ~2.5%
    y = _draw(np.full(4000, 0.4), 9)
    grouped = categorical_bins(pd.Series(many, dtype="string"), y, BinningRules())
    counts = np.bincount(grouped.level_bin[pd.Index(grouped.levels).get_indexer(many)])
    assert len(counts) < 20 and (counts >= 0.05 * 4000).all()  # merged to the minimum share


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    grade = rng.choice(list("ABCDEFG"), size=n)
    lift = pd.Series(grade).map(dict(zip("ABCDEFG", np.linspace(1, -1, 7), strict=True)))
    y = _draw(1 / (1 + np.exp(-(x + lift.to_numpy()))), seed + 1)
    x[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({"x": x, "grade": pd.Series(grade, dtype="string")}), y


def test_unseen_levels_score_neutral_and_missing_has_its_own_bin() -> None:
    X, y = _frame(3000, 11)
    m = WoEScorecard(["x"], ["grade"], C_grid=(0.1, 1.0)).fit(X, y)
    table = m.points_table()
    grade = table[table.feature == "grade"]
    unseen, missing = grade.iloc[-2], grade.iloc[-1]
    assert unseen.n == 0 and unseen.woe == 0.0 and missing.label == "missing"
    grades = pd.Series(["Z", None, "A"], dtype="string")
    new = pd.DataFrame({"x": [0.0, 0.0, np.nan], "grade": grades})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        points = m.row_points(new)
    assert points[0, 1] == pytest.approx(unseen.points)  # an unseen level: the neutral bin
    assert points[1, 1] == pytest.approx(missing.points)
    assert points[2, 0] == pytest.approx(table[table.feature == "x"].iloc[-1].points)
    x_rates = table[(table.feature == "x") & (table.label != "missing")].recovery_rate
    assert x_rates.is_monotonic_increasing


def test_binning_is_deterministic_and_ignores_row_order() -> None:
    X, y = _frame(2000, 13)
    a = WoEScorecard(["x"], ["grade"]).fit(X, y)
    b = WoEScorecard(["x"], ["grade"]).fit(X, y)
    order = np.random.default_rng(0).permutation(len(y))
    c = WoEScorecard(["x"], ["grade"]).fit(X.iloc[order], y[order])
    pd.testing.assert_frame_equal(a.points_table(), b.points_table())
    np.testing.assert_array_equal(a.edges_["x"], c.edges_["x"])
    assert a.bin_labels_["grade"] == c.bin_labels_["grade"]
    np.testing.assert_allclose(a.predict_proba(X), c.predict_proba(X), atol=1e-6)


def test_a_scorecard_stored_before_optimal_binning_still_scores_the_same() -> None:
    X, y = _frame(1500, 17)
    old = WoEScorecard(["x"], ["grade"], binning="quantile").fit(X, y)
    state = dict(old.__dict__)
    for attr in ("level_bin_", "bin_labels_", "trends_", "max_prebins", "peak_valley_gain"):
        state.pop(attr)
    revived = WoEScorecard.__new__(WoEScorecard)
    revived.__setstate__(state)
    np.testing.assert_array_equal(revived.predict_proba(X), old.predict_proba(X))
    pd.testing.assert_frame_equal(revived.points_table(), old.points_table())
