"""Assigning the plan's tiers from DPD and recovery probability: policy logic (the
tiering policy applied), vectorised; scoring and model evaluation both call it."""

from __future__ import annotations

import numpy as np

from nplpipeline.config.policy import TierClause, TierPolicy


def _clause_mask(clause: TierClause, dpd: np.ndarray, probability: np.ndarray) -> np.ndarray:
    mask = np.ones(len(dpd), dtype=bool)
    if clause.dpd_above is not None:
        mask &= dpd > clause.dpd_above
    if clause.dpd_at_most is not None:
        mask &= dpd <= clause.dpd_at_most
    if clause.probability_below is not None:
        mask &= probability < clause.probability_below
    if clause.probability_at_least is not None:
        mask &= probability >= clause.probability_at_least
    return mask


def assign_tiers(dpd: np.ndarray, probability: np.ndarray, policy: TierPolicy) -> np.ndarray:
    """Tier name per account: the first tier (in policy order) any of whose clauses holds."""
    dpd = np.asarray(dpd)
    probability = np.asarray(probability, dtype=float)
    tiers = np.full(len(dpd), policy.tiers[-1].name, dtype=object)
    decided = np.zeros(len(dpd), dtype=bool)
    for tier in policy.tiers[:-1]:
        hit = np.zeros(len(dpd), dtype=bool)
        for clause in tier.any_of:
            hit |= _clause_mask(clause, dpd, probability)
        hit &= ~decided
        tiers[hit] = tier.name
        decided |= hit
    return tiers
