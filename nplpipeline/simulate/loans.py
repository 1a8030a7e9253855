"""Loans: product mix, terms, income-scaled principal, risk-based pricing and schedules.

Schedules are equal-payment amortising (等额本息) in integer cents; the last installment
absorbs rounding so principal_due sums exactly to principal_amount.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from nplpipeline.contract import PRODUCTS

from .borrowers import Borrowers
from .columns import RATE, choice_rows, dates, decimal, ids, make_table, time_of_day, timestamps
from .config import DAY, Model

PROD = {p: i for i, p in enumerate(PRODUCTS)}
# per product: (terms, term weights, principal x monthly income, rounding (cents), min, max (CNY),
#               base annual rate, monthly fee as share of principal)
_TERMS = {
    "cash_loan": ((6, 12, 24, 36), (0.25, 0.4, 0.25, 0.10), 3.0, 10_000, 1000, 200_000, 0.19, 0.0),
    "installment": ((3, 6, 12, 24), (0.15, 0.35, 0.35, 0.15), 1.5, 1_000, 300, 80_000, 0.14, 0.0),
    "credit_card": ((6, 12, 24), (0.3, 0.5, 0.2), 2.0, 10_000, 1000, 100_000, 0.15, 0.006),
    "bnpl": ((1, 3, 6), (0.3, 0.4, 0.3), 0.25, 100, 50, 20_000, 0.06, 0.004),
}


@dataclass
class Loans:
    """Per-chunk loan attributes, indexed by local loan number."""

    n: int
    first_id: int
    cust: np.ndarray
    product: np.ndarray
    term: np.ndarray
    principal: np.ndarray  # cents
    rate_bp: np.ndarray  # annual rate in 1/10000
    orig_day: np.ndarray
    orig_ts: np.ndarray
    fee_rate: np.ndarray
    miss_prob: np.ndarray  # per-installment probability of the first missed payment
    dti: np.ndarray


@dataclass
class Schedule:
    """All installments of a chunk, loan-major (loan, installment_no ascending)."""

    loan: np.ndarray
    k: np.ndarray  # installment_no, from 1
    due_day: np.ndarray
    principal: np.ndarray  # cents
    interest: np.ndarray
    fee: np.ndarray
    start: np.ndarray  # first row of each loan (len n + 1)

    @property
    def total(self) -> np.ndarray:
        return self.principal + self.interest + self.fee


def loan_ids(ln: Loans, local: np.ndarray) -> pa.Array:
    return ids("L", ln.first_id + np.asarray(local), 9)


def _age_effect(m: Model, age: np.ndarray) -> np.ndarray:
    out = np.full(len(age), m.age_effect_old)
    for bound, eff in reversed(m.age_effect):
        out = np.where(age < bound, eff, out)
    return out


def draw_loans(
    rng: np.random.Generator,
    b: Borrowers,
    n: int,
    first_id: int,
    start_day: int,
    end_day: int,
    m: Model,
) -> Loans:
    """Draw n loans for the chunk's customers (every customer has at least one)."""
    cust = np.concatenate([np.arange(b.n), rng.integers(0, b.n, size=n - b.n)])
    cust = cust[rng.permutation(n)]
    age = b.age_end[cust]
    pmix = np.tile(np.array([0.40, 0.25, 0.15, 0.20]), (n, 1))
    pmix[age < 30, PROD["bnpl"]] = 0.30
    product = choice_rows(rng, pmix)

    term = np.zeros(n, dtype=np.int64)
    mult = np.zeros(n)
    rnd = np.zeros(n, dtype=np.int64)
    lo = np.zeros(n)
    hi = np.zeros(n)
    base_rate = np.zeros(n)
    fee_rate = np.zeros(n)
    for name, (terms, tw, mu, r, mn, mx, br, fr) in _TERMS.items():
        sel = product == PROD[name]
        term[sel] = rng.choice(terms, size=int(sel.sum()), p=tw)
        mult[sel], rnd[sel], lo[sel], hi[sel], base_rate[sel], fee_rate[sel] = mu, r, mn, mx, br, fr

    income = b.income[cust]
    raw = income * mult * np.exp(0.4 * rng.standard_normal(n)) * 100
    principal = np.clip(np.round(raw / rnd) * rnd, lo * 100, hi * 100).astype(np.int64)

    # Origination volume grows over the window (density rising towards end_date).
    span = end_day - start_day
    orig_day = start_day + np.minimum((span + 1) * rng.random(n) ** 0.8, span).astype(np.int64)
    orig_ts = orig_day * DAY + time_of_day(rng, n, 8, 22)

    # Risk before pricing; the lender sees it with noise (score) and prices on it.
    emp_names = list(m.employment_effect)
    prod_names = list(m.product_effect)
    pre = (
        _age_effect(m, age)
        + m.log_income_effect * np.log(np.maximum(income, 300) / 6000.0)
        + np.asarray([m.employment_effect[e] for e in emp_names])[b.employment[cust]]
        + np.asarray([m.product_effect[p] for p in prod_names])[product]
        + m.term_effect * (term - 12)
        + m.frailty_sd * b.frailty[cust]
        + m.vulnerable_effect * b.vulnerable[cust]
    )
    score = pre + 0.6 * rng.standard_normal(n)
    rate = np.clip(base_rate + 0.035 * (score - 0.3) + 0.01 * rng.standard_normal(n), 0.0, 0.36)
    rate_bp = np.round(rate * 10_000).astype(np.int64)

    r = rate_bp / 120_000.0
    p = principal / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        pay = np.where(r > 0, p * r / (1 - (1 + r) ** (-term)), p / term)
    pay = pay + p * fee_rate
    dti = pay / np.maximum(income, 300)
    logit = (
        m.default_intercept
        + pre
        + m.dti_effect * np.minimum(dti, 1.0)
        + m.rate_effect * (rate_bp / 1e4 - 0.18)
    )
    return Loans(
        n=n,
        first_id=first_id,
        cust=cust,
        product=product,
        term=term,
        principal=principal,
        rate_bp=rate_bp,
        orig_day=orig_day,
        orig_ts=orig_ts,
        fee_rate=fee_rate,
        miss_prob=1.0 / (1.0 + np.exp(-logit)),
        dti=dti,
    )


