"""Settings that adapt to the data's size, undated data, champion choice, unseen levels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from nplpipeline.devtools.synthetic import make_recovery_frame
from nplpipeline.model import candidates, metrics, selection
from nplpipeline.model.boosting import (
    BoostedRecoveryModel,
    HeldOut,
    kish_effective_size,
    recency_weights_with_floor,
)
from nplpipeline.model.config import ModelConfig, SelectionConfig, SplitConfig
from nplpipeline.model.encoding import MISSING, UNKNOWN, category_codes
from nplpipeline.model.frame import infer_feature_spec, label_array
from nplpipeline.model.split import RANDOM_STRATIFIED, out_of_time_split

CFG = ModelConfig()


def _xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    X = frame.drop(columns=["loan_id", "customer_id", "as_of_date", "label", "tier"])
    return X, frame["label"].astype(int).to_numpy()


def test_small_data_gets_small_leaves_short_patience_and_sigmoid() -> None:
    X, y = _xy(make_recovery_frame(800, n_dates=6, seed=1))
    m = BoostedRecoveryModel(max_iter=200, random_state=0).fit(X, y)
    r = m.resolved_
    assert r["min_samples_leaf"] == 16  # 2% of 800 rows, not the 200 tuned on 46k
    assert r["n_iter_no_change"] == 10  # the floor: few trees, little overshoot
    assert r["calibration"] == "sigmoid" and r["calibration_rows"] < 2000
    assert r["recency_half_life_days"] is None  # no dates given: no recency weights
    assert m.booster_.min_samples_leaf == 16
    p = m.predict_proba(X)[:, 1]
    assert len(np.unique(p)) > 100  # a smooth map keeps the ranking: no isotonic steps


def test_large_data_keeps_the_tuned_settings() -> None:
    m = BoostedRecoveryModel()
    big = m._resolve(46_000, 9_000)
    assert big == {
        "min_samples_leaf": 200,
        "n_iter_no_change": 30,
        "calibration": "isotonic",
        "calibration_rows": 9_000,
    }
    fixed = BoostedRecoveryModel(min_samples_leaf=50, n_iter_no_change=7, calibration="beta")
    assert fixed._resolve(500, 100)["min_samples_leaf"] == 50
    assert fixed._resolve(500, 100)["n_iter_no_change"] == 7
    assert fixed._resolve(500, 100)["calibration"] == "beta"


def test_beta_calibration_fits_and_predicts() -> None:
    X, y = _xy(make_recovery_frame(3000, n_dates=6, seed=2))
    m = BoostedRecoveryModel(max_iter=100, calibration="beta").fit(X, y)
    p = m.predict_proba(X)[:, 1]
    assert m.resolved_["calibration"] == "beta"
    assert abs(p.mean() - y.mean()) < 0.03 and ((p > 0) & (p < 1)).all()


def test_recency_weights_never_cut_the_effective_sample_below_the_floor() -> None:
    dates = np.repeat(pd.date_range("2024-01-31", periods=24, freq="ME").to_numpy(), 500)
    n = len(dates)
    w, half_life, ess = recency_weights_with_floor(dates, 30.0, n, 0.5, 2000)
    assert ess >= 0.5 * n and ess == pytest.approx(kish_effective_size(w))
    assert half_life > 30.0  # lengthened: 30 days alone would leave ~1/8 of the rows
    raw, _, raw_ess = recency_weights_with_floor(dates, 30.0, n, 0.01, 1)
    assert raw_ess < 0.5 * n and raw.min() < w.min()  # the unfloored weights are harsher
    few, none, few_ess = recency_weights_with_floor(dates[:1500], 30.0, 1500, 0.5, 2000)
    assert none is None and (few == 1).all() and few_ess == 1500  # small data: no weights


@pytest.mark.parametrize("how", ["drop", "constant", "all_missing"])
def test_undated_data_get_a_stated_stratified_random_holdout(how: str) -> None:
    frame = make_recovery_frame(2000, n_dates=12, seed=4)
    if how == "drop":
        frame = frame.drop(columns=["as_of_date"])
    elif how == "constant":
        frame["as_of_date"] = pd.Timestamp("2025-01-31")
    else:
        frame["as_of_date"] = pd.NaT
    split = out_of_time_split(frame, SplitConfig(), label_column="label", seed=3)
    assert split.kind == RANDOM_STRATIFIED and split.cutoff is None
    assert len(split.test) == pytest.approx(0.25 * len(frame), abs=2)
    assert split.test.label.mean() == pytest.approx(frame.label.mean(), abs=0.005)
    assert set(split.train.index).isdisjoint(split.test.index)
    assert split.describe("as_of_date")["split_kind"] == RANDOM_STRATIFIED
    with pytest.raises(ValueError, match="out-of-time split needs dates"):
        out_of_time_split(frame, SplitConfig(when_no_dates="error"), label_column="label")


def test_partly_missing_dates_are_an_error_not_undated() -> None:
    frame = make_recovery_frame(500, n_dates=6, seed=4)
    frame.loc[frame.index[:3], "as_of_date"] = pd.NaT
    with pytest.raises(ValueError, match="3 rows have no as_of_date"):
        out_of_time_split(frame, SplitConfig(), label_column="label")


def test_champion_is_chosen_on_validation_never_on_the_test() -> None:
    frame = make_recovery_frame(6000, n_dates=8, seed=6)
    split = out_of_time_split(frame, CFG.split)
    spec = infer_feature_spec(frame, CFG.columns)
    y = label_array(split.train, "label")
    chosen = selection.choose(split.train, y, split.train.as_of_date, spec, CFG)
    assert chosen.method == selection.LATEST_DATES and set(chosen.auc) == {
        "scorecard",
        "logistic",
        "boosted",
    }
    assert chosen.chosen == max(chosen.auc, key=chosen.auc.get)
    assert chosen.chosen == "boosted"  # the planted XOR interaction only boosting learns
    assert chosen.validation_rows < len(split.train)
    # undated: stratified folds over the training rows
    undated = split.train.drop(columns=["as_of_date"])
    folds = selection.choose(undated, y, None, spec, CFG)
    assert folds.method == selection.STRATIFIED_FOLDS and folds.folds == 5
    assert folds.validation_rows == len(undated)
    # ties go to the simpler candidate
    tie = CFG.model_copy(update={"selection": SelectionConfig(tie_margin=1.0)})
    assert selection.choose(split.train, y, split.train.as_of_date, spec, tie).chosen == (
        "scorecard"
    )


def test_selection_reuses_the_boosters_held_out_calibration_scores() -> None:
    """The booster's final fit holds out the latest training rows (its calibration slice)
    and scores them with a booster grown only on the earlier rows: what selection needs,
    so no second booster is grown on the same rows."""
    frame = make_recovery_frame(4000, n_dates=8, seed=6)
    split = out_of_time_split(frame, CFG.split)
    spec = infer_feature_spec(frame, CFG.columns)
    y, dates = label_array(split.train, "label"), split.train.as_of_date
    booster = candidates.build("boosted", spec, CFG)
    model, held = candidates.fit_holding_out(booster, split.train, y, dates)
    _, masks = selection.validation_masks(y, dates, CFG)
    assert np.array_equal(held.mask, masks[0]) and len(held.raw) == masks[0].sum()
    assert model.n_fit_rows_ == (~held.mask).sum()  # the stage never saw them
    served = model.booster_.decision_function(model.encode(split.train.loc[held.mask]))
    assert not np.allclose(served, held.raw)  # the served booster was refit on them
    chosen = selection.choose(split.train, y, dates, spec, CFG, {"boosted": held})
    assert chosen.held_out == ("boosted",)
    assert chosen.auc["boosted"] == pytest.approx(metrics.auc(y[held.mask], held.raw))
    # held-out rows that are not the validation rows are not reused: fit for selection
    shifted = HeldOut(np.roll(held.mask, 1), held.raw)
    fitted = selection.choose(split.train, y, dates, spec, CFG, {"boosted": shifted})
    assert fitted.held_out == () and fitted.auc["boosted"] != chosen.auc["boosted"]


def test_logistic_candidate_is_one_hot_with_a_cross_validated_strength() -> None:
    frame = make_recovery_frame(3000, n_dates=6, seed=7)
    spec = infer_feature_spec(frame, CFG.columns)
    X, y = _xy(frame)
    m = candidates.fit(candidates.build("logistic", spec, CFG), frame, y, None)
    assert m.encoding == "onehot" and m.C_ in CFG.logistic.C_grid
    n_bins = sum(m._n_bins_of(f) for f in m.feature_names_)
    assert m.logit_.coef_.shape == (1, n_bins)  # one coefficient per bin
    # points reproduce the probabilities (reason codes read the same points)
    assert np.allclose(
        m.predict_proba(X)[:, 1], m.logit_.predict_proba(m._design(m._bin_matrix(X)))[:, 1]
    )
    booster = candidates.build("boosted", spec, CFG)
    assert booster.n_threads == CFG.threads == 1


def test_unseen_and_missing_levels_are_coded_explicitly_without_warnings() -> None:
    values = pd.Series(["a", "b", None, "zz"], dtype="category")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas deprecates Categoricals with unseen values
        codes = category_codes(values, ["b", "a"])
        none_kept = category_codes(values, [])
    assert codes.tolist() == [1, 0, MISSING, UNKNOWN]
    assert none_kept.tolist() == [UNKNOWN, UNKNOWN, MISSING, UNKNOWN]
