"""One day of the world: cures, regular payments, bounces, status, disputes, surveys.

Vectorised over all loans; ``day`` is the day being simulated (D + 1 of the step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nplpipeline.simulate.behaviour import CH, NO
from nplpipeline.simulate.columns import time_of_day
from nplpipeline.simulate.config import DAY, MODEL

from . import response as rs
from .agencies import AGENCY_MULT
from .parameters import PARAMS
from .state import BIG, WorldState


@dataclass
class Payments:
    """Repayment rows of the day, numbered when added."""

    parts: list[dict[str, np.ndarray]] = field(default_factory=list)

    def add(self, st: WorldState, loan, ts, amount, channel, agency=None, collector=None, rev=None):
        n = len(loan)
        first = int(st.meta["next_repayment_no"])
        st.meta["next_repayment_no"] = first + n
        fill = lambda v: np.full(n, NO, dtype=np.int64) if v is None else np.asarray(v, np.int64)  # noqa: E731
        self.parts.append(
            {
                "no": first + np.arange(n, dtype=np.int64),
                "loan": np.asarray(loan, np.int64),
                "ts": np.asarray(ts, np.int64),
                "amount": np.asarray(amount, np.int64),
                "channel": np.asarray(channel, np.int64),
                "agency": fill(agency),
                "collector": fill(collector),
                "rev": fill(rev),
            }
        )
        return first + np.arange(n, dtype=np.int64)

    def cat(self) -> dict[str, np.ndarray]:
        keys = ("no", "loan", "ts", "amount", "channel", "agency", "collector", "rev")
        if not self.parts:
            return {k: np.zeros(0, dtype=np.int64) for k in keys}
        return {k: np.concatenate([p[k] for p in self.parts]) for k in keys}


def decay(st: WorldState, day: int) -> None:
    """Intensity fades; open episodes accumulate their exposure (for satisfaction)."""
    ln_ = st.loans
    ln_["intensity"] *= np.exp(-1.0 / PARAMS.intensity_tau_days)
    op = rs.open_episodes(st, day)
    dpd = day - ln_["d0"][op]
    ln_["ep_isum"][op] += rs.relative_intensity(ln_["intensity"][op], dpd)
    ln_["ep_days"][op] += 1


def _due_total(st: WorldState) -> np.ndarray:
    sc = st.schedule
    return sc["principal"] + sc["interest"] + sc["fee"]


def cures(st: WorldState, day: int, rng: np.random.Generator, pay: Payments) -> np.ndarray:
    """Draw today's cures (hazard, or kept promises falling due) and pay the arrears."""
    ln_, sc = st.loans, st.schedule
    op = rs.open_episodes(st, day)
    locked = ln_["ptp_until"][op] >= day
    kept_today = locked & ln_["ptp_kept"][op] & (ln_["ptp_until"][op] == day)
    free = op[~locked]
    h = rs.day_hazard(st, free, day, AGENCY_MULT)
    cured = np.concatenate([free[rng.random(len(free)) < -np.expm1(-h)], op[kept_today]])
    cured = np.sort(cured)
    if len(cured) == 0:
        return cured
    ln_["cure_day"][cured] = day
    dpd = day - ln_["d0"][cured]
    settle = np.zeros(len(ln_["cust"]), dtype=bool)
    settle[cured[dpd > MODEL.charge_off_dpd]] = True
    is_c = np.zeros(len(ln_["cust"]), dtype=bool)
    is_c[cured] = True
    r_loan = sc["loan"]
    rows = is_c[r_loan] & (sc["paid_day"] == BIG) & ((sc["due_day"] <= day) | settle[r_loan])
    amount = np.bincount(r_loan[rows], weights=_due_total(st)[rows], minlength=len(is_c))
    amount[cured] = np.maximum(amount[cured] - ln_["credit"][cured], 0)  # partials before
    ln_["credit"][cured] = 0
    sc["paid_day"][rows] = day
    later = is_c[r_loan] & (sc["paid_day"] == BIG)
    sc["plan_day"][later] = np.maximum(sc["due_day"][later], day + 1)
    ag = ln_["agency"][cured]
    placed = (ag >= 0) & (ln_["placed_on"][cured] < day) & (day <= ln_["period_end"][cured])
    by = ln_["ptp_by"][cured]
    via_collector = ~placed & (ln_["ptp_until"][cured] == day) & (by >= 0)
    channel = np.where(
        placed,
        CH["agency"],
        np.where(
            via_collector,
            CH["collector"],
            np.where(ln_["pref_app"][cured], CH["app"], CH["bank_transfer"]),
        ),
    )
    ts = day * DAY + time_of_day(rng, len(cured), 9, 20)
    pay.add(
        st,
        cured,
        ts,
        amount[cured].astype(np.int64),
        channel,
        agency=np.where(placed, ag, NO),
        collector=np.where(via_collector, by, NO),
    )
    return cured


def regular(st: WorldState, day: int, rng: np.random.Generator, pay: Payments) -> int:
    sc, ln_ = st.schedule, st.loans
    rows = np.flatnonzero((sc["plan_day"] == day) & (sc["paid_day"] == BIG))
    if len(rows) == 0:
        return 0
    sc["paid_day"][rows] = day
    loan = sc["loan"][rows]
    ch = np.where(ln_["pref_app"][loan], CH["app"], CH["bank_transfer"])
    ts = day * DAY + time_of_day(rng, len(rows), 7, 23.9)
    pay.add(st, loan, ts, _due_total(st)[rows], ch)
    return len(rows)