def build_schedule(ln: Loans) -> Schedule:
    """Monthly equal-payment schedule; due dates keep the origination day-of-month (clipped)."""
    start = np.zeros(ln.n + 1, dtype=np.int64)
    np.cumsum(ln.term, out=start[1:])
    loan = np.repeat(np.arange(ln.n), ln.term)
    k = np.arange(start[-1]) - start[loan] + 1

    od = ln.orig_day.astype("datetime64[D]")
    om = od.astype("datetime64[M]")
    dom = (od - om.astype("datetime64[D]")).astype(np.int64)
    month = om[loan] + k.astype("timedelta64[M]")
    month_len = ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(
        np.int64
    )
    due_day = month.astype("datetime64[D]").astype(np.int64) + np.minimum(dom[loan], month_len - 1)

    r = (ln.rate_bp / 120_000.0)[loan]
    n = ln.term[loan].astype(np.float64)
    p_amt = (ln.principal / 100.0)[loan]
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (1 + r) ** (k - 1)
        pay = np.where(r > 0, p_amt * r / (1 - (1 + r) ** (-n)), p_amt / n)
        bal_before = np.where(r > 0, p_amt * g - pay * (g - 1) / r, p_amt - pay * (k - 1))
    interest = np.round(bal_before * r * 100).astype(np.int64)
    principal = np.round((pay - bal_before * r) * 100).astype(np.int64)
    last = start[1:] - 1
    principal[last] = 0
    principal[last] = ln.principal - np.add.reduceat(principal, start[:-1])
    fee = np.round((ln.principal * ln.fee_rate)[loan]).astype(np.int64)
    return Schedule(
        loan=loan,
        k=k,
        due_day=due_day,
        principal=principal,
        interest=interest,
        fee=fee,
        start=start,
    )


def loans_rows(
    ln: Loans,
    local: np.ndarray,
    status: list[str],
    status_code: np.ndarray,
    ts: np.ndarray,
    cust_ids: pa.Array,
) -> pa.Table:
    """Loan rows for (loan, status event) pairs; the same loan re-appears on status change."""
    cols = {
        "loan_id": loan_ids(ln, local),
        "customer_id": cust_ids,
        "product": pa.array(list(PRODUCTS)).take(pa.array(ln.product[local])),
        "origination_date": dates(ln.orig_day[local]),
        "principal_amount": decimal(ln.principal[local]),
        "annual_interest_rate": decimal(ln.rate_bp[local], RATE),
        "term_months": pa.array(ln.term[local]),
        "currency": pa.array(np.full(len(local), "CNY")),
        "status": pa.array(status).take(pa.array(status_code)),
        "updated_at": timestamps(ts),
    }
    return make_table("loans", cols, ts // DAY)


def installments_table(ln: Loans, sch: Schedule) -> pa.Table:
    """The whole schedule, dropped with its loan's origination date."""
    cols = {
        "loan_id": loan_ids(ln, sch.loan),
        "installment_no": pa.array(sch.k),
        "due_date": dates(sch.due_day),
        "principal_due": decimal(sch.principal),
        "interest_due": decimal(sch.interest),
        "fee_due": decimal(sch.fee),
    }
    return make_table("installments", cols, ln.orig_day[sch.loan])
