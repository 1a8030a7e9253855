"""Collection actions generated from each episode's treatment plan and realised cure.

Actions are the visible trace of the treatments that drove the cure hazard (behaviour.py):
call counts follow the assigned collector's intensity, visits/plan offers/placements
happen where the plan says, kept promises precede the cure, 'paid' marks it. All contacts
fall between 08:00 and 21:00 local time, never after the cure, write-off or end_date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nplpipeline.contract import ACTION_CHANNELS, ACTION_OUTCOMES

from .behaviour import CH, Behaviour, Episodes, Ledger
from .borrowers import Borrowers
from .columns import choice_rows, dates, decimal, ids, make_table, time_of_day, timestamps
from .config import DAY, Model
from .loans import Loans, Schedule, loan_ids
from .staff import Staff

AC = {c: i for i, c in enumerate(ACTION_CHANNELS)}
OC = {o: i for i, o in enumerate(ACTION_OUTCOMES)}
OFFERS = ["flexible_plan", "hardship_assessment"]
AGENCY_BASE = 10_000  # performer codes >= this are agencies
ORDINARY = np.array([AC[c] for c in ("sms", "call", "app_push", "visit", "agency")])


def _dist(**p: float) -> np.ndarray:
    v = np.zeros(len(ACTION_OUTCOMES))
    for k, x in p.items():
        v[OC[k]] = x
    return v


CALL = _dist(
    no_answer=0.45,
    right_party_contact=0.25,
    wrong_party=0.05,
    promise_to_pay=0.12,
    refused=0.1,
    dispute=0.015,
)
VISIT = _dist(right_party_contact=0.5, no_answer=0.25, promise_to_pay=0.15, refused=0.1)
AGENCY = _dist(
    no_answer=0.45,
    right_party_contact=0.25,
    promise_to_pay=0.12,
    refused=0.12,
    dispute=0.03,
    complaint=0.03,
)


@dataclass
class _Parts:
    """Column pieces appended by each generator, concatenated once at the end."""

    e: list[np.ndarray]
    x: list[np.ndarray]  # DPD of the action (day = d0 + x)
    ch: list[np.ndarray]
    by: list[np.ndarray]
    out: list[np.ndarray]
    ptp_amt: list[np.ndarray]
    ptp_day: list[np.ndarray]
    offer: list[np.ndarray]
    tod: list[np.ndarray]

    def add(self, e, x, ch, by, out, tod, ptp_amt=None, ptp_day=None, offer=None) -> None:
        n = len(e)

        def full(v: object) -> np.ndarray:
            return (
                np.full(n, v, dtype=np.int64) if np.isscalar(v) else np.asarray(v, dtype=np.int64)
            )

        self.e.append(full(e))
        self.x.append(full(x))
        self.ch.append(full(ch))
        self.by.append(full(by))
        self.out.append(full(out))
        self.tod.append(full(tod))
        self.ptp_amt.append(full(-1 if ptp_amt is None else ptp_amt))
        self.ptp_day.append(full(-1 if ptp_day is None else ptp_day))
        self.offer.append(full(-1 if offer is None else offer))

    def cat(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name))


def collection_actions(
    rng: np.random.Generator,
    m: Model,
    b: Borrowers,
    ln: Loans,
    sch: Schedule,
    staff: Staff,
    beh: Behaviour,
    chunk: int,
    end_day: int,
    cust_ids_by_loan: pa.Array,
) -> pa.Table:
    ep: Episodes = beh.episodes
    n = ep.n
    cd = np.where(np.isfinite(ep.cd), ep.cd, 10**6).astype(np.int64)
    lim = np.minimum(
        np.minimum(cd, m.write_off_dpd + 1), end_day - ep.d0 + 1
    )  # exclusive DPD bound
    ordinary_ok = ~ep.suppressed
    parts = _Parts([], [], [], [], [], [], [], [], [])
    ar = np.arange(n)

    def window(
        lo: np.ndarray | int, hi: np.ndarray | int, rate: np.ndarray | float, mask: np.ndarray
    ):
        a = np.maximum(lo, 1) * np.ones(n, dtype=np.int64)
        z = np.minimum(hi, lim)
        length = np.where(mask, np.maximum(z - a, 0), 0)
        cnt = rng.poisson(rate * length)
        e = np.repeat(ar, cnt)
        x = a[e] + (rng.random(len(e)) * length[e]).astype(np.int64)
        return e, x

    def tods(k: int) -> np.ndarray:
        return time_of_day(rng, k, 8, 21)

    # Automated reminders.
    for dd in (1, 3, 7, 15, 25):
        e = np.flatnonzero(ordinary_ok & (dd < lim))
        parts.add(e, dd, AC["sms"], -1, OC["delivered"], tods(len(e)))
    for dd in (2, 10, 20):
        e = np.flatnonzero(ordinary_ok & (dd < lim))
        parts.add(e, dd, AC["app_push"], -1, OC["delivered"], tods(len(e)))

    # Calls: counts scale with the assigned collector's intensity (the treatment).
    for lo, hi, rate, coll, mask, stage_i in (
        (1, 30, 0.22 * ep.i_early, ep.early_coll, ordinary_ok, ep.i_early),
        (30, 90, 0.15 * ep.i_mid, ep.mid_coll, ordinary_ok, ep.i_mid),
        (90, 120, 0.12 * ep.i_mid, ep.mid_coll, ordinary_ok & (ep.place_dpd == 120), ep.i_mid),
        (90, 366, 0.05 * ep.i_mid, ep.mid_coll, ordinary_ok & (ep.place_dpd < 0), ep.i_mid),
    ):
        e, x = window(lo, hi, rate, mask)
        probs = np.tile(CALL, (len(e), 1))
        probs[:, OC["complaint"]] = 0.004 * stage_i[e]
        out = choice_rows(rng, probs)
        parts.add(e, x, AC["call"], coll[e], out, tods(len(e)))

    # Flexible repayment plan offer (mild stage) and field visits (severe stage).
    e = np.flatnonzero(ep.plan & (ep.plan_dpd < lim))
    parts.add(
        e,
        ep.plan_dpd[e],
        AC["call"],
        ep.early_coll[e],
        OC["right_party_contact"],
        tods(len(e)),
        offer=0,
    )
    e = np.flatnonzero(ep.visit & (ep.visit_dpd < lim))
    out = choice_rows(rng, np.tile(VISIT, (len(e), 1)))
    offer = np.where((out == OC["right_party_contact"]) & (rng.random(len(e)) < 0.3), 1, -1)
    parts.add(e, ep.visit_dpd[e], AC["visit"], ep.field_coll[e], out, tods(len(e)), offer=offer)

    # Legal letters (allowed even for suppressed customers).
    for dd in (60, 150):
        e = np.flatnonzero(dd < lim)
        parts.add(e, dd, AC["letter"], ep.legal_coll[e], OC["delivered"], tods(len(e)))

    # Agency work after placement.
    placed = ep.place_dpd > 0
    e, x = window(ep.place_dpd + 1, m.write_off_dpd + 1, 0.12, placed)
    out = choice_rows(rng, np.tile(AGENCY, (len(e), 1)))
    parts.add(e, x, AC["agency"], AGENCY_BASE + ep.agency[e], out, tods(len(e)))

    # Promises kept (just before the cure) and the 'paid' contact at the cure.
    end_excl = (end_day + 1) * DAY
    cured = np.isfinite(ep.cd) & (ep.cure_ts < end_excl) & (ep.cd <= m.write_off_dpd)
    by_agency = ep.cure_channel == CH["agency"]
    stage_coll = lambda xx, e_: np.where(xx < 30, ep.early_coll[e_], ep.mid_coll[e_])  # noqa: E731
    e = np.flatnonzero(cured & ~ep.suppressed & (cd >= 2) & (rng.random(n) < 0.5))
    back = 1 + (rng.random(len(e)) * np.minimum(5, cd[e] - 1)).astype(np.int64)
    x = cd[e] - back
    ag_ok = by_agency[e] & (x > ep.place_dpd[e])
    by = np.where(ag_ok, AGENCY_BASE + ep.agency[e], stage_coll(x, e))
    parts.add(
        e,
        x,
        np.where(ag_ok, AC["agency"], AC["call"]),
        by,
        OC["promise_to_pay"],
        tods(len(e)),
        ptp_amt=np.round(ep.cure_amount[e], -2),
        ptp_day=ep.d0[e] + cd[e] + rng.integers(0, 3, len(e)),
    )
    e = np.flatnonzero(cured & (by_agency | (ep.cure_channel == CH["collector"])))
    by = np.where(by_agency[e], AGENCY_BASE + ep.cure_agency[e], ep.cure_collector[e])
    parts.add(
        e,
        cd[e],
        np.where(by_agency[e], AC["agency"], AC["call"]),
        by,
        OC["paid"],
        ep.cure_ts[e] % DAY,
    )

    e_all, x_all = parts.cat("e"), parts.cat("x")
    ch, by, out = parts.cat("ch"), parts.cat("by"), parts.cat("out")
    ptp_amt, ptp_day, offer, tod = (
        parts.cat("ptp_amt"),
        parts.cat("ptp_day"),
        parts.cat("offer"),
        parts.cat("tod"),
    )

    # Promises from ordinary contacts: amount = overdue on the day, date 3-10 days ahead.
    day = ep.d0[e_all] + x_all
    need = (out == OC["promise_to_pay"]) & (ptp_day < 0)
    if need.any():
        el = ep.loan[e_all[need]]
        od = Ledger(sch).overdue(el, ep.k_miss[e_all[need]], day[need])
        ptp_amt[need] = np.round(od, -2)
        ptp_day[need] = day[need] + rng.integers(3, 11, size=int(need.sum()))

    # Deceased / bankrupt: ordinary contact stops from the day the flag is raised.
    c = ep.cust[e_all]
    stop = (b.event[c] > 0) & (day >= b.event_day[c]) & np.isin(ch, ORDINARY)
    keep = ~stop
    loan = ep.loan[e_all[keep]]
    day, ch, by, out = day[keep], ch[keep], by[keep], out[keep]
    ptp_amt, ptp_day, offer, tod = ptp_amt[keep], ptp_day[keep], offer[keep], tod[keep]

    # Reminder SMS for good payers who are a few days late (M1 churn).
    nl = len(beh.late_loan)
    loan = np.concatenate([loan, beh.late_loan])
    day = np.concatenate([day, beh.late_due + 1])
    ch = np.concatenate([ch, np.full(nl, AC["sms"])])
    by = np.concatenate([by, np.full(nl, -1)])
    out = np.concatenate([out, np.full(nl, OC["delivered"])])
    ptp_amt = np.concatenate([ptp_amt, np.full(nl, -1)])
    ptp_day = np.concatenate([ptp_day, np.full(nl, -1)])
    offer = np.concatenate([offer, np.full(nl, -1)])
    tod = np.concatenate([tod, time_of_day(rng, nl, 8, 21)])

    ts = day * DAY + tod
    order = np.lexsort((ch, ts, loan))
    loan, ts, ch, by, out, ptp_amt, ptp_day, offer = (
        a[order] for a in (loan, ts, ch, by, out, ptp_amt, ptp_day, offer)
    )
    na = len(loan)
    performers = pa.array(staff.collector_id + staff.agency_id + [None])
    nc = len(staff.collector_id)
    by_idx = np.where(
        by < 0, nc + len(staff.agency_id), np.where(by >= AGENCY_BASE, nc + by - AGENCY_BASE, by)
    )
    recorded = np.isin(ch, [AC["call"], AC["visit"]]) & (rng.random(na) < 0.97)
    cols = {
        "action_id": ids("A", chunk * 1_000_000_000 + np.arange(na), 13),
        "loan_id": loan_ids(ln, loan),
        "customer_id": cust_ids_by_loan.take(pa.array(loan)),
        "action_at": timestamps(ts),
        "channel": pa.array(list(ACTION_CHANNELS)).take(pa.array(ch)),
        "performed_by": performers.take(pa.array(by_idx)),
        "outcome": pa.array(list(ACTION_OUTCOMES)).take(pa.array(out)),
        "ptp_amount": decimal(np.maximum(ptp_amt, 0), null=ptp_amt < 0),
        "ptp_date": dates(np.maximum(ptp_day, 0), null=ptp_day < 0),
        "recorded": pa.array(recorded),
        "offer": pc.if_else(
            pa.array(offer >= 0),
            pa.array(OFFERS).take(pa.array(np.maximum(offer, 0))),
            pa.scalar(None, pa.string()),
        ),
    }
    return make_table("collection_actions", cols, ts // DAY)
