"""Collection strategies as configuration: what each tier gets, and how it is measured.

A tier has *arms* (champion, challenger, control) with shares; an account's arm is drawn
once from a hash of its loan id, so it keeps its arm from day to day and the KPI layer
can compare recovery between arms. An arm runs a named *strategy*: ordered steps by DPD
(first step whose ``dpd_to`` is not exceeded applies), each with the channels to use and
how often. Offers and legal readiness are policy too, so a lender changes them in YAML.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ArmName = Literal["champion", "challenger", "control"]
StrategyChannel = Literal["sms", "app_push", "email", "call", "ivr", "visit", "letter", "legal"]
OfferKind = Literal["flexible_plan", "hardship_assessment"]
Role = Literal["call", "field", "legal"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelSpec(_Strict):
    """How a channel is worked: by whom (None = automated) and at what cost."""

    effort: float = Field(gt=0, description="collector-call equivalents per contact")
    role: Role | None = None
    staff: int = Field(default=1, ge=1, description="people per contact (field visits: 2)")


class Step(_Strict):
    name: str
    dpd_to: int | None = Field(default=None, ge=0, description="applies while DPD <= value")
    channels: tuple[StrategyChannel, ...] = ()
    every_days: int = Field(default=1, ge=1, description="min days between touches per channel")


class Strategy(_Strict):
    steps: tuple[Step, ...] = ()
    offer: OfferKind | None = None
    agency_route: bool = False  # accounts go to agency placement; no in-house contact after

    @model_validator(mode="after")
    def _steps_ordered(self) -> Strategy:
        edges = [s.dpd_to for s in self.steps]
        if None in edges[:-1]:
            raise ValueError("only the last step may be open-ended (no dpd_to)")
        bounded = [e for e in edges if e is not None]
        if bounded != sorted(bounded):
            raise ValueError(f"steps must be ordered by dpd_to: {edges}")
        return self


class Arm(_Strict):
    strategy: str
    share: float = Field(ge=0, le=1)


class TierStrategies(_Strict):
    arms: dict[ArmName, Arm]

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> TierStrategies:
        total = sum(a.share for a in self.arms.values())
        if abs(total - 1) > 1e-9:
            raise ValueError(f"arm shares must sum to 1, got {total}")
        if "champion" not in self.arms:
            raise ValueError("every tier needs a champion arm")
        return self


class FlexiblePlanOffer(_Strict):
    """Spread the arrears so each instalment stays affordable against monthly income."""

    affordability_share: float = Field(default=0.3, gt=0, le=1)
    min_instalments: int = Field(default=3, ge=1)
    max_instalments: int = Field(default=12, ge=1)
    min_instalment_amount: float = Field(default=100.0, ge=0)
    first_due_in_days: int = Field(default=7, ge=0)

    @model_validator(mode="after")
    def _range(self) -> FlexiblePlanOffer:
        if self.min_instalments > self.max_instalments:
            raise ValueError("min_instalments exceeds max_instalments")
        return self


class LegalReadiness(_Strict):
    """When legal action is worth preparing: deep enough and large enough."""

    min_dpd: int = Field(default=90, ge=0)
    min_outstanding: float = Field(default=20_000.0, ge=0)
    tiers: tuple[str, ...] = ("severe", "extremely_severe")


class StrategyPolicy(_Strict):
    seed: int = 20260101
    channels: dict[StrategyChannel, ChannelSpec]
    strategies: dict[str, Strategy]
    tiers: dict[str, TierStrategies]
    flexible_plan: FlexiblePlanOffer = FlexiblePlanOffer()
    legal: LegalReadiness = LegalReadiness()

    @model_validator(mode="after")
    def _field_visits_go_in_pairs(self) -> StrategyPolicy:
        """PRC guideline (domain.md): field visits by at least two staff, whatever a
        lender's YAML says."""
        visit = self.channels.get("visit")
        if visit is not None and visit.staff < 2:
            raise ValueError("channels.visit.staff: field visits need at least 2 staff")
        return self

    @model_validator(mode="after")
    def _references_exist(self) -> StrategyPolicy:
        for tier, spec in self.tiers.items():
            for arm, a in spec.arms.items():
                if a.strategy not in self.strategies:
                    raise ValueError(f"tiers.{tier}.arms.{arm}: unknown strategy {a.strategy!r}")
        for name, strategy in self.strategies.items():
            for step in strategy.steps:
                missing = set(step.channels) - set(self.channels)
                if missing:
                    raise ValueError(f"strategies.{name}.{step.name}: no channel spec {missing}")
        return self
