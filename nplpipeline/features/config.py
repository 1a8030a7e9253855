"""Feature and label knobs: what a lender tunes without touching code.

Defaults follow ``domain.md`` (90-day horizon, recovery = cure or half the overdue
balance repaid). Band edges are fixed here rather than taken from each day's data so a
band means the same thing on every as-of date and in training and scoring alike.
A lender may point ``NPL_FEATURE_CONFIG`` at a YAML file with any subset of the fields.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nplpipeline.config.loading import load_yaml_model
from nplpipeline.contract import ACTION_CHANNELS, ACTION_OUTCOMES, CONVERSATION_OUTCOMES

ENV_VAR = "NPL_FEATURE_CONFIG"


class FeatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # ---- label ----
    horizon_days: int = Field(default=90, ge=1)
    # Recovered also when net repayments in the horizon reach this share of the overdue
    # amount on the as-of date.
    recovery_share: float = Field(default=0.5, gt=0, le=1)

    # ---- as-of calendar ----
    as_of_frequency: Literal["month_end"] = "month_end"

    # ---- lookbacks ----
    payment_windows_days: tuple[int, ...] = (30, 90, 180)
    contact_windows_days: tuple[int, ...] = (30, 90)
    dpd_lag_months: int = Field(default=3, ge=1, le=12)  # dpd at the previous N month-ends
    roll_months: int = Field(default=6, ge=1, le=24)  # roll counts over N month-ends

    # ---- contact outcome definitions ----
    attempt_channels: tuple[str, ...] = ("call", "visit", "agency")
    # A feature's "attempt" is any outreach a collector or agency made (wider than the
    # contract's call attempt); a right-party contact is the contract's conversation.
    right_party_outcomes: tuple[str, ...] = CONVERSATION_OUTCOMES
    # A promise is kept when payments from the promise day to its date reach this share.
    ptp_kept_share: float = Field(default=1.0, gt=0, le=1)

    # ---- borrower bands: fixed edges (lower bounds; the last band is open) ----
    age_band_edges: tuple[int, ...] = (18, 25, 30, 40, 50, 60)
    income_band_edges: tuple[float, ...] = (0, 3000, 5000, 8000, 12000, 20000)
    # Customer attributes read from the customer's (only, latest) row regardless of its
    # updated_at: the contract keeps no history, so these are treated as static. Flags
    # (deceased, bankruptcy, vulnerable, ...) are never used: see borrowers.py.
    static_customer_attributes: tuple[Literal["province", "employment_type", "income"], ...] = (
        "province",
        "employment_type",
        "income",
    )

    @model_validator(mode="after")
    def _check(self) -> FeatureConfig:
        for name in ("payment_windows_days", "contact_windows_days"):
            windows = getattr(self, name)
            if not windows or any(w <= 0 for w in windows) or len(set(windows)) != len(windows):
                raise ValueError(f"{name} must be distinct positive day counts")
        for name in ("age_band_edges", "income_band_edges"):
            edges = getattr(self, name)
            if not edges or list(edges) != sorted(set(edges)):
                raise ValueError(f"{name} must be strictly increasing")
        unknown = set(self.attempt_channels) - set(ACTION_CHANNELS)
        if unknown:
            raise ValueError(f"attempt_channels has unknown channels {sorted(unknown)}")
        unknown = set(self.right_party_outcomes) - set(ACTION_OUTCOMES)
        if unknown:
            raise ValueError(f"right_party_outcomes has unknown outcomes {sorted(unknown)}")
        return self

    @property
    def age_band_labels(self) -> list[str]:
        return band_labels(self.age_band_edges, below=f"<{self.age_band_edges[0]}")

    @property
    def income_band_labels(self) -> list[str]:
        return band_labels(self.income_band_edges, below=None)


def band_labels(edges: tuple[float, ...], below: str | None) -> list[str]:
    """Readable labels ``a-b`` for [a, b) bands and ``c+`` for the open last band."""
    fmt = [f"{e:g}" for e in edges]
    labels = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(fmt)] + [f"{fmt[-1]}+"]
    return ([below] if below else []) + labels


def load_feature_config(path: str | Path | None = None) -> FeatureConfig:
    """Defaults, overridden by the YAML at ``path`` or ``$NPL_FEATURE_CONFIG`` when set."""
    return load_yaml_model(FeatureConfig, path, ENV_VAR)
