"""Experiment arms: a stable, reproducible random split of each tier's accounts.

The draw is a keyed hash of the loan id -- not a random generator -- so an account keeps
its arm every day it stays in the tier, reruns and backfills give the same split, and
the split does not depend on which other accounts happen to be in the portfolio.
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
