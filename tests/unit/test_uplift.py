"""Uplift estimators, off-policy evaluation, the learned policy and its gate, on
synthetic logs whose true effects are known (issue #15)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from nplpipeline.config.policy import load_policy
from nplpipeline.uplift.config import GateSpec, load_uplift_policy
from nplpipeline.uplift.estimators import DRLearner, TLearner
from nplpipeline.uplift.evaluation import (
    Estimate,
    bootstrap_mean,
    deterministic,
    dr_terms,
    ips_terms,
    ranking_metrics,
)
from nplpipeline.uplift.gate import GAIN_CHECK, decide
from nplpipeline.uplift.policy import choose, policy_matrix
from nplpipeline.uplift.synthetic import NAMES, synthetic_log, true_effects
from nplpipeline.uplift.treatments import propensities


def _tau_error(values: pd.DataFrame, x: np.ndarray, name: str) -> float:
    truth = true_effects(x)
    est = values[name] - values["no_extra_action"]
    return float(np.mean(np.abs(est - (truth[name] - truth["no_extra_action"]))))


def _small() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=60, max_leaf_nodes=8, min_samples_leaf=40)


@pytest.mark.parametrize(
    "learner",
    [TLearner(_small, min_rows=50), DRLearner(_small, _small, min_rows=50, seed=1)],
    ids=["t_learner", "dr_learner"],
)
def test_learners_recover_known_heterogeneous_effects(learner):
    x, t, y, prob = synthetic_log(8000, seed=3)
    values = learner.fit(x, t, y, prob).predict(x, prob)
    # the effects range over 30 currency units; noise sd is 10
    assert _tau_error(values, x, "call") < 4.0
    assert _tau_error(values, x, "visit") < 6.0
    best = values.idxmax(axis=1)
    truth_best = true_effects(x).idxmax(axis=1)
    assert (best == truth_best).mean() > 0.85


def test_ips_is_unbiased_on_a_randomised_log():
    estimates, truths = [], []
    for seed in range(40):
        x, t, y, prob = synthetic_log(1500, seed=100 + seed)
        pi = deterministic(pd.Series(np.where(x[:, 0] > 0.5, "call", "visit")), prob.columns)
        estimates.append(ips_terms(t, y, prob, pi).mean())
        truths.append((true_effects(x) * pi).sum(axis=1).mean())
    bias = np.mean(np.array(estimates) - np.array(truths))
    se = np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(bias) < 3 * se + 0.5


def test_dr_with_a_wrong_outcome_model_is_still_consistent():
    x, t, y, prob = synthetic_log(60_000, seed=7)
    pi = deterministic(pd.Series(np.where(x[:, 0] > 0.5, "call", "visit")), prob.columns)
    truth = float((true_effects(x) * pi).sum(axis=1).mean())
    wrong = pd.DataFrame(0.0, index=prob.index, columns=NAMES) + np.array([90.0, -40.0, 10.0])
    value = dr_terms(t, y, prob, pi, wrong).mean()
    naive = (wrong * pi).sum(axis=1).mean()
    assert abs(value - truth) < 1.5
    assert abs(naive - truth) > 20  # the outcome model alone is far off


def test_dr_learner_with_a_wrong_outcome_model_still_recovers_effects():
    x, t, y, prob = synthetic_log(12_000, seed=11)

    def wrong(x_, names):
        return pd.DataFrame({n: np.full(len(x_), 0.0) for n in names})

    learner = DRLearner(_small, _small, min_rows=50, outcome=wrong)
    values = learner.fit(x, t, y, prob).predict(x, prob)
    assert _tau_error(values, x, "call") < 8.0


def test_bootstrap_interval_covers_the_truth_and_groups_resample_together():
    covered = 0
    for seed in range(20):
        x, t, y, prob = synthetic_log(1000, seed=200 + seed)
        pi = deterministic(pd.Series(["call"] * len(t)), prob.columns)
        truth = float(true_effects(x)["call"].mean())
        est = bootstrap_mean(ips_terms(t, y, prob, pi), samples=100, level=0.9, seed=seed)
        assert est.low < est.value < est.high
        covered += est.low < truth < est.high
    assert covered >= 15  # nominal 90%: 18 of 20 expected
    groups = np.repeat(np.arange(len(t) // 5), 5)  # five rows per account
    clustered = bootstrap_mean(np.repeat(np.arange(len(t) // 5, dtype=float), 5), groups, 300)
    rowwise = bootstrap_mean(np.repeat(np.arange(len(t) // 5, dtype=float), 5), None, 300)
    assert clustered.high - clustered.low > 1.5 * (rowwise.high - rowwise.low)


def test_qini_rewards_a_good_ranking_and_not_a_random_one():
    x, t, y, prob = synthetic_log(8000, seed=9)
    truth = true_effects(x)
    good = pd.DataFrame({"call": (truth["call"] - truth["no_extra_action"]).to_numpy()})
    rand = pd.DataFrame({"call": np.random.default_rng(0).normal(size=len(t))})
    ref = pd.Series(["no_extra_action"] * len(t))
    m_good = ranking_metrics(t, y, prob, good, ref)
    m_rand = ranking_metrics(t, y, prob, rand, ref)
    assert m_good["qini_call"] > m_rand["qini_call"] + 1.0
    assert m_good["uplift_at_10_call"] > 15  # top 10% have x0 ~ 0.95: effect ~ 23


def test_policy_respects_support_capacity_and_the_randomised_share():
    n = 1000
    rng = np.random.default_rng(2)
    values = pd.DataFrame({"call": rng.normal(10, 5, n), "visit": rng.normal(12, 5, n)})
    values.loc[:99, "visit"] = np.nan  # no support: never chosen there
    ref = pd.Series(["call"] * n, dtype="string")
    logged = pd.Series(rng.choice(["call", "visit"], n), dtype="string")
    draw = rng.uniform(0, 1, n)
    c = choose(values, ref, logged, draw, 0.2, {"visit": 300})
    assert not (c.best[:100] == "visit").any()
    assert (c.treatment == "visit").sum() <= 300
    assert c.explore.mean() == pytest.approx(0.2, abs=0.04)
    assert (c.treatment[c.explore] == logged[c.explore]).all()
    exploit = ~c.explore
    assert (c.uplift[exploit & (c.treatment == "call")] == 0).all()
    # the capacity keeps the visits that lose most by falling back to a call
    kept = (c.best == "visit") & exploit
    gain = values["visit"] - values["call"]
    dropped = exploit & (gain > 0) & ~kept & values["visit"].notna()
    if dropped.any() and kept.any():
        assert gain[kept].min() >= gain[dropped].max() - 1e-9
    pi = policy_matrix(c, pd.DataFrame({"call": [0.5] * n, "visit": [0.5] * n}))
    assert np.allclose(pi.sum(axis=1), 1.0)


def test_gate_promotes_only_a_gain_clear_of_the_margin():
    spec = GateSpec(safety_margin=1.0, min_out_of_time_rows=100, consecutive_passes=1)
    assert decide(spec, Estimate(5.0, 2.0, 8.0, 500), "v").promote
    assert not decide(spec, Estimate(5.0, 0.5, 8.0, 500), "v").promote
    assert not decide(spec, Estimate(5.0, 2.0, 8.0, 50), "v").promote
    nan = float("nan")
    assert not decide(spec, Estimate(nan, nan, nan, 500), "v").promote


def test_gate_asks_for_passes_in_a_row():
    spec = GateSpec(min_out_of_time_rows=100)  # default: two passes in a row
    clear, unclear = Estimate(5.0, 2.0, 8.0, 500), Estimate(5.0, -1.0, 8.0, 500)
    first = decide(spec, clear, "v")
    assert not first.promote and first.reason == "failed: consecutive_passes"
    assert decide(spec, clear, "v", earlier_passes=1).promote
    assert not decide(spec, unclear, "v", earlier_passes=5).promote


def test_passes_before_count_the_latest_run_of_passes_only(tmp_path):
    from nplpipeline.uplift.versions import VersionRecord, gain_passes_before, keep_version

    days = [dt.date(2026, 3, d) for d in (1, 8, 15, 22)]
    for day, passed in zip(days, (True, False, True, True), strict=True):
        gate = {"checks": [{"name": GAIN_CHECK, "passed": passed}]}
        keep_version(tmp_path, {"fitted": day}, VersionRecord(f"v{day}", day, "r", False, gate))
    assert gain_passes_before(tmp_path, days[3], GAIN_CHECK) == 1  # 03-15 only
    assert gain_passes_before(tmp_path, days[3] + dt.timedelta(1), GAIN_CHECK) == 2
    assert gain_passes_before(tmp_path, days[2], GAIN_CHECK) == 0  # 03-08 failed
    assert gain_passes_before(tmp_path, days[0], GAIN_CHECK) == 0


def test_default_policy_propensities_are_the_arm_shares():
    policy = load_policy().strategies
    uplift = load_uplift_policy()
    frame = pd.DataFrame(
        {
            "tier": ["mild", "mild", "severe", "extremely_severe", "extremely_severe"],
            "assigned_tier": ["mild", "mild", "severe", "extremely_severe", "severe"],
            "strategy_arm": ["champion", "control", "challenger", "champion", "control"],
            "dpd": [5, 20, 100, 200, 200],
            "legal_ready": [False, False, True, True, True],
        }
    )
    got, prob = propensities(frame, policy, uplift)
    assert list(got) == ["flexible_plan", "no_extra_action", "visit", "agency", "no_extra_action"]
    assert np.allclose(prob.sum(axis=1), 1.0)
    assert prob.loc[0, "flexible_plan"] == pytest.approx(0.8)
    assert prob.loc[0, "call"] == pytest.approx(0.1)
    assert prob.loc[1, "call"] == pytest.approx(0.9)  # dpd 20: both arms call
    assert prob.loc[2, "visit"] == pytest.approx(0.95)  # dpd > 90: champion visits too
    assert prob.loc[3, "agency"] == pytest.approx(0.9)
    # drawn as severe control, now extremely severe: keeps its untreated arm
    assert prob.loc[4, "no_extra_action"] == pytest.approx(0.05)


def test_every_crm_payload_field_is_documented():
    from pathlib import Path

    from nplpipeline.act.delivery.payload import FIELD_NAMES

    doc = (Path(__file__).resolve().parents[2] / "docs" / "crm-payload.md").read_text()
    table = [line for line in doc.splitlines() if line.startswith("| `")]
    named = " ".join(line.split("|")[1] for line in table)
    for name in FIELD_NAMES:
        stem = name.rsplit("_", 1)[0] if name[-1].isdigit() else name
        assert f"`{name}`" in named or f"`{stem}_1`" in named, name


def test_reasons_name_the_covariates_that_move_the_gain_and_never_a_value():
    from nplpipeline.uplift.explain import top_reasons

    x = np.array([[5.0, 0.0, 1.0], [-5.0, 2.0, 1.0]])

    def gain(m: np.ndarray) -> np.ndarray:
        return 3.0 * m[:, 0] - 1.0 * m[:, 1]  # the third covariate never matters

    out = top_reasons(gain, x, np.zeros(3), ["dpd", "rpc_30d", "tier_mild"], top=3)
    assert out.loc[0, "nba_reason_1"] == "dpd raises the gain"
    assert out.loc[1, "nba_reason_1"] == "dpd lowers the gain"
    assert out.loc[1, "nba_reason_2"] == "rpc_30d lowers the gain"
    assert out["nba_reason_3"].isna().all()  # no contribution, no reason
    texts = [v for v in out.to_numpy().ravel() if isinstance(v, str)]
    allowed = {f"{n} {w} the gain" for n in ("dpd", "rpc_30d") for w in ("raises", "lowers")}
    assert set(texts) <= allowed  # a name and a direction, never a value


def test_uplift_policy_rejects_unknown_keys_and_unknown_capacity(tmp_path):
    import yaml

    from nplpipeline.uplift.config import DEFAULT_UPLIFT_POLICY_FILE

    spec = yaml.safe_load(DEFAULT_UPLIFT_POLICY_FILE.read_text())
    for bad in ({"horizon_dayz": 3}, {"capacity": {"teleport": 5}}):
        path = tmp_path / "u.yaml"
        path.write_text(yaml.safe_dump({**spec, **bad}))
        with pytest.raises(ValueError):
            load_uplift_policy(path)
    assert load_uplift_policy().version().startswith("nba-")
