"""New customers and loans of the day, drawn by the simulator's own generators."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from nplpipeline.simulate.borrowers import customer_ids, customers_table, draw_borrowers
from nplpipeline.simulate.config import MODEL
from nplpipeline.simulate.loans import build_schedule, draw_loans, installments_table, loans_rows

from .state import BIG, WorldState
from .warmup import BORROWER_FIELDS, LOAN_FIELDS, base_hazards

# Originations grow over the simulator's window (orig_day ~ u ** 0.8): its density at the
# window's end is 1.25 times the mean, which the twin keeps.
ORIGINATION_GROWTH = 1.25


def _plan_days(rng, sch, k_miss) -> np.ndarray:
    """Regular payment day of each instalment before the first miss (as behaviour.py)."""
    n = len(sch.loan)
    late = rng.random(n) < MODEL.late_prob
    off = np.where(late, np.minimum(rng.geometric(1 / MODEL.late_mean_days, n), 20), 0)
    early = ~late & (rng.random(n) >= 0.7)
    off = np.where(early, -rng.integers(1, 4, n), off)
    return np.where(sch.k < k_miss[sch.loan], sch.due_day + off, BIG)


def originate(st: WorldState, day: int, rng: np.random.Generator) -> dict[str, pa.Table]:
    """Append today's new loans (and their customers) to the state; return their rows."""
    meta = st.meta
    rate = ORIGINATION_GROWTH * meta["n_loans"] / meta["history_days"]
    m = int(rng.poisson(rate))
    if m == 0:
        return {}
    nb = max(1, round(0.8 * m))
    b = draw_borrowers(rng, nb, int(meta["next_cust_no"]), day)
    ln = draw_loans(rng, b, m, int(meta["next_loan_no"]), day, day, MODEL)
    sch = build_schedule(ln)
    first_ts = np.full(b.n, np.iinfo(np.int64).max)
    np.minimum.at(first_ts, ln.cust, ln.orig_ts)
    cust_rows = customers_table(rng, b, first_ts, day)
    u = rng.random(m)
    k_miss = np.minimum(
        1 + np.floor(np.log(u) / np.log1p(-ln.miss_prob)).astype(np.int64), ln.term + 1
    )
    c_off = len(st.borrowers["income"])
    l_off = len(st.loans["cust"])
    tables = {
        "customers": cust_rows,
        "loans": loans_rows(
            ln,
            np.arange(m),
            ["active"],
            np.zeros(m, dtype=np.int64),
            ln.orig_ts,
            customer_ids(b, ln.cust),
        ),
        "installments": installments_table(ln, sch),
    }
    hb = base_hazards(b, ln, ln.cust, np.arange(m), k_miss)
    d0 = np.full(m, BIG, dtype=np.int64)
    has = k_miss <= ln.term
    d0[has] = sch.due_day[sch.start[:-1][has] + k_miss[has] - 1]
    _append_borrowers(st, b, cust_rows, day)
    _append_loans(st, ln, k_miss, d0, c_off, rng)
    sched = {
        "loan": sch.loan + l_off,
        "k": sch.k,
        "due_day": sch.due_day,
        "principal": sch.principal,
        "interest": sch.interest,
        "fee": sch.fee,
        "paid_day": np.full(len(sch.loan), BIG, dtype=np.int64),
        "plan_day": _plan_days(rng, sch, k_miss),
    }
    for k, v in sched.items():
        st.schedule[k] = np.concatenate([st.schedule[k], v.astype(st.schedule[k].dtype)])
    st.hb = np.concatenate([st.hb, hb])
    meta["next_cust_no"] = int(meta["next_cust_no"]) + nb
    meta["next_loan_no"] = int(meta["next_loan_no"]) + m
    return tables


def _append_borrowers(st: WorldState, b, rows: pa.Table, day: int) -> None:
    bw = st.borrowers
    new = {f: getattr(b, f) for f in BORROWER_FIELDS}
    new["cust_no"] = b.first_id + np.arange(b.n)
    new["dispute_open"] = b.dispute.copy()
    new["dispute_since"] = np.where(b.dispute, day, BIG).astype(np.int64)
    for k in bw:
        bw[k] = np.concatenate([bw[k], np.asarray(new[k]).astype(bw[k].dtype)])
    st.customers = pa.concat_tables([st.customers, rows.drop_columns(["_drop"]).slice(0, b.n)])


def _append_loans(st: WorldState, ln, k_miss, d0, c_off: int, rng) -> None:
    ln_ = st.loans
    m = ln.n
    new = {f: getattr(ln, f) for f in LOAN_FIELDS}
    new.update(cust=ln.cust + c_off, k_miss=k_miss, d0=d0, status=np.zeros(m, dtype=np.int64))
    new.update(cure_day=np.full(m, BIG), pref_app=rng.random(m) < 0.75)
    defaults = {"agency": -1, "ptp_until": -1, "ptp_by": -1}
    for k in ln_:
        if k in new:
            v = new[k]
        elif k in ("offer_day", "visit_day", "placed_on", "period_end"):
            v = np.full(m, BIG)
        else:
            v = np.full(m, defaults.get(k, 0))
        ln_[k] = np.concatenate([ln_[k], np.asarray(v).astype(ln_[k].dtype)])
