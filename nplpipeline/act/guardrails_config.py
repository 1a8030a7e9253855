"""Fair-collection guardrail policy (``domain.md``, "Fair-collection guardrails").

The defaults are the *strictest* combination of the PRC guidelines and US Regulation F,
so a lender that configures nothing is compliant everywhere we know of. A lender that
operates in one jurisdiction picks a preset (``PRC_2026``, ``US_REG_F``) or validates its
own; a typo fails at load time with the field's path, as in ``config.policy``.
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nplpipeline.contract import ACTION_CHANNELS, CALL_CHANNELS

# Value sets come from the data contract, stated once there.
Channel = Literal[*ACTION_CHANNELS]  # type: ignore[valid-type]
Flag = Literal["do_not_contact", "deceased", "bankruptcy", "dispute_open", "vulnerable"]
Route = Literal["special_handling", "legal_review", "hardship_team", "dispute_team"]
# Rules an agency's own-channel contacts may be counted for (see ``agency_contacts_count_for``).
AgencyRule = Literal[
    "cap:call_attempts_day_number",
    "cap:connected_calls_day_debtor",
    "cap:call_attempts_7d_debt",
    "cooling_off:conversation",
]

ALL_CHANNELS: tuple[Channel, ...] = (
    "sms",
    "call",
    "ivr",
    "app_push",
    "email",
    "letter",
    "visit",
    "legal",
    "agency",
)


class GuardrailPolicy(BaseModel):
    """Caps set to ``None`` are switched off (the jurisdiction has no such rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "STRICTEST"
    # Inclusive local-time window: 21:00:00 is allowed, 21:00:01 is not.
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    # Channels whose send/visit time must fall in the window (a letter has no clock time).
    timed_channels: tuple[Channel, ...] = ("sms", "call", "ivr", "app_push", "email", "visit")
    # A *call attempt* is any placed call: the channels come from the contract's one
    # vocabulary (``nplpipeline.contract``), as do "connected" and "conversation".
    call_channels: tuple[Channel, ...] = CALL_CHANNELS  # type: ignore[assignment]

    max_call_attempts_per_number_per_day: int | None = Field(default=6, ge=0)
    max_connected_calls_per_debtor_per_day: int | None = Field(default=3, ge=0)
    max_call_attempts_per_debt_per_7_days: int | None = Field(default=7, ge=0)
    # Contacts an agency recorded on a channel of its own (``collection_actions.channel``
    # 'agency', medium unknown) count as calls -- connected unless unanswered -- for the
    # rules listed: by default the one the PRC guideline states "across the lender and its
    # agencies". Calls an agency recorded on a call channel are calls for every rule.
    agency_channels: tuple[Channel, ...] = ("agency",)
    agency_contacts_count_for: tuple[AgencyRule, ...] = ("cap:connected_calls_day_debtor",)

    # Reg F: no call within N days *after* the day of a phone conversation (day D blocks
    # D..D+N, D+N+1 is free). Applied per debtor, stricter than Reg F's per debt. A phone
    # conversation is ``contract.is_right_party_call`` (a ``paid`` call included).
    cooling_off_days_after_conversation: int | None = Field(default=7, ge=0)
    cooling_off_channels: tuple[Channel, ...] = CALL_CHANNELS  # type: ignore[assignment]

    # A ``dispute`` outcome opens a dispute for the debtor, on every channel below, until
    # the customer master records ``dispute_open = false`` with an ``updated_at`` later
    # than the disputing contact. Nothing else (a payment, a later promise) resolves it.
    dispute_in_history_blocks_contact: bool = True
    dispute_blocked_channels: tuple[Channel, ...] = ALL_CHANNELS
    dispute_route: Route = "dispute_team"

    # A number whose last answered call reached a wrong party is not dialled again (on
    # these channels) until the debtor's number changes or a later answered call to it
    # reaches a debtor.
    wrong_party_blocks_number: bool = True
    wrong_party_blocked_channels: tuple[Channel, ...] = CALL_CHANNELS  # type: ignore[assignment]

    # A customer whose flag is unknown (null): "hold" keeps the account off every
    # worklist for review (route below); "treat_as_unset" contacts it as unflagged.
    unknown_flags: Literal["hold", "treat_as_unset"] = "hold"
    unknown_flag_route: Route = "special_handling"

    # No contact while a promise is pending: ptp_date >= run date and no ``paid`` outcome
    # on that loan since the promise. Blocks the whole debtor, on every channel listed.
    ptp_pending_blocks_contact: bool = True
    ptp_blocked_channels: tuple[Channel, ...] = ALL_CHANNELS

    # Flag -> team that handles the account instead of the ordinary worklist. Order is the
    # precedence when a customer carries several flags.
    suppress_flags: dict[Flag, Route] = Field(
        default_factory=lambda: {
            "deceased": "legal_review",
            "bankruptcy": "legal_review",
            "dispute_open": "dispute_team",
            "vulnerable": "hardship_team",
            "do_not_contact": "special_handling",
        }
    )
    third_party_contact_allowed: bool = False
    default_timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _window_is_a_day_interval(self) -> GuardrailPolicy:
        if self.window_start >= self.window_end:
            raise ValueError("window_start must be before window_end (same local day)")
        return self


STRICTEST = GuardrailPolicy()

# PRC (2026 banking-association + 2025 internet-finance guidelines): no contact
# 22:00-08:00, 6 attempts/number/day, 3 connected calls/debtor/day across the lender and
# its agencies; collection only from the debtor (so a wrong-party number is not redialled);
# no Reg F 7-in-7 rule. Disputes and unknown flags keep the strict defaults.
PRC_2026 = GuardrailPolicy(
    name="PRC_2026",
    window_end=time(21, 59, 59),
    max_call_attempts_per_debt_per_7_days=None,
    cooling_off_days_after_conversation=None,
    agency_contacts_count_for=("cap:connected_calls_day_debtor",),
    wrong_party_blocks_number=True,
    dispute_in_history_blocks_contact=True,
    unknown_flags="hold",
)

# US Regulation F: 08:00-21:00, 7 attempts per debt in 7 days, 7-day cooling-off; no
# third-party disclosure (a wrong-party number is not redialled); a disputed debt is not
# collected until the dispute is resolved; no "across agencies" daily cap.
US_REG_F = GuardrailPolicy(
    name="US_REG_F",
    max_call_attempts_per_number_per_day=None,
    max_connected_calls_per_debtor_per_day=None,
    default_timezone="America/New_York",
    agency_contacts_count_for=(),
    wrong_party_blocks_number=True,
    dispute_in_history_blocks_contact=True,
    unknown_flags="hold",
)

PRESETS: dict[str, GuardrailPolicy] = {p.name: p for p in (STRICTEST, PRC_2026, US_REG_F)}


def get_preset(name: str) -> GuardrailPolicy:
    """Look up a named preset; unknown names fail loudly rather than fall back."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown guardrail preset {name!r}; known: {sorted(PRESETS)}") from None


def load_guardrail_policy(path: str | None = None) -> GuardrailPolicy:
    """The strictest defaults, or a lender's own YAML at ``path`` / ``$NPL_GUARDRAIL_POLICY``
    (validated: an unknown key or an inverted window fails at load)."""
    from nplpipeline.config.loading import load_yaml_model

    return load_yaml_model(GuardrailPolicy, path, "NPL_GUARDRAIL_POLICY")
