"""The uplift policy (``config/policies/uplift.yaml``): validated, unknown keys fail."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_UPLIFT_POLICY_FILE = (
    Path(__file__).resolve().parents[1] / "config" / "policies" / "uplift.yaml"
)
ENV_VAR = "NPL_UPLIFT_POLICY"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TreatmentRule(_Strict):
    """A plan row is this treatment when every given condition holds."""

    name: str
    agency_route: bool | None = None
    any_channel: tuple[str, ...] = ()
    offer: str | None = None
    no_channel: bool = False


class GateSpec(_Strict):
    out_of_time_days: int = Field(default=28, ge=1)
    safety_margin: float = 0.0
    min_out_of_time_rows: int = Field(default=500, ge=1)
    ci_level: float = Field(default=0.9, gt=0, lt=1)
    # Weekly trainings each test the gain anew: one pass in twenty is chance at a 5%
    # one-sided bound, so promotion asks for this many passes in a row.
    consecutive_passes: int = Field(default=2, ge=1)


class NbaArmSpec(_Strict):
    """The learned policy's own arm: a stable hash share of the accounts first planned
    in one of ``tiers``, drawn independently of the randomised base arm (own seed)."""

    share: float = Field(default=0.2, ge=0, le=1)
    seed: int = 1515
    tiers: tuple[str, ...] = ("mild", "severe", "extremely_severe")


class UpliftPolicy(_Strict):
    horizon_days: int = Field(default=30, ge=1)
    decision_every_days: int = Field(default=7, ge=1)
    train_every_days: int = Field(default=7, ge=1)
    arm: NbaArmSpec = NbaArmSpec()
    contact_cost: dict[str, float]
    treatments: tuple[TreatmentRule, ...]
    other_treatment: str = "other"
    min_rows_per_treatment: int = Field(default=200, ge=1)
    bootstrap_samples: int = Field(default=200, ge=10)
    cross_fit_folds: int = Field(default=2, ge=2)
    seed: int = 15
    min_randomised_share: float = Field(default=0.2, ge=0, le=1)
    capacity: dict[str, int | None] = Field(default_factory=dict)
    gate: GateSpec = GateSpec()

    @model_validator(mode="after")
    def _check(self) -> UpliftPolicy:
        names = [t.name for t in self.treatments]
        if len(set(names)) != len(names) or self.other_treatment in names:
            raise ValueError("treatment names must be unique (other_treatment included)")
        if any(c < 0 for c in self.contact_cost.values()):
            raise ValueError("contact_cost must not be negative")
        unknown = set(self.capacity) - set(names)
        if unknown:
            raise ValueError(f"capacity for unknown treatments: {sorted(unknown)}")
        return self

    @property
    def treatment_names(self) -> tuple[str, ...]:
        return (*(t.name for t in self.treatments), self.other_treatment)

    def version(self) -> str:
        """A short content hash: the policy's version in MLflow and in every decision."""
        text = self.model_dump_json()
        return "nba-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def load_uplift_policy(path: str | Path | None = None) -> UpliftPolicy:
    """The uplift policy from ``path``, ``$NPL_UPLIFT_POLICY`` or the shipped default."""
    source = Path(path or os.environ.get(ENV_VAR) or DEFAULT_UPLIFT_POLICY_FILE)
    return UpliftPolicy.model_validate(yaml.safe_load(source.read_text(encoding="utf-8")))
