"""From a scored account to a treatment: arm, strategy step, channels, offer, legal route.

Pure and vectorised: loops run over the handful of configured strategies and steps,
never over accounts. What comes out is the *plan*; guardrails, cadence and collector
capacity later decide which planned contacts actually happen today (``worklists``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from nplpipeline.act.arms import STATIC_ARM, keep_arms, keep_policy_arms
from nplpipeline.act.offers import flexible_plans
from nplpipeline.config.strategy import StrategyPolicy

CHANNEL_SEP = ";"
# Picks strategies for some accounts before their steps are built: given the plan with
# arms, policy arm and legal readiness, returns ``strategy_name`` (NA: keep the arm's)
# and ``nba_policy_version`` per row, same index (``uplift.live``).
StrategyChooser = Callable[[pd.DataFrame], pd.DataFrame]
NbaArm = tuple[float, int, tuple[str, ...]]  # the nba arm's share, seed, eligible tiers


def _steps(plan: pd.DataFrame, policy: StrategyPolicy) -> pd.DataFrame:
    """The first step of each account's strategy whose DPD range holds."""
    step = pd.Series(pd.NA, index=plan.index, dtype="string")
    channels = pd.Series("", index=plan.index, dtype="string")
    dpd = plan["dpd"]
    for name, strategy in policy.strategies.items():
        of_strategy = plan["strategy_name"] == name
        for s in strategy.steps:
            hit = of_strategy & step.isna() & (dpd <= s.dpd_to if s.dpd_to is not None else True)
            step[hit] = s.name
            channels[hit] = CHANNEL_SEP.join(s.channels)
    return pd.DataFrame({"step_name": step, "step_channels": channels})


def _legal_ready(plan: pd.DataFrame, policy: StrategyPolicy) -> pd.Series:
    rule = policy.legal
    return (
        plan["tier"].isin(rule.tiers)
        & (plan["dpd"] >= rule.min_dpd)
        & (plan["outstanding_principal"].astype(float) >= rule.min_outstanding)
    )


def _planned_channels(step_channels: pd.Series, legal_ready: pd.Series) -> pd.Series:
    """Step channels, without ``legal`` where the account is not legal-ready."""
    sep = CHANNEL_SEP
    padded = sep + step_channels.fillna("") + sep
    no_legal = padded.str.replace(f"{sep}legal{sep}", sep, regex=False).str.strip(sep)
    return step_channels.fillna("").where(legal_ready, no_legal).astype("string")


def _policy_arms(
    plan: pd.DataFrame, nba_arm: NbaArm | None, kept: pd.DataFrame | None
) -> pd.Series:
    if nba_arm is None:
        return pd.Series(STATIC_ARM, index=plan.index, dtype="string")
    share, seed, tiers = nba_arm
    return keep_policy_arms(plan["loan_id"], plan["tier"], share, seed, tiers, kept)


