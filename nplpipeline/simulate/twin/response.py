"""The causal response: contact intensity, today's cure hazard, outcomes of a contact.

Mechanics only; every number comes from ``parameters.PARAMS`` or the simulator's MODEL.
"""

from __future__ import annotations

import numpy as np

from nplpipeline.contract import ACTION_OUTCOMES
from nplpipeline.simulate import hazard
from nplpipeline.simulate.actions import AGENCY, CALL, VISIT
from nplpipeline.simulate.config import MODEL

from .parameters import PARAMS, intensity_offset
from .state import BIG, WorldState

OC = {o: i for i, o in enumerate(ACTION_OUTCOMES)}
REACHED = np.array([OC[o] for o in ("right_party_contact", "promise_to_pay", "refused")])
REACHED = np.concatenate([REACHED, [OC["dispute"], OC["complaint"]]])
REMINDERS = ("sms", "app_push", "email")
_I0_EARLY = intensity_offset(MODEL.suppressed_contact_factor, MODEL.contact_elasticity_early)
_I0_MID = intensity_offset(MODEL.suppressed_contact_factor, MODEL.contact_elasticity_mid)


def relative_intensity(ew_sum: np.ndarray, dpd: np.ndarray) -> np.ndarray:
    """Performed-contact intensity relative to the simulator's reference cadence."""
    p = PARAMS
    ref = np.where(dpd <= 30, p.reference_rate_early, p.reference_rate_mid)
    return ew_sum / (ref * p.intensity_tau_days)


def contact_multiplier(ew_sum: np.ndarray, dpd: np.ndarray) -> np.ndarray:
    """M(I): 0.55 without contact, 1 at the reference cadence, concave in between and above."""
    i = relative_intensity(ew_sum, dpd)
    early = dpd <= 30
    el = np.where(early, MODEL.contact_elasticity_early, MODEL.contact_elasticity_mid)
    i0 = np.where(early, _I0_EARLY, _I0_MID)
    return ((i + i0) / (1.0 + i0)) ** el


def treatment_multiplier(st: WorldState, loans: np.ndarray, day: int, agency_mult) -> np.ndarray:
    """Today's multiplier on the base hazard: contact or agency, plan, hardship, visit."""
    p, m, ln_ = PARAMS, MODEL, st.loans
    dpd = day - ln_["d0"][loans]
    mult = contact_multiplier(ln_["intensity"][loans], dpd)
    mult = np.where(dpd > 90, m.no_agency_factor * mult, mult)
    ag = ln_["agency"][loans]
    placed = (ag >= 0) & (ln_["placed_on"][loans] < day) & (day <= ln_["period_end"][loans])
    mult = np.where(placed, agency_mult[np.maximum(ag, 0)], mult)
    since_offer = day - ln_["offer_day"][loans]
    live = (since_offer >= 0) & (since_offer <= p.offer_days)
    plan = ln_["plan"][loans]
    mild = (dpd >= 7) & (dpd < 90)
    mult = mult * np.where(live & (plan == 1) & mild, m.plan_effect, 1.0)
    mult = mult * np.where(live & (plan == 2) & mild, p.plan_unaffordable_effect, 1.0)
    mult = mult * np.where(live & (plan == 3), p.hardship_effect, 1.0)
    since_visit = day - ln_["visit_day"][loans]
    visit = (since_visit >= 0) & (since_visit <= p.visit_days) & (dpd < 90)
    return mult * np.where(visit, m.visit_effect, 1.0)


def day_hazard(st: WorldState, loans: np.ndarray, day: int, agency_mult) -> np.ndarray:
    """Integrated cure hazard of day ``day`` (DPD interval (dpd - 1, dpd]) with treatment."""
    m = MODEL
    dpd = (day - st.loans["d0"][loans]).astype(np.float64)
    hb = st.hb[loans]
    br = np.asarray(m.breaks)
    base = hazard.cumulative(hb, dpd, br, m.decay_rate)
    base -= hazard.cumulative(hb, np.maximum(dpd - 1, 0), br, m.decay_rate)
    return base * treatment_multiplier(st, loans, day, agency_mult)


def open_episodes(st: WorldState, day: int) -> np.ndarray:
    """Loans in arrears on ``day`` that can still cure (not cured, not written off)."""
    ln_ = st.loans
    return np.flatnonzero(
        (ln_["d0"] < day) & (ln_["cure_day"] == BIG) & (ln_["status"] != 1) & (ln_["status"] != 3)
    )


def outcome_probs(channel: np.ndarray) -> np.ndarray:
    """(n, outcomes) outcome distribution by channel before the complaint override."""
    probs = np.zeros((len(channel), len(ACTION_OUTCOMES)))
    probs[:, OC["delivered"]] = 1.0
    for name, dist in (("call", CALL), ("visit", VISIT), ("agency", AGENCY)):
        sel = channel == name
        d = dist.copy()
        d[OC["complaint"]] = 0.0  # complaints come from the intensity model
        probs[sel] = d
    ivr = channel == "ivr"
    probs[ivr] = 0.0
    probs[ivr, OC["delivered"]] = 0.5
    probs[ivr, OC["no_answer"]] = 0.5
    return probs


def _lookup(channel: np.ndarray, table: dict[str, float]) -> np.ndarray:
    """Per-channel value of ``table`` (0 for channels it does not name), vectorised."""
    names = np.asarray(list(table), dtype=object)
    values = np.asarray(list(table.values()), dtype=np.float64)
    order = np.argsort(names)
    names, values = names[order], values[order]
    ch = np.asarray(channel, dtype=object)
    pos = np.clip(np.searchsorted(names, ch), 0, len(names) - 1)
    return np.where(names[pos] == ch, values[pos], 0.0)


def complaint_prob(channel: np.ndarray, ew_sum: np.ndarray, dpd: np.ndarray) -> np.ndarray:
    p = PARAMS
    base = _lookup(channel, p.complaint_base)
    i = np.maximum(relative_intensity(ew_sum, np.maximum(dpd, 0)), 0.25)
    return base * i**p.complaint_elasticity


def contact_weight(channel: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """A performed contact's pull, in reference calls."""
    p = PARAMS
    w = _lookup(channel, p.channel_weight)
    w = np.where(np.isin(channel, REMINDERS), p.reminder_weight, w)
    unanswered = np.isin(outcome, [OC["no_answer"], OC["wrong_party"]])
    return np.where(unanswered & ~np.isin(channel, REMINDERS), w * p.unanswered_weight, w)
