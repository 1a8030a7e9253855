"""Agencies: take the day's placements and recalls, work their accounts, collect.

Each agency liquidates at its own hidden rate (``reference.AGENCIES`` liquidation
multiplier, which replaces in-house contact in the cure hazard while placed); a placement
ends at its period end or on recall. Agency contacts follow the simulator's agency outcome
distribution at ``agency_contacts_per_day``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.simulate import reference as ref
from nplpipeline.simulate.columns import choice_rows, time_of_day
from nplpipeline.simulate.config import DAY, to_day

from . import response as rs
from .parameters import PARAMS
from .state import BIG, WorldState

AGENCY_IDS = [a[0] for a in ref.AGENCIES]
AGENCY_MULT = np.array([a[5] for a in ref.AGENCIES], dtype=np.float64)
# an agency works at its own steady pressure: intensity 1 of the mid-stage reference
_AGENCY_PRESSURE = PARAMS.reference_rate_mid * PARAMS.intensity_tau_days
AGENCY_COMMISSION = np.array([a[2] for a in ref.AGENCIES], dtype=np.float64)


def _days(values: pd.Series) -> np.ndarray:
    d = pd.to_datetime(values, errors="coerce")
    out = np.full(len(d), BIG, dtype=np.int64)
    ok = d.notna().to_numpy()
    out[ok] = d[ok].to_numpy(dtype="datetime64[D]").astype(np.int64)
    return out


def _loan_index(st: WorldState, loan_id: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    no = pd.to_numeric(loan_id.astype(str).str[1:], errors="coerce")
    ok = (no.notna() & (no < len(st.loans["cust"]))).to_numpy().copy()
    return ok, no.fillna(0).astype(np.int64).to_numpy()


def apply_exports(st: WorldState, placements: pd.DataFrame, recalls: pd.DataFrame, day: int):
    """Placements start working the next day; recalls end them on their date."""
    ln_ = st.loans
    pos = {a: i for i, a in enumerate(AGENCY_IDS)}
    n_pl = n_rc = 0
    if len(placements):
        ok, loan = _loan_index(st, placements["loan_id"])
        ag = placements["agency_id"].map(pos)
        ok &= ag.notna().to_numpy()
        loan, ag = loan[ok], ag[ok].astype(np.int64).to_numpy()
        start = _days(placements["placed_on"])[ok]
        end = _days(placements["period_end"])[ok]
        ln_["agency"][loan] = ag
        ln_["placed_on"][loan] = np.where(start == BIG, day, start)
        ln_["period_end"][loan] = np.where(end == BIG, day + 120, end)
        ln_["placements"][loan] += 1
        n_pl = len(loan)
    if len(recalls):
        ok, loan = _loan_index(st, recalls["loan_id"])
        on = _days(recalls["recalled_on"])[ok]
        loan = loan[ok]
        ln_["period_end"][loan] = np.minimum(ln_["period_end"][loan], np.where(on == BIG, day, on))
        n_rc = len(loan)
    return n_pl, n_rc


def end_expired(st: WorldState, day: int) -> None:
    ln_ = st.loans
    gone = (ln_["agency"] >= 0) & (ln_["period_end"] < day)
    ln_["agency"][gone] = -1


def agency_work(st: WorldState, day: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Agency contacts on ``day`` for the accounts they hold that are still unpaid."""
    ln_ = st.loans
    held = np.flatnonzero(
        (ln_["agency"] >= 0)
        & (ln_["placed_on"] < day)
        & (day <= ln_["period_end"])
        & (ln_["cure_day"] == BIG)
        & (ln_["d0"] < day)
        & (ln_["status"] != 3)
    )
    k = rng.poisson(PARAMS.agency_contacts_per_day, len(held))
    loan = np.repeat(held, k)
    ch = np.full(len(loan), "agency", dtype=object)
    out = choice_rows(rng, rs.outcome_probs(ch))
    comp = rng.random(len(loan)) < rs.complaint_prob(
        ch, np.full(len(loan), _AGENCY_PRESSURE), day - ln_["d0"][loan]
    )
    out = np.where(comp, rs.OC["complaint"], out)
    disputed = ln_["cust"][loan[out == rs.OC["dispute"]]]
    st.borrowers["dispute_open"][disputed] = True
    st.borrowers["dispute_since"][disputed] = np.minimum(
        st.borrowers["dispute_since"][disputed], day
    )
    from .crm import overdue

    ptp = out == rs.OC["promise_to_pay"]  # an agency's promise: its effect is its rate
    ptp_day = np.where(ptp, day + rng.integers(3, 11, len(loan)), -1)
    ptp_amount = np.where(ptp, np.maximum(np.round(overdue(st, day)[loan], -2), 100), -1)
    return {
        "loan": loan,
        "ts": day * DAY + time_of_day(rng, len(loan), 9, 20),
        "channel": ch,
        "performer_agency": ln_["agency"][loan],
        "outcome": out,
        "ptp_day": ptp_day.astype(np.int64),
        "ptp_amount": ptp_amount.astype(np.int64),
    }


__all__ = ["AGENCY_IDS", "AGENCY_MULT", "agency_work", "apply_exports", "end_expired", "to_day"]
