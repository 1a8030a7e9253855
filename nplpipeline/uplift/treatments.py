"""One treatment vocabulary, and each logged decision's known assignment propensity.

A treatment is what the policy plans for an account under an arm: its strategy's step
at the account's DPD (channels, without ``legal`` where not legal-ready), the
strategy's offer and its agency route, named by the first matching rule of the uplift
policy. The experiment arms are a hash draw within the tier an account had when first
planned (``act.arms``), at that tier's configured shares. So the propensity of the
treatment an account got is the summed share of every arm of its assigned tier whose
strategy would have planned the same treatment today -- known exactly, never fitted.
Agency placement is measured as intended (the arm's agency route), not as placed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.act.arms import _ARM_ORDER
from nplpipeline.act.strategies import CHANNEL_SEP, _planned_channels, _steps
from nplpipeline.config.strategy import StrategyPolicy
from nplpipeline.uplift.config import UpliftPolicy

DECISION_COLUMNS = ("tier", "assigned_tier", "strategy_arm", "dpd", "legal_ready")


def classify(
    strategy: pd.Series, frame: pd.DataFrame, policy: StrategyPolicy, uplift: UpliftPolicy
) -> pd.Series:
    """The treatment name ``strategy`` plans for each row of ``frame`` (dpd, legal_ready)."""
    rows = pd.DataFrame({"strategy_name": strategy.astype("string"), "dpd": frame["dpd"]})
    steps = _steps(rows, policy)
    channels = _planned_channels(steps["step_channels"], frame["legal_ready"].astype(bool))
    padded = CHANNEL_SEP + channels.fillna("") + CHANNEL_SEP
    offer = strategy.map({n: s.offer for n, s in policy.strategies.items()})
    route = strategy.map({n: s.agency_route for n, s in policy.strategies.items()})
    route = route.astype("boolean").fillna(False).astype(bool)
    out = pd.Series(pd.NA, index=frame.index, dtype="string")
    for rule in uplift.treatments:
        hit = out.isna().to_numpy().copy()
        if rule.agency_route is not None:
            hit &= (route == rule.agency_route).to_numpy()
        if rule.any_channel:
            has = np.zeros(len(frame), dtype=bool)
            for ch in rule.any_channel:
                has |= padded.str.contains(f"{CHANNEL_SEP}{ch}{CHANNEL_SEP}", regex=False)
            hit &= has
        if rule.offer is not None:
            hit &= (offer == rule.offer).fillna(False).to_numpy(dtype=bool)
        if rule.no_channel:
            hit &= (channels.fillna("") == "").to_numpy()
        out[hit] = rule.name
    return out.fillna(uplift.other_treatment)


def arm_strategies(frame: pd.DataFrame, policy: StrategyPolicy) -> dict[str, pd.Series]:
    """Per arm of each row's assigned tier, the strategy it plans today (``keep_arms``'
    rule: the current tier's strategy for the arm, else the arm's strategy when drawn)."""
    out: dict[str, pd.Series] = {}
    for arm in _ARM_ORDER:
        of = {t: s.arms[arm].strategy for t, s in policy.tiers.items() if arm in s.arms}
        now = frame["tier"].map(of)
        then = frame["assigned_tier"].map(of)
        out[arm] = now.where(now.notna(), then).where(then.notna()).astype("string")
    return out


def arm_shares(frame: pd.DataFrame, policy: StrategyPolicy) -> dict[str, np.ndarray]:
    """Each arm's share in each row's assigned tier (0 where the tier has no such arm)."""
    out = {}
    for arm in _ARM_ORDER:
        of = {t: s.arms[arm].share for t, s in policy.tiers.items() if arm in s.arms}
        out[arm] = frame["assigned_tier"].map(of).fillna(0.0).to_numpy(dtype=float)
    return out


def arm_treatments(
    frame: pd.DataFrame, policy: StrategyPolicy, uplift: UpliftPolicy
) -> pd.DataFrame:
    """Per row, the treatment each arm of its assigned tier plans today (NA: no arm)."""
    out = pd.DataFrame(index=frame.index)
    for arm, strategy in arm_strategies(frame, policy).items():
        named = pd.Series(pd.NA, index=frame.index, dtype="string")
        has = strategy.notna().to_numpy()
        if has.any():
            named[has] = classify(strategy[has], frame[has], policy, uplift).to_numpy()
        out[arm] = named
    return out


def propensities(
    frame: pd.DataFrame, policy: StrategyPolicy, uplift: UpliftPolicy
) -> tuple[pd.Series, pd.DataFrame]:
    """The treatment each row got (its own arm's) and P(treatment | row) for every
    treatment name: a column per name, rows summing to one."""
    names = uplift.treatment_names
    prob = pd.DataFrame(0.0, index=frame.index, columns=list(names))
    got = pd.Series(pd.NA, index=frame.index, dtype="string")
    shares = arm_shares(frame, policy)
    by_arm = arm_treatments(frame, policy, uplift)
    for arm in by_arm.columns:
        named = by_arm[arm]
        for name in names:
            hit = (named == name).fillna(False).to_numpy(dtype=bool)
            prob.loc[hit, name] += shares[arm][hit]
        mine = (frame["strategy_arm"] == arm).to_numpy()
        got[mine] = named[mine]
    if got.isna().any():
        raise ValueError("decisions whose arm is not one of their assigned tier's arms")
    return got, prob


def strategy_for(
    chosen: pd.Series, frame: pd.DataFrame, policy: StrategyPolicy, uplift: UpliftPolicy
) -> pd.Series:
    """The strategy that executes ``chosen`` for each row: the first arm of its assigned
    tier (champion, challenger, control) whose strategy plans that treatment today."""
    by_arm = arm_treatments(frame, policy, uplift)
    strategies = arm_strategies(frame, policy)
    out = pd.Series(pd.NA, index=frame.index, dtype="string")
    for arm in reversed(by_arm.columns):  # champion last: it wins ties
        hit = (by_arm[arm] == chosen).fillna(False).to_numpy(dtype=bool)
        out[hit] = strategies[arm][hit]
    return out
