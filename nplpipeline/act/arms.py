"""Experiment arms: a stable, reproducible random split of each tier's accounts.

The draw is a keyed hash of the loan id -- not a random generator -- so reruns and
backfills give the same split, and the split does not depend on which other accounts
happen to be in the portfolio.

**An account's arm never changes.** The hash is drawn once, in the tier the account
has when it is first planned; the arm is then kept (``act_experiment_arms``) whatever
tier the account moves to, since the tiers split at different shares and a fresh draw
in the new tier would move some accounts from one arm to another (a mild challenger can
be a severe champion), mixing treatments inside an arm. A kept account gets its current
tier's strategy for its arm; where that tier has no such arm (e.g. no control arm for
extremely severe), it keeps the strategy its arm had when it was assigned, so a control
account stays untreated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.config.strategy import StrategyPolicy

_ARM_ORDER = ("champion", "challenger", "control")


def uniform_draw(keys: pd.Series, seed: int) -> np.ndarray:
    """A uniform [0, 1) number per key, fixed by (key, seed)."""
    hash_key = f"{seed:016d}"[-16:]
    hashed = pd.util.hash_array(keys.astype(str).to_numpy(dtype=object), hash_key=hash_key)
    return (hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


ARM_COLUMNS = (
    "loan_id", "strategy_arm", "assigned_on", "assigned_tier", "assigned_strategy", "policy_arm",
)  # fmt: skip
STATIC_ARM, NBA_ARM = "static", "nba"  # act_experiment_arms.policy_arm (act.tables)


def assign_arms(loan_ids: pd.Series, tiers: pd.Series, policy: StrategyPolicy) -> pd.DataFrame:
    """Arm and strategy name per account, from its tier's configured shares."""
    u = uniform_draw(loan_ids, policy.seed)
    arm = pd.Series(pd.NA, index=loan_ids.index, dtype="string")
    strategy = pd.Series(pd.NA, index=loan_ids.index, dtype="string")
    for tier, spec in policy.tiers.items():
        in_tier = (tiers == tier).to_numpy()
        lower = 0.0
        for name in _ARM_ORDER:
            if name not in spec.arms:
                continue
            upper = lower + spec.arms[name].share
            hit = in_tier & (u >= lower) & (u < upper)
            arm[hit] = name
            strategy[hit] = spec.arms[name].strategy
            lower = upper
        # float rounding can leave u in [sum, 1): give those to the champion
        rest = in_tier & arm.isna().to_numpy()
        arm[rest] = "champion"
        strategy[rest] = spec.arms["champion"].strategy
    unknown = arm.isna()
    if unknown.any():
        raise ValueError(f"tiers without strategies: {sorted(tiers[unknown].unique())}")
    return pd.DataFrame({"strategy_arm": arm, "strategy_name": strategy})


def keep_arms(
    loan_ids: pd.Series,
    tiers: pd.Series,
    policy: StrategyPolicy,
    kept: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Arm and strategy per account: the arm in ``kept`` (loan_id, strategy_arm,
    assigned_strategy) where the account has one, else a fresh draw in its tier.

    Returns strategy_arm, strategy_name and ``new`` (True where drawn now)."""
    drawn = assign_arms(loan_ids, tiers, policy)
    if kept is None or kept.empty:
        return drawn.assign(new=True)
    prior = kept.drop_duplicates("loan_id").set_index("loan_id")
    arm = loan_ids.astype(str).map(prior["strategy_arm"])
    has = arm.notna().to_numpy()
    strategy = pd.Series(pd.NA, index=loan_ids.index, dtype="string")
    for tier, spec in policy.tiers.items():
        for name, share in spec.arms.items():
            hit = has & (tiers == tier).to_numpy() & (arm == name).to_numpy()
            strategy[hit] = share.strategy
    fallback = loan_ids.astype(str).map(prior["assigned_strategy"])
    strategy = strategy.where(strategy.notna() | ~has, fallback)
    out = drawn.copy()
    out.loc[has, "strategy_arm"] = arm[has].astype("string")
    out.loc[has, "strategy_name"] = strategy[has]
    return out.assign(new=~has)


def keep_policy_arms(
    loan_ids: pd.Series,
    tiers: pd.Series,
    share: float,
    seed: int,
    eligible_tiers: tuple[str, ...],
    kept: pd.DataFrame | None = None,
) -> pd.Series:
    """'nba' or 'static' per account: the kept ``policy_arm`` where the account already
    has an arm (NULL -- drawn before the nba arm existed -- reads as static), else an
    independent hash draw with its own ``seed``: 'nba' below ``share`` in an eligible
    tier. Independent of the base draw, so the base arms' shares hold inside it."""
    u = uniform_draw(loan_ids, seed)
    fresh = np.where((u < share) & tiers.isin(eligible_tiers).to_numpy(), NBA_ARM, STATIC_ARM)
    out = pd.Series(fresh, index=loan_ids.index, dtype="string")
    if kept is None or kept.empty:
        return out
    prior = kept.drop_duplicates("loan_id").set_index("loan_id")
    has = loan_ids.astype(str).isin(prior.index).to_numpy()
    if "policy_arm" in prior.columns:
        stored = loan_ids.astype(str).map(prior["policy_arm"]).astype("string")
    else:
        stored = pd.Series(pd.NA, index=loan_ids.index, dtype="string")
    out[has] = stored[has].fillna(STATIC_ARM).to_numpy()
    return out
