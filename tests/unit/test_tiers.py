"""The plan's tiers from DPD and recovery probability, by the default policy and others."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from nplpipeline.config.policy import TierPolicy, load_policy
from nplpipeline.config.tiers import assign_tiers

POLICY = load_policy().tiering


@pytest.mark.parametrize(
    ("dpd", "p", "tier"),
    [
        (1, 0.05, "mild"),  # DPD <= 30 is mild whatever the score
        (30, 0.0, "mild"),
        (31, 0.59, "severe"),
        (31, 0.60, "mild"),  # p >= 0.6 is mild
        (90, 0.10, "severe"),  # not yet > 90
        (91, 0.29, "extremely_severe"),
        (91, 0.30, "severe"),  # p < 0.3 is strict
        (150, 0.70, "mild"),
        (180, 0.50, "severe"),
        (181, 0.95, "extremely_severe"),  # DPD > 180 regardless of the model
    ],
)
def test_default_tiers_follow_the_plan(dpd: int, p: float, tier: str) -> None:
    assert assign_tiers(np.array([dpd]), np.array([p]), POLICY).tolist() == [tier]


def test_tiers_are_vectorised_and_exhaustive() -> None:
    rng = np.random.default_rng(0)
    dpd, p = rng.integers(1, 400, 10_000), rng.random(10_000)
    tiers = assign_tiers(dpd, p, POLICY)
    assert set(tiers) == {"mild", "severe", "extremely_severe"}
    mild = (dpd <= 30) | (p >= 0.6)
    extreme = ((dpd > 90) & (p < 0.3)) | (dpd > 180)
    assert (tiers == np.where(extreme, "extremely_severe", np.where(mild, "mild", "severe"))).all()


def test_a_lender_can_define_its_own_tiers() -> None:
    policy = TierPolicy.model_validate(
        {"tiers": [
            {"name": "agency", "label_zh": "委外", "strategy": "agency",
             "any_of": [{"dpd_above": 60}]},
            {"name": "in_house", "label_zh": "内催", "strategy": "calls"},
        ]}
    )  # fmt: skip
    assert assign_tiers(np.array([60, 61]), np.array([0.5, 0.5]), policy).tolist() == [
        "in_house",
        "agency",
    ]


@pytest.mark.parametrize(
    "tiers",
    [
        [],  # no tier
        [{"name": "a", "label_zh": "a", "strategy": "s", "any_of": [{"dpd_above": 1}]}],
        [{"name": "a", "label_zh": "a", "strategy": "s"},
         {"name": "b", "label_zh": "b", "strategy": "s"}],  # two fallbacks
        [{"name": "a", "label_zh": "a", "strategy": "s", "any_of": [{"dpd_abve": 1}]},
         {"name": "b", "label_zh": "b", "strategy": "s"}],  # typo in a condition
    ],
)  # fmt: skip
def test_invalid_tier_policies_fail_at_load(tiers: list) -> None:
    with pytest.raises(pydantic.ValidationError):
        TierPolicy.model_validate({"tiers": tiers})
