"""Placement policy: the knobs of agency allocation a lender tunes without code.

Defaults follow ``domain.md``: placements last a fixed period (commonly 90-180 days),
second and third placements pay agencies more, and part of the allocation stays
randomised so that agencies can be compared fairly (champion/challenger).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_PLACEMENT_POLICY_FILE = (
    Path(__file__).resolve().parents[2] / "config" / "policies" / "placement.yaml"
)
ENV_VAR = "NPL_PLACEMENT_POLICY"


class PlacementPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Accounts of this tier (int_account_scores.tier) are candidates for placement.
    tier: str = "extremely_severe"
    placement_period_days: int = Field(default=120, ge=1)
    # Share of today's placeable volume allocated uniformly at random (measurement arm).
    randomised_share: float = Field(default=0.2, ge=0, le=1)
    # Randomised placements still require a positive expected net recovery: measurement
    # never knowingly places an account at a loss.
    randomised_requires_positive_value: bool = True
    # k_a: fixed cost of one placement (file transfer, onboarding, audit), in currency.
    fixed_cost: float = Field(default=20.0, ge=0)
    fixed_cost_by_agency: dict[str, float] = Field(default_factory=dict)
    # Added to the agency's commission rate for the n-th placement of an account; a
    # placement number above the largest key takes the largest key's uplift.
    commission_uplift: dict[int, float] = Field(default_factory=lambda: {2: 0.05, 3: 0.10})
    # Credibility k: an agency with n finished placements gets weight n / (n + k) on its
    # own liquidation rate, the rest on the pool's; the pool is shrunk to the prior alike.
    credibility_k: float = Field(default=20.0, gt=0)
    prior_liquidation_rate: float = Field(default=0.10, ge=0, le=1)
    max_placements_per_account: int = Field(default=3, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> PlacementPolicy:
        for n, uplift in self.commission_uplift.items():
            if n < 2:
                raise ValueError("commission_uplift keys are placement numbers from 2")
            if not 0 <= uplift <= 1:
                raise ValueError(f"commission_uplift[{n}] must be within [0, 1]")
        for agency, cost in self.fixed_cost_by_agency.items():
            if cost < 0:
                raise ValueError(f"fixed_cost_by_agency[{agency!r}] must be >= 0")
        return self

    def uplift_for(self, placement_no: np.ndarray) -> np.ndarray:
        """Commission uplift per placement number (vectorised; 0 for first placements)."""
        no = np.asarray(placement_no, dtype=np.int64)
        out = np.zeros(len(no), dtype=float)
        if not self.commission_uplift:
            return out
        keys = np.array(sorted(self.commission_uplift), dtype=np.int64)
        values = np.array([self.commission_uplift[k] for k in keys], dtype=float)
        # the largest key <= n; placement numbers below the smallest key get no uplift
        pos = np.searchsorted(keys, no, side="right") - 1
        hit = pos >= 0
        out[hit] = values[pos[hit]]
        return out

    def fixed_cost_for(self, agency_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(agency_ids, dtype=object)
        return np.array([self.fixed_cost_by_agency.get(a, self.fixed_cost) for a in ids], float)


def load_placement_policy(path: str | Path | None = None) -> PlacementPolicy:
    """The shipped defaults, or a lender's YAML at ``path`` / ``$NPL_PLACEMENT_POLICY``."""
    from nplpipeline.config.loading import load_yaml_model

    return load_yaml_model(PlacementPolicy, path, ENV_VAR)
