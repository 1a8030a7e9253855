"""The CRM works the worklist it received: inside the windows, within queue capacity.

Collector queues are worked in ``queue_rank`` order; a collector works a random share of
the daily capacity (``capacity_worked_*``) or is absent, and items beyond what was worked
are not performed. Automated queues (``auto:<channel>``) send everything. Each performed
item gets a time inside its window (customer-local clock, as the core system records
``action_at``) and an outcome; its effects (intensity, promise, plan, visit, dispute)
land on the state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.simulate.columns import choice_rows
from nplpipeline.simulate.staff import Staff

from . import response as rs
from .parameters import PARAMS
from .state import BIG, WorldState

_TZ_OFFSET = {"Asia/Shanghai": 8 * 3600, "Asia/Urumqi": 6 * 3600}


def _local_seconds(utc: pd.Series, tz: pd.Series) -> np.ndarray:
    """Naive UTC instants as seconds on the customer's local clock (China: no DST)."""
    secs = utc.to_numpy(dtype="datetime64[s]").astype(np.int64)
    off = tz.map(_TZ_OFFSET).fillna(8 * 3600).to_numpy(dtype=np.int64)
    return secs + off


def _worked_share(staff: Staff, queue: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Items each queue works today (big for automated queues)."""
    p = PARAMS
    n_c = len(staff.collector_id)
    worked = np.floor(
        staff.capacity * rng.uniform(p.capacity_worked_low, p.capacity_worked_high, n_c)
    )
    worked[rng.random(n_c) < p.absence_share] = 0
    pos = {c: i for i, c in enumerate(staff.collector_id)}
    idx = queue.map(pos)
    cap = np.full(len(queue), 10**9, dtype=np.float64)
    known = idx.notna().to_numpy()
    cap[known] = worked[idx[known].astype(int).to_numpy()]
    return cap


def performed_items(
    st: WorldState, staff: Staff, worklist: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """The items the CRM reached, with loan index, local time and performer."""
    w = worklist.copy()
    loan_no = pd.to_numeric(w["loan_id"].astype(str).str[1:], errors="coerce")
    n_loans = len(st.loans["cust"])
    ok = loan_no.notna() & (loan_no < n_loans) & w["window_start_utc"].notna()
    ok &= w["window_end_utc"].notna()
    w = w[ok.to_numpy()].copy()
    w["loan"] = loan_no[ok].astype(np.int64).to_numpy()
    w = w.sort_values(["queue", "queue_rank", "item_id"], kind="stable").reset_index(drop=True)
    nth = w.groupby("queue", sort=False).cumcount().to_numpy()
    cap = _worked_share(staff, w["queue"], rng)
    reached = nth < cap
    start = _local_seconds(w["window_start_utc"], w["timezone"])
    end = _local_seconds(w["window_end_utc"], w["timezone"])
    span = np.maximum(end - start, 1)
    frac = np.where(
        cap < 10**9, (nth + rng.random(len(w))) / np.maximum(cap, 1), rng.random(len(w))
    )
    w["ts"] = start + (np.clip(frac, 0, 0.999) * span).astype(np.int64)
    w = w[reached].reset_index(drop=True)
    pos = {c: i for i, c in enumerate(staff.collector_id)}
    w["performer"] = w["assignee_id"].map(pos).fillna(-1).astype(np.int64)
    return w


def work_worklist(
    st: WorldState, staff: Staff, worklist: pd.DataFrame, day: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Perform the reachable items of ``day`` and apply their effects to the state."""
    if worklist.empty:
        return pd.DataFrame()
    w = performed_items(st, staff, worklist, rng)
    if w.empty:
        return w
    ln_ = st.loans
    loan = w["loan"].to_numpy()
    ch = w["channel"].astype(str).to_numpy()
    dpd = day - ln_["d0"][loan]
    out = choice_rows(rng, rs.outcome_probs(ch))
    # intensity after today's contacts (diminishing returns and complaints both use it)
    weight = rs.contact_weight(ch, out)
    after = ln_["intensity"].copy()
    np.add.at(after, loan, weight)
    complaint = rng.random(len(w)) < rs.complaint_prob(ch, after[loan], dpd)
    out = np.where(complaint, rs.OC["complaint"], out)
    weight = rs.contact_weight(ch, out)
    np.add.at(ln_["intensity"], loan, weight)
    w["outcome"] = out
    _promises(st, w, day, rng)
    _offers_and_visits(st, w, day)
    disputed = ln_["cust"][loan[out == rs.OC["dispute"]]]
    st.borrowers["dispute_open"][disputed] = True
    st.borrowers["dispute_since"][disputed] = np.minimum(
        st.borrowers["dispute_since"][disputed], day
    )
    return w


def _promises(st: WorldState, w: pd.DataFrame, day: int, rng: np.random.Generator) -> None:
    """A promise reveals whether the hazard cures the account by the promised date.

    A promise on an account already under one repeats it (same date); a "promise" from
    an account with nothing overdue is a right-party contact. Every promise row carries
    its amount (the overdue on the day) and date, as the contract requires.
    """
    ln_ = st.loans
    loan = w["loan"].to_numpy()
    out = w["outcome"].to_numpy().copy()
    is_ptp = out == rs.OC["promise_to_pay"]
    open_now = (
        (ln_["d0"][loan] <= day) & (ln_["cure_day"][loan] == BIG) & (ln_["status"][loan] != 3)
    )
    out[is_ptp & ~open_now] = rs.OC["right_party_contact"]
    w["outcome"] = out
    is_ptp &= open_now
    rows = np.flatnonzero(is_ptp & (ln_["ptp_until"][loan] < day))
    rows = rows[np.unique(loan[rows], return_index=True)[1]]
    if len(rows):
        _new_promises(st, loan[rows], w["performer"].to_numpy()[rows], day, rng)
    ptp = np.flatnonzero(is_ptp)
    w["ptp_day"] = -1
    w["ptp_amount"] = -1
    w.loc[ptp, "ptp_day"] = ln_["ptp_until"][loan[ptp]]
    w.loc[ptp, "ptp_amount"] = np.maximum(np.round(overdue(st, day)[loan[ptp]], -2), 100)


def _new_promises(st: WorldState, lo: np.ndarray, by: np.ndarray, day: int, rng) -> None:
    from .agencies import AGENCY_MULT

    p, ln_ = PARAMS, st.loans
    until = day + rng.integers(p.ptp_min_days, p.ptp_max_days + 1, size=len(lo))
    cum_h = np.zeros(len(lo))
    for k in range(p.ptp_max_days):
        d = day + 1 + k
        live = d <= until
        if live.any():
            cum_h[live] += rs.day_hazard(st, lo[live], d, AGENCY_MULT)
    ln_["ptp_until"][lo] = until
    ln_["ptp_kept"][lo] = rng.random(len(lo)) < -np.expm1(-cum_h)
    ln_["ptp_by"][lo] = by


def overdue(st: WorldState, day: int) -> np.ndarray:
    """Cents overdue per loan on ``day`` (unpaid instalments due by then)."""
    sc = st.schedule
    unpaid_due = (sc["paid_day"] == BIG) & (sc["due_day"] <= day)
    return np.bincount(
        sc["loan"][unpaid_due],
        weights=(sc["principal"] + sc["interest"] + sc["fee"])[unpaid_due],
        minlength=len(st.loans["cust"]),
    )


def _offers_and_visits(st: WorldState, w: pd.DataFrame, day: int) -> None:
    p, ln_ = PARAMS, st.loans
    loan = w["loan"].to_numpy()
    out = w["outcome"].to_numpy()
    talked = np.isin(out, [rs.OC["right_party_contact"], rs.OC["promise_to_pay"]])
    offer = w["offer_type"].astype("string").fillna("").to_numpy()
    amount = pd.to_numeric(w["offer_instalment_amount"], errors="coerce").to_numpy(float)
    income = st.borrowers["income"][ln_["cust"][loan]]
    fits = amount <= p.plan_affordable_share * income
    plan = np.where(offer == "flexible_plan", np.where(fits, 1, 2), 0)
    plan = np.where(offer == "hardship_assessment", 3, plan)
    got = talked & (plan > 0)
    ln_["plan"][loan[got]] = plan[got]
    ln_["offer_day"][loan[got]] = day
    w["offer_made"] = np.where(got, offer, "")
    visited = talked & (w["channel"].to_numpy() == "visit")
    ln_["visit_day"][loan[visited]] = day
