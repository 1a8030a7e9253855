"""Strategies, arms, offers and queue assignment: pure units with hand-worked answers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from nplpipeline.act.arms import assign_arms, uniform_draw
from nplpipeline.act.offers import flexible_plans
from nplpipeline.act.strategies import due_today, plan_treatments, planned_contacts
from nplpipeline.act.worklists import assign_queues
from nplpipeline.config.policy import Policy, load_policy
from nplpipeline.config.strategy import ChannelSpec, FlexiblePlanOffer, StrategyPolicy

POLICY = load_policy()
STRAT = POLICY.strategies
RUN = dt.date(2026, 3, 10)


def scores(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {
        "as_of_date": [RUN] * n,
        "loan_id": [f"L{i}" for i in range(n)],
        "customer_id": [f"C{i}" for i in range(n)],
        "tier": ["mild"] * n,
        "dpd": [10] * n,
        "recovery_probability": [0.5] * n,
        "overdue_amount": [1000.0] * n,
        "outstanding_principal": [5000.0] * n,
        "model_version": ["1"] * n,
    }
    base.update(cols)
    return pd.DataFrame(base)


def customers(n: int, income: float | None = 10_000.0) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "monthly_income": income})


# --- arms ---------------------------------------------------------------------------


def test_arm_shares_match_configuration_and_are_stable():
    loans = pd.Series([f"L{i:06d}" for i in range(40_000)])
    tiers = pd.Series(["mild"] * len(loans))
    arms = assign_arms(loans, tiers, STRAT)
    shares = arms["strategy_arm"].value_counts(normalize=True)
    for name, arm in STRAT.tiers["mild"].arms.items():
        assert shares[name] == pytest.approx(arm.share, abs=0.01)
    # same loan, same arm -- whatever the other accounts are
    again = assign_arms(loans.iloc[::-7], tiers.iloc[::-7], STRAT)
    assert (again["strategy_arm"] == arms["strategy_arm"].iloc[::-7]).all()


def test_arm_draw_depends_on_the_seed():
    loans = pd.Series([f"L{i}" for i in range(1000)])
    assert not np.allclose(uniform_draw(loans, 1), uniform_draw(loans, 2))
    u = uniform_draw(loans, 1)
    assert ((u >= 0) & (u < 1)).all()


# --- offers -------------------------------------------------------------------------

TERMS = FlexiblePlanOffer(
    affordability_share=0.3,
    min_instalments=3,
    max_instalments=12,
    min_instalment_amount=100,
    first_due_in_days=7,
)


@pytest.mark.parametrize(
    ("overdue", "income", "kind", "n", "amount"),
    [
        # 0.3 * 10,000 = 3,000 a month; 1,000 fits in one, but at least 3 instalments
        (1000.0, 10_000.0, "flexible_plan", 3, 333.34),
        # 0.3 * 2,000 = 600; 3,000 / 600 = 5 instalments of 600
        (3000.0, 2_000.0, "flexible_plan", 5, 600.0),
        # 6,000 / 600 = 10
        (6000.0, 2_000.0, "flexible_plan", 10, 600.0),
        # 9,000 / 600 = 15 > 12: cannot be made affordable -> hardship
        (9000.0, 2_000.0, "hardship_assessment", None, None),
        # no income at all -> hardship
        (500.0, 0.0, "hardship_assessment", None, None),
        # unknown income -> the longest plan, capped so no instalment is under 100
        (2400.0, None, "flexible_plan", 12, 200.0),
        (450.0, None, "flexible_plan", 4, 112.5),
    ],
)
def test_flexible_plan(overdue, income, kind, n, amount):
    plan = flexible_plans(pd.Series([overdue]), pd.Series([income], dtype=float), RUN, TERMS)
    row = plan.iloc[0]
    assert row["offer_type"] == kind
    if n is None:
        assert pd.isna(row["offer_instalments"])
        assert pd.isna(row["offer_first_due_date"])
    else:
        assert row["offer_instalments"] == n
        assert row["offer_instalment_amount"] == pytest.approx(amount)
        assert row["offer_instalment_amount"] * n >= overdue - 1e-9
        assert pd.Timestamp(row["offer_first_due_date"]) == pd.Timestamp(RUN + dt.timedelta(7))


# --- strategy steps -----------------------------------------------------------------


def champion_only(policy: StrategyPolicy) -> StrategyPolicy:
    tiers = {
        t: {"arms": {"champion": {"strategy": s.arms["champion"].strategy, "share": 1.0}}}
        for t, s in policy.tiers.items()
    }
    return StrategyPolicy.model_validate({**policy.model_dump(), "tiers": tiers})


CHAMPIONS = champion_only(STRAT)


@pytest.mark.parametrize(
    ("tier", "dpd", "step", "channels"),
    [
        ("mild", 1, "reminders", "sms;app_push"),
        ("mild", 7, "reminders", "sms;app_push"),
        ("mild", 8, "reminders_and_calls", "sms;call"),
        ("mild", 31, "calls", "call;app_push"),
        ("severe", 90, "intensive_calls", "call;sms"),
        ("severe", 91, "calls_and_visits", "call;visit;letter"),
    ],
)
def test_step_follows_dpd(tier, dpd, step, channels):
    plan = plan_treatments(scores(tier=[tier], dpd=[dpd]), customers(1), RUN, CHAMPIONS)
    assert plan.loc[0, "step_name"] == step
    assert plan.loc[0, "planned_channels"] == channels


def test_legal_channel_only_when_legal_ready():
    s = scores(
        tier=["extremely_severe"] * 3,
        dpd=[200, 200, 60],
        outstanding_principal=[50_000.0, 5_000.0, 50_000.0],
    )
    plan = plan_treatments(s, customers(3), RUN, CHAMPIONS)
    assert list(plan["legal_ready"]) == [True, False, False]
    assert list(plan["planned_channels"]) == ["letter;legal", "letter", "letter"]
    assert plan["agency_route"].all()


def test_offers_follow_the_strategy():
    s = scores(tier=["mild", "severe"], dpd=[10, 60])
    plan = plan_treatments(s, customers(2), RUN, CHAMPIONS)
    assert list(plan["offer_type"]) == ["flexible_plan", "hardship_assessment"]
    assert plan.loc[1, "offer_instalments"] is pd.NA or pd.isna(plan.loc[1, "offer_instalments"])
    assert plan.loc[0, "expected_recovery"] == pytest.approx(500.0)


def test_control_arm_plans_no_contact():
    loans = [f"L{i}" for i in range(2000)]
    s = scores(tier=["mild"] * 2000, dpd=[10] * 2000)
    s["loan_id"] = loans
    plan = plan_treatments(s, customers(2000), RUN, STRAT)
    control = plan[plan["strategy_arm"] == "control"]
    assert len(control) > 0
    assert (control["planned_channels"] == "").all()
    assert (control["disposition"] == "control").all()


def test_policy_rejects_bad_strategy_configuration():
    raw = POLICY.model_dump()
    raw["strategies"]["tiers"]["mild"]["arms"]["champion"]["share"] = 0.5
    with pytest.raises(ValidationError, match="sum to 1"):
        Policy.model_validate(raw)
    raw = POLICY.model_dump()
    raw["strategies"]["tiers"]["mild"]["arms"]["champion"]["strategy"] = "nope"
    with pytest.raises(ValidationError, match="unknown strategy"):
        Policy.model_validate(raw)
    raw = POLICY.model_dump()
    del raw["strategies"]["tiers"]["severe"]
    with pytest.raises(ValidationError, match="exactly the tiers"):
        Policy.model_validate(raw)


# --- contacts, cadence ----------------------------------------------------------------


def test_contacts_ranked_by_value_per_effort():
    s = scores(tier=["mild"] * 2, dpd=[10, 10], overdue_amount=[1000.0, 4000.0])
    plan = plan_treatments(s, customers(2), RUN, CHAMPIONS)
    contacts = planned_contacts(plan, CHAMPIONS)
    assert len(contacts) == 4  # sms + call for each
    assert contacts["value_per_effort"].is_monotonic_decreasing
    assert (contacts["every_days"] == 2).all()  # the reminders_and_calls step's cadence
    # the call on the 4,000 account (2,000 / 1.0) outranks the sms on the 1,000 (500 / 0.02)?
    # no: sms is cheap -> 25,000 per unit; ranking is by value per unit of effort
    assert contacts.iloc[0]["channel"] == "sms" and contacts.iloc[0]["loan_id"] == "L1"


@pytest.mark.parametrize(("days_ago", "due"), [(None, True), (1, False), (2, True), (5, True)])
def test_cadence(days_ago, due):
    contacts = pd.DataFrame({"loan_id": ["L0"], "channel": ["call"], "every_days": [2]})
    rows = (
        []
        if days_ago is None
        else [
            {
                "loan_id": "L0",
                "channel": "call",
                "action_at": pd.Timestamp(RUN) - pd.Timedelta(days=days_ago, hours=-10),
            }
        ]
    )
    history = pd.DataFrame(rows, columns=["loan_id", "channel", "action_at"])
    assert bool(due_today(contacts, history, RUN).iloc[0]) is due


# --- queues ---------------------------------------------------------------------------

SPECS = {
    "sms": ChannelSpec(effort=0.02),
    "call": ChannelSpec(effort=1.0, role="call"),
    "visit": ChannelSpec(effort=6.0, role="field", staff=2),
}


def collectors(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["collector_id", "team", "role", "daily_capacity", "active"])


def test_capacity_interleaving_and_overflow():
    staff = collectors(
        [("E1", "t", "call", 2, True), ("E2", "t", "call", 1, True), ("E3", "t", "call", 9, False)]
    )
    contacts = pd.DataFrame({"loan_id": [f"L{i}" for i in range(5)], "channel": ["call"] * 5})
    res = assign_queues(contacts, staff, SPECS)
    # slots: E1#1, E2#1, E1#2 -> three fit, two overflow; E3 is inactive
    assert list(res.assigned["assignee_id"]) == ["E1", "E2", "E1"]
    assert list(res.assigned["queue_rank"]) == [1, 1, 2]
    assert list(res.over_capacity["loan_id"]) == ["L3", "L4"]


def test_visits_take_two_different_field_staff():
    staff = collectors([("F1", "f", "field", 2, True), ("F2", "f", "field", 1, True)])
    contacts = pd.DataFrame({"loan_id": ["L0", "L1", "L2"], "channel": ["visit", "visit", "sms"]})
    res = assign_queues(contacts, staff, SPECS)
    visits = res.assigned[res.assigned["channel"] == "visit"]
    # slots F1, F2, F1: the first visit pairs F1+F2; the second would need F1+F1 -> not placed
    assert list(visits["assignee_id"]) == ["F1"]
    assert list(visits["second_assignee_id"]) == ["F2"]
    assert list(res.over_capacity["loan_id"]) == ["L1"]
    assert list(res.assigned.loc[res.assigned["channel"] == "sms", "queue"]) == ["auto:sms"]


def test_an_account_keeps_its_arm_when_its_tier_changes():
    """Tiers split at different shares, so a fresh draw in a new tier would move some
    accounts to another arm; a kept arm stays, with the new tier's strategy for it, or
    (where the tier has no such arm) the strategy the arm had when it was drawn."""
    from nplpipeline.act.arms import keep_arms

    loans = pd.Series([f"L{i:04d}" for i in range(3000)])
    first = keep_arms(loans, pd.Series("mild", index=loans.index), STRAT)
    assert first["new"].all()
    kept = pd.DataFrame(
        {
            "loan_id": loans,
            "strategy_arm": first["strategy_arm"],
            "assigned_strategy": first["strategy_name"],
        }
    )
    for tier in ("severe", "extremely_severe"):
        moved = keep_arms(loans, pd.Series(tier, index=loans.index), STRAT, kept)
        fresh = assign_arms(loans, pd.Series(tier, index=loans.index), STRAT)
        assert (fresh["strategy_arm"] != first["strategy_arm"]).any()  # the case it guards
        assert (moved["strategy_arm"] == first["strategy_arm"]).all()
        assert not moved["new"].any()
        arms = STRAT.tiers[tier].arms
        for arm, group in moved.groupby("strategy_arm"):
            want = arms[arm].strategy if arm in arms else STRAT.tiers["mild"].arms[arm].strategy
            assert set(group["strategy_name"]) == {want}
    # an account not kept yet is drawn as before
    half = keep_arms(loans, pd.Series("severe", index=loans.index), STRAT, kept.iloc[:1000])
    fresh = assign_arms(loans, pd.Series("severe", index=loans.index), STRAT)
    assert half["new"].sum() == 2000
    assert half.loc[half["new"], "strategy_arm"].equals(fresh.loc[half["new"], "strategy_arm"])
