"""The learned policy's own arm (issue #15): a kept independent draw, strategies chosen
before the plan's steps are built, as-of version selection and a training table of
randomised decisions only."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml

from nplpipeline.act.arms import assign_arms, keep_policy_arms
from nplpipeline.act.strategies import plan_treatments
from nplpipeline.config.policy import load_policy
from nplpipeline.uplift.config import DEFAULT_UPLIFT_POLICY_FILE, load_uplift_policy
from nplpipeline.uplift.training import randomised
from nplpipeline.uplift.versions import VersionRecord, keep_version, select_as_of

STRAT = load_policy().strategies
TIERS = ("mild", "severe", "extremely_severe")
RUN = dt.date(2026, 3, 10)


def _loans(n: int) -> pd.Series:
    return pd.Series([f"L{i:06d}" for i in range(n)])


def test_nba_arm_is_an_independent_share_and_only_in_its_tiers():
    loans = _loans(40_000)
    tiers = pd.Series(np.resize(["mild", "severe", "extremely_severe"], len(loans)))
    arm = keep_policy_arms(loans, tiers, 0.2, 7, ("mild", "severe"))
    nba = (arm == "nba").to_numpy()
    eligible = tiers.isin(["mild", "severe"]).to_numpy()
    assert nba[eligible].mean() == pytest.approx(0.2, abs=0.01)
    assert not nba[~eligible].any()
    # independent of the base draw: the base arms keep their shares inside the nba arm
    base = assign_arms(loans, tiers, STRAT)["strategy_arm"]
    mild_nba = nba & (tiers == "mild").to_numpy()
    shares = base[mild_nba].value_counts(normalize=True)
    for name, spec in STRAT.tiers["mild"].arms.items():
        assert shares[name] == pytest.approx(spec.share, abs=0.03)
    # another seed, another draw
    other = keep_policy_arms(loans, tiers, 0.2, 8, ("mild", "severe"))
    assert (other != arm).mean() > 0.2


def test_a_kept_policy_arm_never_switches_and_old_rows_read_static():
    loans = _loans(2000)
    tiers = pd.Series(["mild"] * len(loans))
    fresh = keep_policy_arms(loans, tiers, 0.5, 3, TIERS)
    kept = pd.DataFrame({"loan_id": loans[:1000], "policy_arm": fresh[:1000]})
    kept.loc[:99, "policy_arm"] = None  # drawn before the nba arm existed
    flipped = 1 - 0.5  # whatever share and tier now, kept accounts keep theirs
    again = keep_policy_arms(loans, pd.Series(["severe"] * len(loans)), flipped, 99, TIERS, kept)
    assert (again[100:1000] == fresh[100:1000]).all()
    assert (again[:100] == "static").all()
    drawn_now = keep_policy_arms(loans[1000:], tiers[1000:], flipped, 99, TIERS)
    assert (again[1000:] == drawn_now).all()


def _scores(n: int, tier: str, dpd: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": RUN,
            "loan_id": [f"L{i}" for i in range(n)],
            "customer_id": [f"C{i}" for i in range(n)],
            "tier": tier,
            "dpd": dpd,
            "recovery_probability": 0.5,
            "overdue_amount": 1000.0,
            "outstanding_principal": 5000.0,
            "model_version": "1",
        }
    )


def test_a_chosen_strategy_builds_the_plan_rows_and_keeps_the_base_arm():
    scores = _scores(400, "mild", 5)
    customers = pd.DataFrame({"customer_id": scores["customer_id"], "monthly_income": 9000.0})
    seen = {}

    def choose(plan: pd.DataFrame) -> pd.DataFrame:
        seen["plan"] = plan.copy()
        nba = plan["policy_arm"] == "nba"
        return pd.DataFrame(
            {
                "strategy_name": pd.Series("mild_call_early", index=plan.index).where(nba),
                "nba_policy_version": pd.Series("v1", index=plan.index).where(nba),
            }
        )

    plan = plan_treatments(scores, customers, RUN, STRAT, None, (0.5, 1, TIERS), choose)
    nba = (plan["policy_arm"] == "nba").to_numpy()
    assert 0.4 < nba.mean() < 0.6
    assert {"legal_ready", "strategy_arm", "policy_arm"} <= set(seen["plan"].columns)
    assert (plan.loc[nba, "strategy_name"] == "mild_call_early").all()
    assert (plan.loc[nba, "nba_policy_version"] == "v1").all()
    assert plan.loc[~nba, "nba_policy_version"].isna().all()
    # steps, channels and offers come from the chosen strategy
    static = plan_treatments(scores, customers, RUN, STRAT, None, (0.5, 1, TIERS))
    call_early = STRAT.strategies["mild_call_early"]
    assert (plan.loc[nba, "step_name"] == call_early.steps[0].name).all()
    assert (plan.loc[nba, "planned_channels"] == "call").all()
    cols = ["strategy_name", "step_name", "planned_channels", "offer_type"]
    pd.testing.assert_frame_equal(plan.loc[~nba, cols], static.loc[~nba, cols])
    # the arm keeps the base draw's strategy (what a tier without that arm falls back to)
    assert (plan["arm_strategy"] == static["strategy_name"]).all()
    assert (plan["strategy_arm"] == static["strategy_arm"]).all()


def test_training_keeps_only_randomised_decisions():
    rows = pd.DataFrame(
        {
            "loan_id": ["s0", "s1", "e0", "c0", "n0", "o0"],
            "policy_arm": ["static", "static", "nba", "nba", "nba", None],
            "nba_policy_version": [None, None, "v1", "v1", None, None],
            "nba_explore": [None, None, True, False, None, None],
        }
    )
    kept = randomised(rows)
    # chosen by the policy (c0) has no known propensity; exploring (e0), nba before any
    # policy (n0) and rows planned before the arm existed (o0) were randomised
    assert list(kept["loan_id"]) == ["s0", "s1", "e0", "n0", "o0"]
    assert set(kept["policy_arm"]) == {"static", "nba"}
    assert "nba_explore" not in kept.columns
    lost = rows.assign(nba_explore=[None, None, None, False, None, None])
    assert "e0" not in set(randomised(lost.assign(nba_policy_version="v1"))["loan_id"])


def test_versions_are_selected_as_of_the_decision_date(tmp_path):
    for day, promoted in ((dt.date(2026, 3, 1), True), (dt.date(2026, 3, 8), False)):
        rec = VersionRecord(f"v-{day:%Y%m%d}", day, "run", promoted, {})
        keep_version(tmp_path, {"fitted": day}, rec)  # type: ignore[arg-type]
    assert select_as_of(tmp_path, dt.date(2026, 2, 28), True) is None
    assert select_as_of(tmp_path, dt.date(2026, 3, 7), True).version == "v-20260301"
    assert select_as_of(tmp_path, dt.date(2026, 3, 8), True).version == "v-20260308"
    assert not select_as_of(tmp_path, dt.date(2026, 3, 9), True).promoted
    # the promoted selection skips the failed gate
    assert select_as_of(tmp_path, dt.date(2026, 3, 9), False).version == "v-20260301"


def test_the_arm_config_is_validated(tmp_path):
    spec = yaml.safe_load(DEFAULT_UPLIFT_POLICY_FILE.read_text())
    policy = load_uplift_policy()
    assert policy.arm.share == pytest.approx(0.2) and policy.train_every_days == 7
    for bad in ({"share": 1.5}, {"shares": 0.2}):
        path = tmp_path / "u.yaml"
        path.write_text(yaml.safe_dump({**spec, "arm": {**spec["arm"], **bad}}))
        with pytest.raises(ValueError):
            load_uplift_policy(path)