def bounces(st: WorldState, day: int, rng: np.random.Generator, pay: Payments, today) -> int:
    """Reversals due today (then paid again through the app); queue new ones."""
    p, rv = PARAMS, st.rev
    due = rv["day"] == day
    n = int(due.sum())
    if n:
        ts = day * DAY + time_of_day(rng, n, 8, 12)
        pay.add(
            st,
            rv["loan"][due],
            ts,
            rv["amount"][due],
            rv["channel"][due],
            agency=rv["agency"][due],
            rev=rv["rep_no"][due],
        )
        pay.add(
            st,
            rv["loan"][due],
            ts + rng.integers(3600, 8 * 3600, n),
            rv["amount"][due],
            np.full(n, CH["app"]),
        )
    keep = ~due
    ch = today["channel"]
    share = np.where(
        ch == CH["bank_transfer"],
        p.bounce_share,
        np.where(ch == CH["agency"], p.agency_reversal_share, 0.0),
    )
    b = rng.random(len(ch)) < share
    st.rev = {
        "loan": np.concatenate([rv["loan"][keep], today["loan"][b]]),
        "rep_no": np.concatenate([rv["rep_no"][keep], today["no"][b]]),
        "amount": np.concatenate([rv["amount"][keep], today["amount"][b]]),
        "channel": np.concatenate([rv["channel"][keep], ch[b]]),
        "agency": np.concatenate([rv["agency"][keep], today["agency"][b]]),
        "day": np.concatenate([rv["day"][keep], day + rng.integers(1, 6, int(b.sum()))]),
    }
    return n


def status_events(st: WorldState, day: int) -> tuple[np.ndarray, np.ndarray]:
    """(loans, new status code) changed today: closed, charged off, written off."""
    ln_, sc = st.loans, st.schedule
    n = len(ln_["cust"])
    unpaid = np.bincount(sc["loan"], weights=(sc["paid_day"] == BIG), minlength=n)
    closed = np.flatnonzero(
        (unpaid == 0) & (ln_["status"] == 0) | (unpaid == 0) & (ln_["status"] == 2)
    )
    open_ep = (ln_["d0"] < day) & (ln_["cure_day"] == BIG) & (ln_["status"] != 3)
    co = np.flatnonzero(open_ep & (ln_["status"] == 0) & (day - ln_["d0"] == MODEL.charge_off_dpd))
    wo = np.flatnonzero(open_ep & (day - ln_["d0"] == MODEL.write_off_dpd))
    loans = np.concatenate([closed, co, wo])
    code = np.concatenate([np.ones(len(closed)), np.full(len(co), 2), np.full(len(wo), 3)])
    ln_["status"][loans] = code.astype(ln_["status"].dtype)
    return loans, code.astype(np.int64)


def disputes(st: WorldState, day: int, rng: np.random.Generator) -> np.ndarray:
    """Open disputes resolved today (customer positions)."""
    bw = st.borrowers
    op = np.flatnonzero(bw["dispute_open"] & (bw["dispute_since"] < day))
    done = op[rng.random(len(op)) < PARAMS.dispute_resolution_per_day]
    bw["dispute_open"][done] = False
    bw["dispute"][done] = False
    return done


def surveys_due(st: WorldState, day: int, cured: np.ndarray, rng: np.random.Generator):
    """Queue surveys after today's cures and draw in-episode ones; return today's."""
    p, ln_, pend = PARAMS, st.loans, st.survey
    sv = cured[rng.random(len(cured)) < p.survey_after_cure_share]
    op = rs.open_episodes(st, day)
    dpd = day - ln_["d0"][op]
    mid = op[(dpd >= 60) & (dpd <= 75) & (rng.random(len(op)) < p.survey_in_episode_share_per_day)]
    loans = np.concatenate([sv, mid])
    iavg = ln_["ep_isum"][loans] / np.maximum(ln_["ep_days"][loans], 1)
    placed = ln_["placements"][loans] > 0
    visited = ln_["visit_day"][loans] < BIG
    plan = ln_["plan"][loans] == 1
    latent = (
        4.1
        - 0.45 * (iavg - 1.0)
        - 0.8 * placed
        - 0.3 * visited
        + 0.4 * plan
        - 0.4 * np.r_[np.zeros(len(sv)), np.ones(len(mid))]
        + 0.8 * rng.standard_normal(len(loans))
    )
    score = np.clip(np.round(latent), 1, 5).astype(np.int64)
    when = np.r_[day + rng.integers(1, 11, len(sv)), np.full(len(mid), day)]
    tod = time_of_day(rng, len(loans), 9, 20)
    cust = ln_["cust"][loans]
    allv = {
        "cust": np.r_[pend["cust"], cust],
        "day": np.r_[pend["day"], when],
        "score": np.r_[pend["score"], score],
        "tod": np.r_[pend["tod"], tod],
    }
    now = allv["day"] == day
    st.survey = {k: v[~now] for k, v in allv.items()}
    return {k: v[now] for k, v in allv.items()}
