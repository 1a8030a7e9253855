"""The learned policy's promotion gate, as a pure function of figures (cf. model.gate).

A learned policy replaces nothing until it has shown, on decisions *after* the ones it
was trained on (out of time), a doubly robust gain over the static tier policy whose
lower confidence bound clears the safety margin -- on ``consecutive_passes`` trainings
in a row, since a gate tested every week passes by chance now and then (the live
comparison saw one pass in 21 trainings, gone the week after). An unevaluable check
refuses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from nplpipeline.model.gate import Check
from nplpipeline.uplift.config import GateSpec
from nplpipeline.uplift.evaluation import Estimate


@dataclass(frozen=True)
class PolicyGateDecision:
    promote: bool
    reason: str
    policy_version: str
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


GAIN_CHECK = "dr_gain_lower_bound"


def decide(
    spec: GateSpec, gain: Estimate, version: str, earlier_passes: int = 0
) -> PolicyGateDecision:
    """``gain``: out-of-time DR value of the learned minus the static policy, per decision
    (paired bootstrap CI); ``earlier_passes``: how many trainings right before this one
    passed the gain check in a row (``versions.gain_passes_before``)."""
    checks = [
        Check(
            "out_of_time_rows",
            float(gain.n),
            float(spec.min_out_of_time_rows),
            gain.n >= spec.min_out_of_time_rows,
        ),
        Check(
            GAIN_CHECK,
            gain.low,
            spec.safety_margin,
            math.isfinite(gain.low) and gain.low > spec.safety_margin,
            f"gain {gain.value:.2f} [{gain.low:.2f}, {gain.high:.2f}] vs margin "
            f"{spec.safety_margin}",
        ),
    ]
    in_a_row = earlier_passes + 1 if checks[-1].passed else 0
    checks.append(
        Check(
            "consecutive_passes",
            float(in_a_row),
            float(spec.consecutive_passes),
            in_a_row >= spec.consecutive_passes,
            f"{in_a_row} gain check(s) passed in a row, {spec.consecutive_passes} needed",
        )
    )
    failed = [c.name for c in checks if not c.passed]
    reason = "all checks passed" if not failed else "failed: " + ", ".join(failed)
    return PolicyGateDecision(not failed, reason, version, checks)
