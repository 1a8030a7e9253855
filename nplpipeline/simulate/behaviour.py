"""The causal core: first missed payment, collection treatments, cure, payments, status.

Order of causation per loan:
  borrower + loan features -> per-installment miss probability -> first missed installment k_miss
  -> episode starts at due date of k_miss (DPD clock) -> randomised treatments (collector and
  hence contact intensity, flexible plan, field visit, agency and placement timing)
  -> per-account hazard levels -> cure time t_cure (exact inverse CDF) -> payments and status.
Treatments are assigned before, and independently of, the outcome, so their effect on cure
is causal; the truth module exposes them so models and policies can be judged.

Hazard level of account i in DPD segment s (segments in config.Model.breaks):
  base[s] * borrower[i] * exp(segment_effects[i, s]) * treatments[i, s]
borrower[i] (age, employment, latent frailty, deceased/bankrupt) is the same at every
DPD; segment_effects change with time in arrears, as they do in real collections:
stated income matters by employment type and mostly early, the arrears-to-income burden
grows as instalments fall due, pre-default payment history helps early cures, and
contact matters more in the early stage than in the mid stage (config.Model documents
each). Levels are constant within a segment, so cure times and the ground-truth
probabilities stay exact closed forms (hazard.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nplpipeline.contract import EMPLOYMENT_TYPES, REPAYMENT_CHANNELS

from . import hazard
from .borrowers import Borrowers
from .columns import decimal, ids, make_table, time_of_day, timestamps
from .config import DAY, Model
from .loans import Loans, Schedule, loan_ids, loans_rows
from .staff import Staff, pick_agency, pick_collector

CH = {c: i for i, c in enumerate(REPAYMENT_CHANNELS)}
STATUSES = ["active", "closed", "charged_off", "written_off"]
NO = -1


@dataclass
class Episodes:
    """Delinquency episodes that started before end_date (one per defaulting loan)."""

    loan: np.ndarray
    cust: np.ndarray
    k_miss: np.ndarray
    d0: np.ndarray  # default day (due date of the first missed installment)
    t_cure: np.ndarray  # latent cure time in DPD days (inf: never)
    cd: np.ndarray  # cure DPD = ceil(t_cure)
    h: np.ndarray  # (n, sch) hazard levels
    borrower_mult: np.ndarray  # DPD-independent part; segment effects are only in h
    suppressed: np.ndarray  # do-not-contact or open dispute: no ordinary contact
    vulnerable: np.ndarray
    early_coll: np.ndarray
    mid_coll: np.ndarray
    legal_coll: np.ndarray
    field_coll: np.ndarray
    i_early: np.ndarray  # contact intensity (0 when suppressed)
    i_mid: np.ndarray
    plan: np.ndarray
    plan_dpd: np.ndarray
    visit: np.ndarray
    visit_dpd: np.ndarray
    agency: np.ndarray  # agency index or -1
    place_dpd: np.ndarray  # 90 / 120 / -1
    cure_ts: np.ndarray  # local seconds (meaningful when cd finite)
    cure_channel: np.ndarray
    cure_collector: np.ndarray
    cure_agency: np.ndarray
    cure_amount: np.ndarray  # cents
    partial: np.ndarray
    partial_dpd: np.ndarray
    partial_amount: np.ndarray

    @property
    def n(self) -> int:
        return len(self.loan)


@dataclass
class Behaviour:
    episodes: Episodes
    repayments: pa.Table
    loans: pa.Table
    late_loan: np.ndarray  # late-but-self-curing installments (for reminder SMS)
    late_due: np.ndarray
    late_days: np.ndarray
    # simulator's own view at end_date, per loan
    dpd_end: np.ndarray
    outstanding_end: np.ndarray  # cents of principal not yet repaid
    status_end: np.ndarray  # index into STATUSES
    truth: dict[str, np.ndarray]
    # for the lender twin (twin/warmup.py), which continues the world after end_date
    k_miss: np.ndarray | None = None  # per loan: first missed installment (term + 1: none)
    paid_ts: np.ndarray | None = None  # per schedule row: payment time (int64 max: never)


class Ledger:
    """Sums of scheduled amounts by loan and date, via one sorted composite key."""

    BIG = 1 << 17

    def __init__(self, sch: Schedule) -> None:
        self.sch = sch
        self.key = sch.loan.astype(np.int64) * self.BIG + sch.due_day
        self.cs = np.concatenate([[0], np.cumsum(sch.total)])

    def n_due(self, loan: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Installments of `loan` with due date <= day."""
        pos = np.searchsorted(
            self.key, loan.astype(np.int64) * self.BIG + day.astype(np.int64), side="right"
        )
        return pos - self.sch.start[loan]

    def overdue(self, loan: np.ndarray, k_from: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Total due (cents) of installments k_from.. that fell due by `day`."""
        start = self.sch.start[loan]
        hi = start + np.maximum(self.n_due(loan, day), k_from - 1)
        return self.cs[hi] - self.cs[start + k_from - 1]


def _borrower_cure_mult(m: Model, b: Borrowers, cust: np.ndarray) -> np.ndarray:
    """The part of the borrower's cure propensity that is the same at every DPD."""
    emp = np.asarray([m.cure_employment[e] for e in EMPLOYMENT_TYPES])[b.employment[cust]]
    x = m.cure_young * (b.age_end[cust] < 30) + m.cure_frailty * b.frailty[cust] + emp
    return np.exp(x) * np.where(b.event[cust] > 0, m.event_factor, 1.0)


def _segment_log_mult(
    m: Model, b: Borrowers, ln: Loans, cust: np.ndarray, loan: np.ndarray, k_miss: np.ndarray
) -> np.ndarray:
    """(n, segments) borrower log-multipliers that change with time in arrears.

    Ability to pay: stated income's slope depends on employment and fades with DPD
    (``Model.cure_income_slope`` / ``cure_income_weight``). Arrears burden: instalment /
    income times the instalments due by the segment's midpoint (``arrears_burden_*``).
    Payment history: instalments paid before the first miss help early cures, and a
    first-payment default cures less throughout (``cure_seasoning*``,
    ``cure_first_payment_default``).
    Both are constant within a segment, so cure times and probabilities stay exact.
    """
    breaks = np.asarray(m.breaks)
    lo, hi = breaks[:-1], breaks[1:]
    mid = np.where(np.isfinite(hi), (lo + hi) / 2, lo)
    slope = np.asarray([m.cure_income_slope[e] for e in EMPLOYMENT_TYPES])[b.employment[cust]]
    log_inc = np.clip(np.log(np.maximum(b.income[cust], 300) / 6000.0), -2, 2)
    x = (slope * log_inc)[:, None] * np.asarray(m.cure_income_weight)[None, :]
    due = 1 + np.floor(mid / 30.44)
    left = ln.term[loan] - k_miss + 1
    burden = ln.dti[loan][:, None] * np.minimum(due[None, :], left[:, None])
    x -= m.arrears_burden_effect * np.minimum(burden, m.arrears_burden_cap)
    paid = k_miss - 1
    x += (m.cure_seasoning * np.minimum(paid, 12) / 12.0)[:, None] * np.asarray(
        m.cure_seasoning_weight
    )[None, :]
    return x + (m.cure_first_payment_default * (paid == 0))[:, None]


def _episodes(
    rng: np.random.Generator,
    m: Model,
    b: Borrowers,
    ln: Loans,
    sch: Schedule,
    staff: Staff,
    end_day: int,
) -> tuple[np.ndarray, Episodes]:
    u = rng.random(ln.n)
    k_miss = 1 + np.floor(np.log(u) / np.log1p(-ln.miss_prob)).astype(np.int64)
    k_miss = np.minimum(k_miss, ln.term + 1)
    has = ln.term >= k_miss
    d0_all = np.full(ln.n, np.iinfo(np.int64).max)
    d0_all[has] = sch.due_day[sch.start[:-1][has] + k_miss[has] - 1]
    loan = np.flatnonzero(has & (d0_all < end_day))
    n = len(loan)
    cust = ln.cust[loan]
    d0 = d0_all[loan]

    suppressed = b.dnc[cust] | b.dispute[cust]
    vulnerable = b.vulnerable[cust]
    no_field = suppressed | vulnerable | (b.event[cust] > 0)

    call_early = (staff.role == "call") & (staff.stage == "early")
    call_mid = (staff.role == "call") & (staff.stage == "mid")
    early = pick_collector(rng, staff, call_early, d0)
    mid = pick_collector(rng, staff, call_mid, d0 + 30)
    legal = pick_collector(rng, staff, staff.role == "legal", d0 + 60)
    field = pick_collector(rng, staff, staff.role == "field", d0 + 31)
    noise = np.exp(0.2 * rng.standard_normal((2, n)))
    vuln_f = np.where(vulnerable, 0.5, 1.0)
    i_early = np.where(suppressed, 0.0, staff.style[early] * noise[0] * vuln_f)
    i_mid = np.where(suppressed, 0.0, staff.style[mid] * noise[1] * vuln_f)

    plan = ~suppressed & (rng.random(n) < np.where(vulnerable, 2 * m.plan_share, m.plan_share))
    plan_dpd = rng.integers(5, 7, size=n)
    visit = ~no_field & (rng.random(n) < m.visit_share)
    visit_dpd = rng.integers(31, 45, size=n)
    delayed = rng.random(n) < m.delayed_placement_share
    place = np.where(no_field, NO, np.where(delayed, 120, 90))
    agency = np.full(n, NO)
    pl = place > 0
    agency[pl] = pick_agency(rng, staff, b.province[cust[pl]], d0[pl] + place[pl])

    # Hazard levels per segment: (0,7,30,45,90,120,180,365,inf)
    base = m.base_hazard_array()
    bm = _borrower_cure_mult(m, b, cust)
    el_e, el_m = m.contact_elasticity_early, m.contact_elasticity_mid
    c_early = np.where(suppressed, m.suppressed_contact_factor, np.maximum(i_early, 1e-9) ** el_e)
    c_mid = np.where(suppressed, m.suppressed_contact_factor, np.maximum(i_mid, 1e-9) ** el_m)
    mult = np.exp(_segment_log_mult(m, b, ln, cust, loan, k_miss[loan]))
    mult[:, 0:2] *= c_early[:, None]
    mult[:, 2:4] *= c_mid[:, None]
    mult[:, 1:4] *= np.where(plan, m.plan_effect, 1.0)[:, None]
    mult[:, 3] *= np.where(visit, m.visit_effect, 1.0)
    ag = np.where(pl, staff.agency_mult[np.maximum(agency, 0)], m.no_agency_factor)
    mult[:, 4] *= np.where(place == 90, ag, np.where(place == 120, 0.8 * c_mid, ag))
    mult[:, 5:7] *= ag[:, None]
    mult[:, 7] *= 0.5
    h = base[None, :] * bm[:, None] * mult

    breaks = np.asarray(m.breaks)
    t_cure = hazard.draw_cure_time(rng, h, breaks, m.decay_rate)
    cd = np.ceil(np.maximum(t_cure, 1e-9))

    # Cure payment: who collected it.
    placed_before = pl & (cd > place) & (cd <= m.write_off_dpd)
    inhouse = ~placed_before & ~suppressed & (cd <= m.write_off_dpd) & (rng.random(n) < 0.55)
    channel = np.where(
        placed_before,
        CH["agency"],
        np.where(
            inhouse, CH["collector"], np.where(rng.random(n) < 0.7, CH["app"], CH["bank_transfer"])
        ),
    )
    cure_coll = np.where(inhouse, np.where(cd < 30, early, mid), NO)
    cure_ag = np.where(placed_before, agency, NO)
    cure_day = d0 + np.where(np.isfinite(cd), cd, 0).astype(np.int64)
    cure_ts = cure_day * DAY + time_of_day(rng, n, 9, 20)

    # Small partial payments by slow/non-curing accounts (never enough to cure).
    partial = (cd > 45) & (rng.random(n) < 0.25)
    hi_dpd = np.minimum(np.where(np.isfinite(cd), cd - 1, 170), 170)
    partial_dpd = (15 + rng.random(n) * (hi_dpd - 15)).astype(np.int64)
    ledger = Ledger(sch)
    od = ledger.overdue(loan, k_miss[loan], d0 + partial_dpd)
    first_total = sch.total[sch.start[loan] + k_miss[loan] - 1]
    partial_amount = np.minimum(rng.uniform(0.05, 0.25, n) * od, 0.9 * first_total)
    partial_amount = np.maximum(np.round(partial_amount / 100) * 100, 100).astype(np.int64)
    partial &= partial_amount < first_total

    ep = Episodes(
        loan=loan,
        cust=cust,
        k_miss=k_miss[loan],
        d0=d0,
        t_cure=t_cure,
        cd=cd,
        h=h,
        borrower_mult=bm,
        suppressed=suppressed,
        vulnerable=vulnerable,
        early_coll=early,
        mid_coll=mid,
        legal_coll=legal,
        field_coll=field,
        i_early=i_early,
        i_mid=i_mid,
        plan=plan,
        plan_dpd=plan_dpd,
        visit=visit,
        visit_dpd=visit_dpd,
        agency=agency,
        place_dpd=place,
        cure_ts=cure_ts,
        cure_channel=channel,
        cure_collector=cure_coll,
        cure_agency=cure_ag,
        cure_amount=np.zeros(n, dtype=np.int64),
        partial=partial,
        partial_dpd=partial_dpd,
        partial_amount=partial_amount,
    )
    return k_miss, ep


def simulate_behaviour(
    rng: np.random.Generator,
    m: Model,
    b: Borrowers,
    ln: Loans,
    sch: Schedule,
    staff: Staff,
    chunk: int,
    start_day: int,
    end_day: int,
    cust_ids_by_loan: pa.Array,
) -> Behaviour:
    """Run the chunk's loans from origination to end_date."""
    end_excl = (end_day + 1) * DAY
    k_miss, ep = _episodes(rng, m, b, ln, sch, staff, end_day)
    n_rows = len(sch.loan)

    # ---- per-installment payment timing ----
    k_row = k_miss[sch.loan]
    cure_day_loan = np.full(ln.n, np.inf)
    finite = np.isfinite(ep.cd)
    cure_day_loan[ep.loan[finite]] = (ep.d0 + np.where(finite, ep.cd, 0))[finite]
    settle_loan = np.zeros(ln.n, dtype=bool)
    settle_loan[ep.loan] = ep.cd > m.charge_off_dpd
    cure_ts_loan = np.zeros(ln.n, dtype=np.int64)
    cure_ts_loan[ep.loan] = ep.cure_ts

    cust = ln.cust[sch.loan]
    young = b.age_end[cust] < 30
    p_late = np.minimum(
        m.late_prob
        * np.exp(
            0.5 * young - 0.35 * np.clip(np.log(np.maximum(b.income[cust], 300) / 6000), -2, 2)
        ),
        0.3,
    )
    is_late = rng.random(n_rows) < p_late
    late = np.minimum(1 + rng.geometric(1 / m.late_mean_days, size=n_rows) - 1, 20)
    early_off = np.where(rng.random(n_rows) < 0.7, 0, -rng.integers(1, 4, size=n_rows))
    offset = np.where(is_late, late, early_off)
    reg_day = sch.due_day + offset

    before = sch.k < k_row
    cure_r = cure_day_loan[sch.loan]
    has_cure = np.isfinite(cure_r)
    settle = settle_loan[sch.loan]
    block = ~before & has_cure & ((sch.due_day <= cure_r) | settle)
    after = ~before & has_cure & ~block
    tod = time_of_day(rng, n_rows, 7, 23.9)
    reg_ts = reg_day * DAY + tod
    after_ts = np.maximum(reg_ts, cure_ts_loan[sch.loan] + 600)
    paid_ts = np.where(
        before,
        reg_ts,
        np.where(block, cure_ts_loan[sch.loan], np.where(after, after_ts, np.iinfo(np.int64).max)),
    )
    regular = before | after

    # Cure amounts: overdue in full; a settlement after charge-off pays off the whole remaining
    # schedule, so a schedule-based DPD (the pipeline's) sees every installment paid.
    amt = np.where(block, sch.total, 0)
    cure_sum = np.bincount(sch.loan[block], weights=amt[block], minlength=ln.n).astype(np.int64)
    partial_before = ep.partial & (ep.partial_dpd < ep.cd)
    ep.cure_amount = cure_sum[ep.loan] - np.where(partial_before, ep.partial_amount, 0)

    # ---- repayment rows ----
    rr = np.flatnonzero(regular & (paid_ts < end_excl))
    loan_pref_app = rng.random(ln.n) < 0.75
    e_cure = np.flatnonzero(finite & (ep.cure_ts < end_excl))
    partial_ts = (ep.d0 + ep.partial_dpd) * DAY + time_of_day(rng, ep.n, 8, 22)
    e_part = np.flatnonzero(ep.partial & (partial_ts < end_excl) & (ep.partial_dpd < ep.cd))
    part_coll = rng.random(len(e_part)) < 0.4
    r_loan = np.concatenate([sch.loan[rr], ep.loan[e_cure], ep.loan[e_part]])
    r_ts = np.concatenate([paid_ts[rr], ep.cure_ts[e_cure], partial_ts[e_part]])
    r_amt = np.concatenate([sch.total[rr], ep.cure_amount[e_cure], ep.partial_amount[e_part]])
    r_ch = np.concatenate(
        [
            np.where(loan_pref_app[sch.loan[rr]], CH["app"], CH["bank_transfer"]),
            ep.cure_channel[e_cure],
            np.where(part_coll, CH["collector"], CH["app"]),
        ]
    )
    part_collector = np.where(
        ep.partial_dpd[e_part] < 30, ep.early_coll[e_part], ep.mid_coll[e_part]
    )
    r_coll = np.concatenate(
        [np.full(len(rr), NO), ep.cure_collector[e_cure], np.where(part_coll, part_collector, NO)]
    )
    r_ag = np.concatenate([np.full(len(rr), NO), ep.cure_agency[e_cure], np.full(len(e_part), NO)])
    r_kind = np.concatenate([np.zeros(len(rr)), np.full(len(e_cure), 2), np.ones(len(e_part))])
    order = np.lexsort((r_kind, r_ts, r_loan))
    r_loan, r_ts, r_amt, r_ch, r_coll, r_ag = (
        a[order] for a in (r_loan, r_ts, r_amt, r_ch, r_coll, r_ag)
    )
    nr = len(r_loan)
    r_seq = np.arange(nr)
    r_rev = np.full(nr, NO)

    # A few payments bounce: a reversal row (positive amount, reversal_of set), then a re-payment.
    bounce = np.flatnonzero((r_ch == CH["bank_transfer"]) & (rng.random(nr) < 0.004))
    rev_ts = r_ts[bounce] + DAY + rng.integers(0, 6 * 3600, size=len(bounce))
    rep_ts = rev_ts + rng.integers(3600, 2 * DAY, size=len(bounce))
    keep_rev = rev_ts < end_excl
    keep_rep = rep_ts < end_excl
    nb_rev, nb_rep = int(keep_rev.sum()), int(keep_rep.sum())
    r_loan = np.concatenate([r_loan, r_loan[bounce][keep_rev], r_loan[bounce][keep_rep]])
    r_ts = np.concatenate([r_ts, rev_ts[keep_rev], rep_ts[keep_rep]])
    r_amt = np.concatenate([r_amt, r_amt[bounce][keep_rev], r_amt[bounce][keep_rep]])
    r_ch = np.concatenate([r_ch, r_ch[bounce][keep_rev], np.full(nb_rep, CH["app"])])
    r_coll = np.concatenate([r_coll, np.full(nb_rev + nb_rep, NO)])
    r_ag = np.concatenate([r_ag, np.full(nb_rev + nb_rep, NO)])
    r_rev = np.concatenate([r_rev, r_seq[bounce][keep_rev], np.full(nb_rep, NO)])
    r_seq = np.arange(len(r_loan))
    base_no = chunk * 1_000_000_000
    coll_names = pa.array([*staff.collector_id, None])
    ag_names = pa.array([*staff.agency_id, None])
    rep_cols = {
        "repayment_id": ids("P", base_no + r_seq, 13),
        "loan_id": loan_ids(ln, r_loan),
        "paid_at": timestamps(r_ts),
        "amount": decimal(r_amt),
        "reversal_of": pc.if_else(
            pa.array(r_rev >= 0),
            ids("P", base_no + np.maximum(r_rev, 0), 13),
            pa.scalar(None, pa.string()),
        ),
        "channel": pa.array(list(REPAYMENT_CHANNELS)).take(pa.array(r_ch)),
        "agency_id": ag_names.take(pa.array(np.where(r_ag >= 0, r_ag, len(staff.agency_id)))),
        "collector_id": coll_names.take(
            pa.array(np.where(r_coll >= 0, r_coll, len(staff.collector_id)))
        ),
        "updated_at": timestamps(r_ts),
    }
    repayments = make_table("repayments", rep_cols, r_ts // DAY)

    # ---- loan status events ----
    big = np.iinfo(np.int64).max
    last_paid = np.maximum.reduceat(paid_ts, sch.start[:-1])
    e_co = ep.cd > m.charge_off_dpd
    e_wo = ep.cd > m.write_off_dpd
    wo_loan = np.zeros(ln.n, dtype=bool)
    wo_loan[ep.loan[e_wo]] = True
    closed = (last_paid < big) & ~wo_loan
    closed_ts = last_paid + 60
    co_ts = (ep.d0 + m.charge_off_dpd) * DAY + 2 * 3600
    wo_ts = (ep.d0 + m.write_off_dpd) * DAY + 2 * 3600 + 60
    ev_loan = np.concatenate(
        [np.arange(ln.n), np.flatnonzero(closed), ep.loan[e_co], ep.loan[e_wo]]
    )
    ev_code = np.concatenate(
        [
            np.zeros(ln.n),
            np.ones(int(closed.sum())),
            np.full(int(e_co.sum()), 2),
            np.full(int(e_wo.sum()), 3),
        ]
    ).astype(np.int64)
    ev_ts = np.concatenate([ln.orig_ts, closed_ts[closed], co_ts[e_co], wo_ts[e_wo]])
    keep = ev_ts < end_excl
    ev_loan, ev_code, ev_ts = ev_loan[keep], ev_code[keep], ev_ts[keep]
    loans_tbl = loans_rows(
        ln, ev_loan, STATUSES, ev_code, ev_ts, cust_ids_by_loan.take(pa.array(ev_loan))
    )

    # ---- simulator's own view at end_date ----
    status_end = np.zeros(ln.n, dtype=np.int64)
    order = np.lexsort((ev_code, ev_ts))
    status_end[ev_loan[order]] = ev_code[order]  # last event wins
    paid_by_end = paid_ts < end_excl
    repaid = np.bincount(sch.loan[paid_by_end], weights=sch.principal[paid_by_end], minlength=ln.n)
    first = sch.start[ep.loan] + ep.k_miss - 1
    p_red = np.clip(
        ep.partial_amount - sch.fee[first] - sch.interest[first], 0, sch.principal[first]
    )
    p_red = np.where(ep.partial & (partial_ts < end_excl) & (ep.partial_dpd < ep.cd), p_red, 0)
    outstanding = ln.principal - repaid.astype(np.int64)
    np.subtract.at(outstanding, ep.loan, p_red)
    unpaid_overdue = (sch.due_day < end_day) & ~paid_by_end
    ul, ui = np.unique(sch.loan[unpaid_overdue], return_index=True)
    dpd_end = np.zeros(ln.n, dtype=np.int64)
    dpd_end[ul] = end_day - sch.due_day[unpaid_overdue][ui]

    # ---- ground truth: recovery probability at month-ends ----
    me = np.arange(
        np.datetime64(int(start_day), "D").astype("datetime64[M]"),
        np.datetime64(int(end_day) + 1, "D").astype("datetime64[M]") + 1,
    )
    me = ((me + 1).astype("datetime64[D]") - 1).astype(np.int64)
    me = me[(me >= start_day) & (me <= end_day)]
    last_day = np.minimum(
        ep.d0 + np.minimum(np.where(finite, ep.cd, np.inf), m.write_off_dpd + 1) - 1, end_day
    )
    lo = np.searchsorted(me, ep.d0, side="right")
    hi = np.searchsorted(me, last_day, side="right")
    cnt = np.maximum(hi - lo, 0)
    te = np.repeat(np.arange(ep.n), cnt)
    t_me = me[np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))]
    t_dpd = t_me - ep.d0[te]
    prob = hazard.recovery_probability(
        ep.h[te], t_dpd, m.horizon_days, np.asarray(m.breaks), m.decay_rate
    )
    cured90 = ep.cd[te] <= t_dpd + m.horizon_days

    lr = np.flatnonzero(regular & is_late & (offset > 0))
    paid_day = paid_ts[lr] // DAY
    li = np.searchsorted(me, sch.due_day[lr], side="right")
    ok = li < len(me)
    li_c = np.minimum(li, len(me) - 1)
    ok &= me[li_c] < paid_day
    lr_t, me_t = lr[ok], me[li_c][ok]
    truth = {
        "loan": np.concatenate([ep.loan[te], sch.loan[lr_t]]),
        "as_of_day": np.concatenate([t_me, me_t]),
        "dpd": np.concatenate([t_dpd, me_t - sch.due_day[lr_t]]),
        "prob": np.concatenate([prob, np.ones(len(lr_t))]),
        "kind": np.concatenate(
            [np.zeros(len(te), dtype=np.int8), np.ones(len(lr_t), dtype=np.int8)]
        ),
        "cured90": np.concatenate([cured90, np.ones(len(lr_t), dtype=bool)]),
    }
    late_rows = np.flatnonzero(regular & is_late & (offset >= 2) & (sch.due_day + 1 <= end_day))
    return Behaviour(
        episodes=ep,
        repayments=repayments,
        loans=loans_tbl,
        late_loan=sch.loan[late_rows],
        late_due=sch.due_day[late_rows],
        late_days=offset[late_rows],
        dpd_end=dpd_end,
        outstanding_end=outstanding,
        status_end=status_end,
        truth=truth,
        k_miss=k_miss,
        paid_ts=paid_ts,
    )
