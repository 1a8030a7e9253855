"""Collection policy: what a lender tunes without touching code.

The defaults live in ``policies/default.yaml`` (the figures of ``domain.md``). A lender
points ``NPL_POLICY_FILE`` at its own YAML; it is validated here, so a typo in a bucket
edge fails at load time with the field's path, not deep inside a task.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nplpipeline.config.strategy import StrategyPolicy

DEFAULT_POLICY_FILE = Path(__file__).with_name("policies") / "default.yaml"

Component = Literal["fee", "interest", "principal"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bucket(_Strict):
    name: str
    min_dpd: int = Field(ge=0)
    max_dpd: int | None = Field(default=None, description="inclusive; None = open-ended")
    regulatory_grade: str


class DelinquencyPolicy(_Strict):
    buckets: tuple[Bucket, ...]
    # Order in which a payment settles the components of each installment; installments
    # themselves are always settled oldest first.
    waterfall: tuple[Component, Component, Component] = ("fee", "interest", "principal")
    npl_min_dpd: int = Field(default=91, ge=1)
    # Loans still on the balance sheet, counted in the NPL ratio's denominator.
    on_book_statuses: tuple[str, ...] = ("active", "charged_off")
    # A residual below this is treated as paid (rounding in source systems).
    paid_tolerance: float = Field(default=0.005, ge=0)

    @model_validator(mode="after")
    def _buckets_tile_the_line(self) -> DelinquencyPolicy:
        if sorted(self.waterfall) != ["fee", "interest", "principal"]:
            raise ValueError("waterfall must order fee, interest and principal once each")
        expected_min = 0
        for i, b in enumerate(self.buckets):
            if b.min_dpd != expected_min:
                raise ValueError(
                    f"bucket {b.name!r} starts at {b.min_dpd}, expected {expected_min}: "
                    "buckets must be contiguous from 0"
                )
            last = i == len(self.buckets) - 1
            if b.max_dpd is None:
                if not last:
                    raise ValueError(f"only the last bucket may be open-ended ({b.name!r})")
            else:
                if b.max_dpd < b.min_dpd:
                    raise ValueError(f"bucket {b.name!r} ends before it starts")
                expected_min = b.max_dpd + 1
        if self.buckets and self.buckets[-1].max_dpd is not None:
            raise ValueError("the last bucket must be open-ended")
        return self

    @property
    def bucket_names(self) -> list[str]:
        return [b.name for b in self.buckets]

    @property
    def bucket_lower_edges(self) -> list[int]:
        return [b.min_dpd for b in self.buckets]


class TierClause(_Strict):
    """All set conditions must hold (AND); unset ones are ignored."""

    dpd_above: int | None = Field(default=None, ge=0, description="DPD > value")
    dpd_at_most: int | None = Field(default=None, ge=0, description="DPD <= value")
    probability_below: float | None = Field(default=None, ge=0, le=1, description="p < value")
    probability_at_least: float | None = Field(default=None, ge=0, le=1, description="p >= value")


class Tier(_Strict):
    name: str
    label_zh: str
    strategy: str
    # The tier applies when any clause holds (OR). An empty list marks the fallback tier.
    any_of: tuple[TierClause, ...] = ()


class TierPolicy(_Strict):
    # Evaluated in order, first match wins; exactly one tier, the last, is the fallback.
    tiers: tuple[Tier, ...]

    @model_validator(mode="after")
    def _one_fallback_last(self) -> TierPolicy:
        if not self.tiers:
            raise ValueError("at least one tier is required")
        fallbacks = [t.name for t in self.tiers if not t.any_of]
        if fallbacks != [self.tiers[-1].name]:
            raise ValueError("exactly one tier, the last, must have no clauses (the fallback)")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique: {names}")
        return self


class Policy(_Strict):
    delinquency: DelinquencyPolicy
    tiering: TierPolicy
    strategies: StrategyPolicy

    @model_validator(mode="after")
    def _every_tier_has_strategies(self) -> Policy:
        tiers = {t.name for t in self.tiering.tiers}
        configured = set(self.strategies.tiers)
        if tiers != configured:
            raise ValueError(
                f"strategies.tiers must name exactly the tiers {sorted(tiers)}, "
                f"got {sorted(configured)}"
            )
        unknown = set(self.strategies.legal.tiers) - tiers
        if unknown:
            raise ValueError(f"strategies.legal.tiers names unknown tiers {sorted(unknown)}")
        return self


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file (the packaged default when ``path`` is None)."""
    return _load_cached(str(Path(path) if path else DEFAULT_POLICY_FILE))


@lru_cache(maxsize=8)
def _load_cached(path: str) -> Policy:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return Policy.model_validate(raw)
