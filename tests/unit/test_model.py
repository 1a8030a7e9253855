"""Model stage without MLflow: split, metrics (hand-checked), scorecard, boosting,
reason codes, monitoring, and safe (skops) serialisation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nplpipeline.devtools.synthetic import make_recovery_frame
from nplpipeline.model import binned_scores, metrics, serialization
from nplpipeline.model.config import ColumnsConfig, ModelConfig, MonitoringConfig, SplitConfig
from nplpipeline.model.frame import infer_feature_spec, label_array
from nplpipeline.model.monitoring import build_reference, monitor
from nplpipeline.model.reasons import phrase_for, reason_codes
from nplpipeline.model.scorecard import WoEScorecard
from nplpipeline.model.split import out_of_time_split
from nplpipeline.model.train import fit_models

CFG = ModelConfig()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_recovery_frame(16_000, n_dates=10, seed=3)


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame):
    split = out_of_time_split(frame, CFG.split)
    spec = infer_feature_spec(frame, CFG.columns)
    models, _ = fit_models(split, spec, CFG)
    return split, spec, models


# -- split ---------------------------------------------------------------------------------
def test_split_is_strictly_out_of_time(frame: pd.DataFrame) -> None:
    s = out_of_time_split(frame, SplitConfig(test_dates=3))
    assert s.train.as_of_date.max() < s.test.as_of_date.min()
    assert s.test.as_of_date.nunique() == 3
    assert s.test.as_of_date.min() == s.cutoff
    assert len(s.train) + len(s.test) == len(frame)
    assert not set(s.train.loan_id) & set(s.test.loan_id)


def test_split_by_cutoff_with_embargo(frame: pd.DataFrame) -> None:
    dates = sorted(frame.as_of_date.unique())
    cutoff = pd.Timestamp(dates[-2]).date()
    s = out_of_time_split(frame, SplitConfig(cutoff=cutoff, embargo_days=40))
    assert s.test.as_of_date.min() == pd.Timestamp(cutoff)
    # month-end dates: the embargo removes exactly the month before the cutoff
    assert s.train.as_of_date.max() == pd.Timestamp(dates[-4])
    assert s.embargoed_rows == (frame.as_of_date == dates[-3]).sum()
    with pytest.raises(ValueError):
        out_of_time_split(frame, SplitConfig(test_dates=len(dates)))


# -- metrics, checked by hand ----------------------------------------------------------------
def test_ks_auc_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    # CDFs: negatives {0.1, 0.4}, positives {0.35, 0.8}; largest gap 0.5 at 0.1 and at 0.4
    assert metrics.ks(y, p) == pytest.approx(0.5)
    assert metrics.auc(y, p) == pytest.approx(0.75)  # 3 of 4 pos/neg pairs ordered
    assert metrics.gini(y, p) == pytest.approx(0.5)
    assert math.isnan(metrics.auc(np.ones(3), np.ones(3)))


def test_psi_by_hand() -> None:
    expected_value = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert metrics.psi_from_shares([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected_value)
    # bins=2 cuts the expected sample at its median 2.5: shares 1/2,1/2 vs 1/4,3/4
    value = metrics.psi(np.array([1, 2, 3, 4]), np.array([1, 3, 4, 5]), bins=2)
    assert value == pytest.approx(expected_value)  # 0.2747
    assert metrics.psi_band(value) == "shift"
    assert metrics.psi_band(0.05) == "stable" and metrics.psi_band(0.2) == "watch"
    assert metrics.psi(np.arange(100), np.arange(100)) == pytest.approx(0.0)


def test_ece_by_hand() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.6, 0.9])
    # bins {0.1,0.2}: |0.5-0.15| = 0.35; {0.6,0.9}: |0.5-0.75| = 0.25; weighted 0.30
    assert metrics.ece(y, p, bins=2) == pytest.approx(0.30)
    assert metrics.ece(np.array([0, 1] * 50), np.full(100, 0.5)) == pytest.approx(0.0)


def test_segment_metrics_per_value() -> None:
    f = pd.DataFrame(
        {
            "product": ["a"] * 4 + ["b"] * 4,
            "y": [0, 0, 1, 1, 0, 1, 0, 1],
            "p": [0.1, 0.2, 0.8, 0.9, 0.9, 0.1, 0.8, 0.2],
        }
    )
    t = metrics.segment_metrics(f, "p", "y", by=["product", "absent"]).set_index("value")
    assert t.loc["a", "auc"] == pytest.approx(1.0) and t.loc["b", "auc"] == pytest.approx(0.0)
    assert set(t.segment) == {"product"} and t.loc["a", "n"] == 4


# -- feature inference ----------------------------------------------------------------------
def test_feature_spec_from_dtypes(frame: pd.DataFrame) -> None:
    spec = infer_feature_spec(frame, ColumnsConfig())
    assert {"product", "bucket", "province", "employment_type"} == set(spec.categorical)
    assert "dpd" in spec.numeric and "x1" in spec.numeric
    for col in ("loan_id", "customer_id", "as_of_date", "label", "tier"):
        assert col not in spec.all


def test_label_must_be_binary() -> None:
    with pytest.raises(ValueError):
        label_array(pd.DataFrame({"label": [0, 1, 2]}), "label")
    with pytest.raises(ValueError):
        label_array(pd.DataFrame({"label": [0, None, 1]}), "label")


# -- models ---------------------------------------------------------------------------------
def test_boosting_beats_scorecard_on_interaction(fitted) -> None:
    split, _, models = fitted
    y = label_array(split.test, "label")
    auc = {n: metrics.auc(y, m.predict_proba(split.test)[:, 1]) for n, m in models.items()}
    assert auc["scorecard"] > 0.65  # the additive part is learnt
    assert auc["boosted"] > auc["scorecard"] + 0.05  # the XOR interaction only by boosting


def test_calibrated_model_has_small_ece(fitted) -> None:
    split, _, models = fitted
    y = label_array(split.test, "label")
    p = models["boosted"].predict_proba(split.test)[:, 1]
    assert metrics.ece(y, p) < 0.03
    assert abs(p.mean() - y.mean()) < 0.03


def test_booster_slices_are_time_ordered_then_refit_on_every_date(frame) -> None:
    """fit | validation | calibration by date; the served booster sees every date."""
    from nplpipeline.model.boosting import (
        BoostedRecoveryModel,
        _recency_weights,
        latest_dates_mask,
    )

    train = out_of_time_split(frame, CFG.split).train
    X = train.drop(columns=["loan_id", "customer_id", "as_of_date", "label"])
    y = train["label"].astype(int).to_numpy()
    dates = train["as_of_date"].to_numpy()
    m = BoostedRecoveryModel(max_iter=400).fit(X, y, as_of=train["as_of_date"])
    cal = latest_dates_mask(len(train), dates, 0.2)
    assert m.n_calibration_rows_ == cal.sum() and dates[cal].min() > dates[~cal].max()
    assert 0 < m.n_validation_rows_ < m.n_fit_rows_ == (~cal).sum()
    assert 1 <= m.best_iteration_ < 400  # early stopping stopped on the validation slice
    assert m.booster_.n_iter_ == m.best_iteration_ and m.n_booster_rows_ == len(train)
    kept = BoostedRecoveryModel(max_iter=400, refit_on_all_dates=False).fit(
        X, y, as_of=train["as_of_date"]
    )
    assert kept.n_booster_rows_ == kept.n_fit_rows_
    # recency weights halve every half-life, counted back from the latest date
    w = _recency_weights(np.array(["2026-01-31", "2025-11-02", "2026-01-31"]), 90.0, 3)
    assert w == pytest.approx([1.0, 0.5, 1.0])
    assert (_recency_weights(None, 90.0, 2) == 1).all()
    assert (_recency_weights(dates, None, len(dates)) == 1).all()


def test_scorecard_points_follow_pdo(fitted) -> None:
    split, _, models = fitted
    sc: WoEScorecard = models["scorecard"]
    p = sc.predict_proba(split.test)[:, 1]
    factor = 20 / math.log(2)
    expected = 600 - factor * math.log(50) + factor * np.log(p / (1 - p))
    assert np.allclose(sc.score_points(split.test), expected)
    table = sc.points_table()
    dpd = table[table.feature == "dpd"]
    # later DPD bins earn fewer points (recovery falls with DPD)
    value_bins = dpd[dpd.label != "missing"]
    assert value_bins.points.iloc[0] > value_bins.points.iloc[-1] + 20
    assert set(table.feature) == set(sc.feature_names_)


def test_generic_public_style_frame() -> None:
    """Any tabular frame: other names, int 0/1 label, no product/bucket columns."""
    rng = np.random.default_rng(1)
    n = 6000
    f = pd.DataFrame(
        {
            "id": np.arange(n),
            "date": pd.Timestamp("2020-01-31")
            + pd.to_timedelta(rng.integers(0, 8, n) * 30, unit="D"),
            "util": rng.random(n),
            "late_30_59": rng.poisson(0.4, n),
            "home": pd.Series(rng.choice(["own", "rent", None], n), dtype="object"),
        }
    )
    f["SeriousDlq"] = (rng.random(n) < 1 / (1 + np.exp(-(2 * f.util - f.late_30_59)))).astype(int)
    cfg = ModelConfig(
        columns=ColumnsConfig(id_columns=("id",), date_column="date", label_column="SeriousDlq"),
        split=SplitConfig(test_dates=2),
    )
    spec = infer_feature_spec(f, cfg.columns)
    assert spec.numeric == ("util", "late_30_59") and spec.categorical == ("home",)
    split = out_of_time_split(f, cfg.split, "date")
    models, _ = fit_models(split, spec, cfg)
    y = label_array(split.test, "SeriousDlq")
    for m in models.values():
        assert metrics.auc(y, m.predict_proba(split.test)[:, 1]) > 0.6


def test_unseen_categories_and_missing_columns(fitted) -> None:
    split, _, models = fitted
    odd = split.test.head(50).copy()
    odd["province"] = "NEVER_SEEN"
    odd["product"] = None
    for m in models.values():
        p = m.predict_proba(odd)[:, 1]
        assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
        with pytest.raises(KeyError):
            m.predict_proba(odd.drop(columns=["dpd"]))


def test_booster_scores_by_bins_are_its_float_scores_bit_for_bit(fitted) -> None:
    split, _, models = fitted
    m = models["boosted"]
    odd = split.test.head(400).copy()
    odd["province"] = odd["province"].astype(object)
    odd.loc[odd.index[:100], "province"] = "NEVER_SEEN"
    odd.loc[odd.index[100:200], "dpd"] = np.nan
    odd.loc[odd.index[200:300], "balance"] = np.inf
    odd.loc[odd.index[300:], "balance"] = -1e12
    for rows in (split.train, split.test, odd):
        assert np.array_equal(m.predict_proba_by_bins(rows), m.predict_proba(rows))
    # a categorical code the booster's fit never saw: scored the float way, same numbers
    booster = m.booster_
    Z = booster._preprocess_X(m.encode(split.test), reset=False)
    assert binned_scores._known_categories_only(booster._bin_mapper, Z)
    cat = int(np.flatnonzero(booster._bin_mapper.is_categorical_)[0])
    Z[:50, cat] = 200.0
    assert not binned_scores._known_categories_only(booster._bin_mapper, Z)
    assert np.array_equal(binned_scores.raw_scores(booster, Z), booster.decision_function(Z))


def test_skops_round_trip_with_trusted_types_only(fitted, tmp_path) -> None:
    split, _, models = fitted
    for name, m in models.items():
        path = tmp_path / f"{name}.skops"
        serialization.dump(m, path)
        back = serialization.load(path)
        assert np.array_equal(back.predict_proba(split.test), m.predict_proba(split.test))


def test_untrusted_type_is_refused(tmp_path) -> None:
    import os

    from sklearn.preprocessing import FunctionTransformer
    from skops.io.exceptions import UntrustedTypesFoundException

    path = tmp_path / "evil.skops"
    serialization.dump(FunctionTransformer(func=os.system), path)
    with pytest.raises(UntrustedTypesFoundException):
        serialization.load(path)


# -- reason codes ---------------------------------------------------------------------------
def test_reason_codes_name_the_planted_driver(fitted) -> None:
    split, _, models = fitted
    late = split.test[split.test.dpd > 300]
    assert len(late) >= 20
    for name, m in models.items():
        r = reason_codes(m, late, top_k=3)
        # the one-hot logistic model shares lateness between dpd and its bucket (M6+)
        lateness = ("dpd", "bucket") if name == "logistic" else ("dpd",)
        share = r.reason_feature_1.isin(lateness).mean()
        assert share >= 0.9, (name, share)
        assert (r.loc[r.reason_feature_1 == "dpd", "reason_1"] == "Days past due is high").all()
        assert list(r.index) == list(late.index)
        # impacts are ordered: first reason pulls hardest
        assert (r.reason_impact_1.fillna(0) >= r.reason_impact_2.fillna(0)).all()


def test_reason_phrases() -> None:
    assert phrase_for("rpc_90d") == "Few right-party contacts in the last 90 days"
    assert phrase_for("rpc_30d") == "Few right-party contacts in the last 30 days"
    assert phrase_for("mystery_score") == "mystery_score is unfavourable"
    assert phrase_for("dpd", {"dpd": "Very late"}) == "Very late"


# -- monitoring -----------------------------------------------------------------------------
def test_monitoring_flags_a_shifted_population(fitted) -> None:
    split, _, models = fitted
    m = models["boosted"]
    ref = build_reference(
        split.train, m.predict_proba(split.train)[:, 1], ["dpd", "rpc_90d", "product"], oot_auc=0.84
    )
    same = make_recovery_frame(6000, n_dates=2, seed=11)
    shifted = make_recovery_frame(6000, n_dates=2, seed=12, shift=1.5)
    cfg = MonitoringConfig()
    ok = monitor(ref, same, m.predict_proba(same)[:, 1], cfg).set_index("subject")
    bad = monitor(ref, shifted, m.predict_proba(shifted)[:, 1], cfg).set_index("subject")
    assert (ok.status == "ok").all(), ok
    assert bad.loc["score", "status"] == "alert" and bad.loc["dpd", "status"] == "alert"
    assert bad.loc["product", "status"] == "ok"  # product mix did not move

    # realised AUC on matured labels only; broken labels => alert
    labels = same.label.astype(float).to_numpy().copy()
    labels[:1000] = np.nan
    good = monitor(ref, same, m.predict_proba(same)[:, 1], cfg, labels=labels)
    row = good[good.metric == "realised_auc"].iloc[0]
    assert row.n == 5000 and row.status == "ok"
    noise = np.random.default_rng(0).permutation(same.label.to_numpy()).astype(float)
    broken = monitor(ref, same, m.predict_proba(same)[:, 1], cfg, labels=noise)
    assert broken[broken.metric == "realised_auc"].iloc[0].status == "alert"


def test_features_stage_schema_frame() -> None:
    """A frame typed like `int_features` (label `recovered`, `label_data_date`) trains, and
    every real feature name gets a collector phrase rather than the generic fallback."""
    from nplpipeline.features.config import FeatureConfig
    from nplpipeline.features.schema import categorical_features, feature_dtypes
    from nplpipeline.model.stage import config_for_features

    rng = np.random.default_rng(2)
    n = 4000
    dtypes = feature_dtypes(FeatureConfig())
    f = pd.DataFrame(
        {
            "loan_id": [f"L{i}" for i in range(n)],
            "customer_id": "C",
            "as_of_date": pd.date_range("2026-01-31", periods=6, freq="ME")[rng.integers(0, 6, n)],
        }
    )
    for col, kind in dtypes.items():
        f[col] = (
            pd.Categorical(rng.choice(["a", "b", "missing"], n))
            if kind == "category"
            else rng.poisson(3, n).astype(kind)
        )
    f["recovered"] = rng.random(n) < 1 / (1 + np.exp(0.5 * (f.dpd - 3)))
    f["label_data_date"] = pd.Timestamp("2026-10-31")
    cfg = config_for_features(ModelConfig(split=SplitConfig(test_dates=2)))
    spec = infer_feature_spec(f, cfg.columns)
    assert set(spec.all) == set(dtypes)
    assert set(spec.categorical) == set(categorical_features(FeatureConfig()))
    split = out_of_time_split(f, cfg.split)
    models, _ = fit_models(split, spec, cfg)
    y = label_array(split.test, "recovered")
    assert metrics.auc(y, models["boosted"].predict_proba(split.test)[:, 1]) > 0.6
    generic = [c for c in dtypes if phrase_for(c).endswith("is unfavourable")]
    assert generic == []


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_every_calibration_method_survives_the_trusted_skops_round_trip(tmp_path, method) -> None:
    """A config choice must never produce a model the registry cannot store or load."""
    from nplpipeline.model.boosting import BoostedRecoveryModel

    frame = make_recovery_frame(4_000, n_dates=6, seed=1)
    features = frame.drop(columns=["loan_id", "customer_id", "as_of_date", "label"])
    model = BoostedRecoveryModel(calibration=method, max_iter=30).fit(
        features, frame["label"].astype(int).to_numpy(), as_of=frame["as_of_date"]
    )
    path = tmp_path / "model.skops"
    serialization.dump(model, path)
    loaded = serialization.load(path)
    assert np.allclose(loaded.predict_proba(features), model.predict_proba(features))


def test_a_booster_stored_before_the_time_slices_still_loads_and_scores(tmp_path) -> None:
    """Registry champions keep their old calibrator (CalibratedClassifierCV over the
    booster) and lack the newer parameters; they must score exactly as before."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    from nplpipeline.model.boosting import BoostedRecoveryModel

    frame = make_recovery_frame(4_000, n_dates=6, seed=1)
    features = frame.drop(columns=["loan_id", "customer_id", "as_of_date", "label"])
    y = frame["label"].astype(int).to_numpy()
    model = BoostedRecoveryModel(max_iter=30).fit(features, y, as_of=frame["as_of_date"])
    Z = model.encoder_.transform(features)
    model.calibrator_ = CalibratedClassifierCV(FrozenEstimator(model.booster_)).fit(Z, y)
    for key in ("n_iter_no_change", "validation_share", "refit_on_all_dates"):
        del model.__dict__[key]
    del model.__dict__["recency_half_life_days"]
    path = tmp_path / "old.skops"
    serialization.dump(model, path)
    loaded = serialization.load(path)
    assert np.allclose(loaded.predict_proba(features), model.calibrator_.predict_proba(Z))
    assert loaded.get_params()["refit_on_all_dates"] is False and "BoostedRecoveryModel" in repr(
        loaded
    )
