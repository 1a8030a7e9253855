"""The batched reason-code kernel gives the per-feature substitution's numbers, and
reason codes carry feature names and phrases only (no ids, no values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nplpipeline.devtools.synthetic import make_recovery_frame
from nplpipeline.model import plots
from nplpipeline.model.boosting import BoostedRecoveryModel
from nplpipeline.model.config import ModelConfig
from nplpipeline.model.frame import infer_feature_spec, label_array
from nplpipeline.model.leaf_tables import Inputs, LeafTables
from nplpipeline.model.reasons import phrase_for, reason_codes
from nplpipeline.model.scorecard import WoEScorecard
from nplpipeline.model.substitution import batched_impacts, internal_matrix, per_feature_impacts

CFG = ModelConfig()


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    frame = make_recovery_frame(6_000, n_dates=8, n_noise=3, seed=5)
    spec = infer_feature_spec(frame, CFG.columns)
    train = frame[frame.as_of_date < frame.as_of_date.max()]
    score = frame[frame.as_of_date == frame.as_of_date.max()].copy()
    # rows the kernel must not get wrong: unseen level, missing values, extremes
    score["province"] = score["province"].astype("string")
    score.loc[score.index[:5], "province"] = "P99"
    score.loc[score.index[5:10], "employment_type"] = None
    score.loc[score.index[10:15], "dpd"] = 10_000
    score.loc[score.index[15:20], "rpc_90d"] = np.nan
    return train, score, list(spec.numeric), list(spec.categorical)


@pytest.fixture(scope="module", params=["isotonic", "sigmoid"])
def booster(request, data) -> BoostedRecoveryModel:
    train, _, num, cat = data
    model = BoostedRecoveryModel(num, cat, max_iter=80, calibration=request.param)
    return model.fit(train, label_array(train, "label"), as_of=train["as_of_date"])


def test_batched_impacts_equal_one_prediction_per_feature(booster, data) -> None:
    _, score, _, _ = data
    reference = per_feature_impacts(booster, score)
    assert np.abs(reference).max() > 0.01  # the check has something to compare
    for batch_rows in (None, 97):  # one batch, and many uneven ones
        fast = batched_impacts(booster, score, batch_rows=batch_rows)
        np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-10)
        # exactly zero where substitution cannot change a branch, as in the reference
        assert ((fast == 0) == (np.abs(reference) < 1e-15)).mean() > 0.999


def test_leaf_tables_give_every_trees_own_prediction(booster, data) -> None:
    _, score, _, _ = data
    Z = internal_matrix(booster, score)
    cat = np.flatnonzero(np.asarray(booster.booster_.is_categorical_))
    assert len(cat)  # categorical splits are read off their tables; booster puts them first
    odd = Z[:6].copy()  # values the encoder does not make, but the predictor handles
    odd[0, -1], odd[1, -1], odd[2, -2] = -np.inf, np.inf, np.nan
    odd[3, : len(cat)], odd[4, : len(cat)], odd[5, : len(cat)] = -1.0, np.nan, 250.0
    Z = np.vstack([Z, odd])
    tables = LeafTables.of(booster.booster_, Z.shape[1])
    assert tables is not None
    index = tables.index(Inputs.of(tables, np.ascontiguousarray(Z.T)), 0, tables.n_trees)
    known, f_idx_map = booster.booster_._bin_mapper.make_known_categories_bitsets()
    walked = np.stack(
        [it[0].predict(Z, known, f_idx_map, 1) for it in booster.booster_._predictors]
    )
    np.testing.assert_array_equal(tables.lut.take(index), walked)


def test_trees_too_large_for_tables_are_walked_with_the_same_result(data) -> None:
    train, score, num, cat = data
    model = BoostedRecoveryModel(num, cat, max_iter=25, max_leaf_nodes=24)
    model.fit(train, label_array(train, "label"), as_of=train["as_of_date"])
    assert LeafTables.of(model.booster_, len(model.feature_names_)) is None
    reference = per_feature_impacts(model, score)
    assert np.abs(reference).max() > 0.01
    np.testing.assert_allclose(batched_impacts(model, score), reference, rtol=0, atol=1e-10)


def test_batched_reason_codes_rank_as_the_reference(booster, data) -> None:
    _, score, _, _ = data
    codes = reason_codes(booster, score, top_k=3)
    ref = per_feature_impacts(booster, score)
    order = np.argsort(-ref, axis=1, kind="stable")[:, 0]
    first = np.asarray(booster.feature_names_, dtype=object)[order]
    first[np.take_along_axis(ref, order[:, None], axis=1)[:, 0] <= 1e-6] = None
    agree = pd.Series(first, index=score.index).eq(codes.reason_feature_1)
    assert (agree | (codes.reason_feature_1.isna() & pd.isna(first))).all()


def test_feature_without_reference_has_no_impact(data) -> None:
    train, score, num, cat = data
    model = BoostedRecoveryModel(num, cat, max_iter=30)
    model.fit(train, label_array(train, "label"), as_of=train["as_of_date"])
    model.reference_values_["dpd"] = float("nan")
    fast = batched_impacts(model, score)
    j = model.feature_names_.index("dpd")
    assert (fast[:, j] == 0).all()
    np.testing.assert_allclose(fast, per_feature_impacts(model, score), atol=1e-10)


def test_scorecard_impacts_are_points_lost_against_the_best_bin(data) -> None:
    train, score, num, cat = data
    card = WoEScorecard(num, cat).fit(train, label_array(train, "label"))
    codes = reason_codes(card, score, top_k=2)
    points = card.row_points(score)
    for i in (0, 7, 12):  # brute force, one row at a time
        lost = {f: card.best_points_[f] - points[i, j] for j, f in enumerate(card.feature_names_)}
        top = max(lost, key=lambda f: (lost[f], -card.feature_names_.index(f)))
        row = codes.iloc[i]
        assert row.reason_feature_1 == top
        assert row.reason_impact_1 == pytest.approx(lost[top])
        assert row.reason_1 == phrase_for(top)


def test_reason_codes_carry_no_ids_or_values(booster, data) -> None:
    _, score, _, _ = data
    codes = reason_codes(booster, score, top_k=3)
    assert set(codes.columns) == {
        f"reason{kind}_{i}" for kind in ("", "_feature", "_impact") for i in (1, 2, 3)
    }
    text = codes.filter(regex=r"^reason(_feature)?_\d$").stack().dropna().astype(str)
    ids = set(score.loan_id) | set(score.customer_id)
    assert not text.isin(ids).any()
    assert not text.str.contains(r"[LC]\d{8}", regex=True).any()
    names = set(codes.filter(like="reason_feature_").stack().dropna())
    assert names <= set(booster.feature_names_)
    assert not names & {"loan_id", "customer_id", "as_of_date", "label"}


# -- permutation importance -----------------------------------------------------------------
class _CountingScorecard(WoEScorecard):
    """Records how many rows every prediction sees."""

    seen: list[int]

    def predict_proba_encoded(self, bins: np.ndarray) -> np.ndarray:
        self.seen.append(len(bins))
        return super().predict_proba_encoded(bins)


def test_permutation_importance_is_capped_and_deterministic(data) -> None:
    train, score, num, cat = data
    card = _CountingScorecard(num, cat).fit(train, label_array(train, "label"))
    y = label_array(score, "label")
    features = list(card.feature_names_)
    card.seen = []
    first = plots.permutation_importances(card, score, y, features, seed=3, max_rows=300)
    assert card.seen and max(card.seen) == 300 < len(score)
    assert len(card.seen) == 1 + len(features) * 3  # baseline + features x repeats
    again = plots.permutation_importances(card, score, y, features, seed=3, max_rows=300)
    pd.testing.assert_frame_equal(first, again)
    assert first.feature.iloc[0] == "dpd"  # the planted driver matters most
    other = plots.permutation_importances(card, score, y, features, seed=4, max_rows=300)
    assert not other.importance.equals(first.importance)  # the seed picks the rows


def test_encoded_importance_equals_shuffling_the_frame(booster, data) -> None:
    _, score, _, _ = data
    y = label_array(score, "label")
    features = list(booster.feature_names_)
    fast = plots.permutation_importances(booster, score, y, features, seed=1)

    class Frame:  # the same model without the encoded path: sklearn shuffles the frame
        def fit(self, X, y=None):
            return self

        def predict_proba(self, X):
            return booster.predict_proba(X)

    slow = plots.permutation_importances(Frame(), score, y, features, seed=1)
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, atol=1e-12)


def test_binned_importance_equals_shuffling_the_frame(data) -> None:
    train, score, num, cat = data
    card = WoEScorecard(num, cat, encoding="onehot").fit(train, label_array(train, "label"))
    y = label_array(score, "label")
    features = list(card.feature_names_)
    fast = plots.permutation_importances(card, score, y, features, seed=2)

    class Frame:
        def fit(self, X, y=None):
            return self

        def predict_proba(self, X):
            return card.predict_proba(X)

    slow = plots.permutation_importances(Frame(), score, y, features, seed=2)
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, atol=1e-12)