def plan_treatments(
    scores: pd.DataFrame,
    customers: pd.DataFrame,
    run_date: dt.date,
    policy: StrategyPolicy,
    kept_arms: pd.DataFrame | None = None,
    nba_arm: NbaArm | None = None,
    choose: StrategyChooser | None = None,
) -> pd.DataFrame:
    """One plan row per scored account (see ``act_treatment_plan``); ``kept_arms``: the
    arms accounts already hold (``act_experiment_arms``), kept whatever their tier now.
    The ``new_arm`` column marks accounts whose arm was drawn by this plan. ``nba_arm``
    draws the policy arm (none: all static); ``choose`` may replace strategies before
    steps, channels and offers are built from them (one plan, one write)."""
    plan = scores.reset_index(drop=True).copy()
    arms = keep_arms(plan["loan_id"], plan["tier"], policy, kept_arms)
    plan = plan.join(arms.rename(columns={"new": "new_arm"}))
    plan["policy_arm"] = _policy_arms(plan, nba_arm, kept_arms)
    plan["legal_ready"] = _legal_ready(plan, policy)
    plan["nba_policy_version"] = pd.Series(pd.NA, index=plan.index, dtype="string")
    plan["arm_strategy"] = plan["strategy_name"]  # the base arm's, kept with the arm
    if choose is not None:
        picked = choose(plan)
        override = picked["strategy_name"].reindex(plan.index).astype("string")
        plan["strategy_name"] = override.fillna(plan["strategy_name"].astype("string"))
        plan["nba_policy_version"] = picked["nba_policy_version"].reindex(plan.index)
    plan = plan.join(_steps(plan, policy))
    plan["planned_channels"] = _planned_channels(plan["step_channels"], plan["legal_ready"])
    offer_of = {name: s.offer for name, s in policy.strategies.items()}
    route_of = {name: s.agency_route for name, s in policy.strategies.items()}
    plan["agency_route"] = plan["strategy_name"].map(route_of).astype(bool)
    offer_kind = plan["strategy_name"].map(offer_of)
    plan["expected_recovery"] = np.round(
        plan["recovery_probability"].astype(float) * plan["overdue_amount"].astype(float), 2
    )

    income = plan["customer_id"].map(
        customers.drop_duplicates("customer_id", keep="last").set_index("customer_id")[
            "monthly_income"
        ]
    )
    offers = flexible_plans(plan["overdue_amount"], income, run_date, policy.flexible_plan)
    wants_plan = (offer_kind == "flexible_plan").to_numpy()
    for col in offers.columns:
        plan[col] = offers[col].where(wants_plan)
    plan["offer_type"] = plan["offer_type"].astype("string")
    plan.loc[offer_kind == "hardship_assessment", "offer_type"] = "hardship_assessment"

    no_action = plan["planned_channels"] == ""
    plan["disposition"] = np.where(
        no_action, np.where(plan["strategy_arm"] == "control", "control", "no_step"), "planned"
    )
    return plan.drop(columns=["step_channels"])


def planned_contacts(plan: pd.DataFrame, policy: StrategyPolicy) -> pd.DataFrame:
    """One candidate row per (account, planned channel), ranked by value per effort.

    The order is the priority the guardrails' caps and the collectors' capacity follow.
    Each row carries its step's cadence (``every_days``) for ``due_today``.
    """
    chans = plan["planned_channels"].fillna("").str.split(CHANNEL_SEP)
    rows = plan.assign(channel=chans).explode("channel")
    rows = rows[rows["channel"].notna() & (rows["channel"] != "")].copy()
    effort = {name: spec.effort for name, spec in policy.channels.items()}
    rows["effort"] = rows["channel"].map(effort).astype(float)
    rows["value_per_effort"] = rows["expected_recovery"].astype(float) / rows["effort"]
    cadence = {
        (name, step.name): step.every_days
        for name, strategy in policy.strategies.items()
        for step in strategy.steps
    }
    keys = pd.MultiIndex.from_frame(rows[["strategy_name", "step_name"]].astype(str))
    rows["every_days"] = pd.Series(cadence).reindex(keys).fillna(1).astype(int).to_numpy()
    rows = rows.sort_values(
        ["value_per_effort", "loan_id", "channel"], ascending=[False, True, True], kind="stable"
    )
    return rows.reset_index(drop=True)


def due_today(contacts: pd.DataFrame, history: pd.DataFrame, run_date: dt.date) -> pd.Series:
    """Cadence: a channel is due when the loan's last touch on it is ``every_days`` old."""
    if history.empty:
        return pd.Series(True, index=contacts.index)
    h = history[["loan_id", "channel", "action_at"]].copy()
    h["day"] = pd.to_datetime(h["action_at"]).dt.normalize()
    h = h[h["day"] <= pd.Timestamp(run_date)]
    last = h.groupby(["loan_id", "channel"])["day"].max()
    key = pd.MultiIndex.from_frame(contacts[["loan_id", "channel"]].astype(str))
    last_touch = pd.Series(last.reindex(key).to_numpy(), index=contacts.index)
    days = (pd.Timestamp(run_date) - last_touch).dt.days
    return days.isna() | (days >= contacts["every_days"])
