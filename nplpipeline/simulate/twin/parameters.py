"""Every causal response parameter of the lender twin, in one reviewed place.

The twin continues the simulator's causal model (``simulate/config.py`` MODEL: base cure
hazards per DPD segment, borrower effects, collectability decay, agencies' liquidation
multipliers); what it adds is how *performed* treatments change that hazard day by day.
Each value below carries its source or rationale. They were fixed before any policy was
run on the twin and must never be tuned to make a policy look good; the tests in
``tests/unit/test_twin_parameters.py`` show the twin reproduces them.

Contact response. The simulator's hazard multiplier for contact intensity ``i`` is
``i ** elasticity`` (0.7 early, 0.35 mid) with 0.55 when there is no contact at all.
The twin measures intensity from the contacts actually performed: an exponentially
weighted sum ``S`` of channel weights (time constant ``intensity_tau_days``) relative to
the simulator's reference cadence (``reference_rate``: calls per day of an average
collector), ``I = S / (reference_rate * tau)``, and multiplies the hazard by
``M(I) = ((I + I0) / (1 + I0)) ** elasticity`` with ``I0`` chosen so ``M(0)`` equals the
no-contact factor and ``M(1) = 1``: the simulator's average at its average cadence,
concave (diminishing returns), finite at zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TwinParameters:
    # ---- contact intensity (see module docstring) ----
    intensity_tau_days: float = 14.0  # a contact's pull fades over ~2 weeks (rationale)
    # Reference cadence = the simulator's intensity 1 in the twin's own units (weights
    # below): its 0.22 call attempts a day at DPD 1-30 and 0.15 at DPD 30-90
    # (actions.py), half of them answered (CALL: 45% no answer, 5% wrong party), so
    # 0.22 x (0.5 + 0.5 x 0.2) = 0.132 and 0.15 x 0.6 = 0.09 a day; plus early its
    # 5 SMS + 3 app pushes a month: 8 / 30 x reminder_weight = 0.086.
    reference_rate_early: float = 0.218
    reference_rate_mid: float = 0.09
    # Weight of one performed contact, in reached calls. An unanswered attempt counts a
    # fifth (the borrower sees a missed call).
    # reminder_weight is calibrated (tests/unit/test_twin_parameters.py) to Campbell,
    # Grant & Thorp (2022), J. Banking & Finance 142, 106549: an app/online reminder to
    # 30-days-overdue credit-card debtors raised the share repaying all arrears within the
    # repayment cycle from 61.9% to 64.3%, +2.4 pp (95% CI 1.68-3.12).
    # Calibrated once on synthetic_book(200_000, dpd=30, seed=11) (experiments.py): with
    # no other contact, 30-day cure 19.40% -> 21.80%. (The study's base rate, 61.9%, is a
    # different book; the twin reproduces the effect in percentage points.) The window
    # (DPD 31-60) is all mid stage, so the weight scales with reference_rate_mid: 0.54 at
    # an earlier 0.15, 0.324 at 0.09, the same effect.
    reminder_weight: float = 0.324  # sms / app_push / email, delivered
    channel_weight: dict[str, float] = field(
        default_factory=lambda: {
            "call": 1.0,
            "visit": 2.5,  # two staff at the door: the strongest in-house contact
            "ivr": 0.4,
            "letter": 0.3,
            "legal": 0.5,
        }
    )
    unanswered_weight: float = 0.2
    reminder_study_effect_pp: float = 2.4
    reminder_study_window_days: int = 30  # "within the current repayment cycle"
    reminder_study_dpd: int = 30

    # ---- complaints rise with intensity ----
    # Per performed contact: p = base[channel] * max(I, 0.25) ** complaint_elasticity.
    # Base 0.004 per call at intensity 1 is the simulator's (actions.py); elasticity 1.0
    # makes complaints proportional to pressure (regulators count complaints per contact
    # pressure: e.g. the CFPB's Regulation F presumes harassment above 7 calls in 7 days).
    complaint_base: dict[str, float] = field(
        default_factory=lambda: {
            "call": 0.004,
            "visit": 0.006,
            "agency": 0.03,  # the simulator's agency outcome distribution
            "sms": 0.0004,
            "app_push": 0.0002,
            "email": 0.0002,
            "ivr": 0.001,
            "letter": 0.0005,
            "legal": 0.002,
        }
    )
    complaint_elasticity: float = 1.0

    # ---- offers ----
    # A flexible plan raises the cure hazard by the simulator's plan_effect (1.4) on DPD
    # 7-90 only when its instalment fits the borrower's *true* income: at most this share
    # of monthly income (the common 30-40% debt-service-to-income affordability rule).
    # A plan above that is a promise the borrower breaks: no effect.
    plan_affordable_share: float = 0.35
    plan_unaffordable_effect: float = 1.0
    hardship_effect: float = 1.1  # assessment without a plan: a little, for 90 days
    offer_days: int = 90

    # ---- field visits: the simulator's visit_effect (1.35) for 45 days, DPD < 90 ----
    visit_days: int = 45

    # ---- agencies ----
    agency_contacts_per_day: float = 0.12  # the simulator's agency work rate (actions.py)
    agency_reversal_share: float = 0.03  # agency-collected payments later reversed
    bounce_share: float = 0.004  # bank transfers that bounce (behaviour.py)
    legacy_placement_days: int = 120  # lender's own placements before the twin started

    # ---- promises: a promise reveals, it does not cause ----
    # At a promise the twin draws whether the account's hazard cures it by the promised
    # date; kept promises pay on that date, broken ones do not pay before it. The contact
    # that got the promise already raised the hazard through intensity; counting the
    # promise again would double the effect.
    ptp_min_days: int = 3
    ptp_max_days: int = 10

    # ---- disputes ----
    # Open disputes are resolved (master's dispute_open set false) at this daily hazard:
    # a mean of 30 days, within the 15-60 day complaint-handling deadlines regulators set.
    dispute_resolution_per_day: float = 1 / 30

    # ---- CRM execution ----
    # Share of a collector's daily capacity actually worked (absence, breaks, long calls).
    capacity_worked_low: float = 0.85
    capacity_worked_high: float = 1.0
    absence_share: float = 0.04  # collectors absent on a given day

    # ---- satisfaction (satisfaction.py's latent score) ----
    survey_after_cure_share: float = 0.25
    survey_in_episode_share_per_day: float = 0.05 / 16  # 5% of those at DPD 60-75


PARAMS = TwinParameters()


def intensity_offset(no_contact_factor: float, elasticity: float) -> float:
    """I0 with ((0 + I0) / (1 + I0)) ** elasticity == no_contact_factor."""
    a = no_contact_factor ** (1.0 / elasticity)
    return a / (1.0 - a)
