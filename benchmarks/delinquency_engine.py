"""Benchmark the delinquency engine on a synthetic portfolio.

    python benchmarks/delinquency_engine.py --loans 1000000

Inputs are built as Arrow tables and converted with ``to_pandas()`` so their dtypes match
a parquet/warehouse load (Arrow-backed strings, datetime64). Generation and conversion
are I/O stand-ins and are not timed; preparation and snapshot are timed separately,
best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nplpipeline.config import load_policy
from nplpipeline.delinquency import DelinquencyEngine

AS_OF = dt.date(2025, 6, 30)
_EPOCH = np.datetime64("1970-01-01", "D")


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(np.arange(n, dtype=np.int64)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _day(date: dt.date) -> int:
    return int((np.datetime64(date, "D") - _EPOCH).astype(np.int64))


def generate_portfolio(
    n_loans: int, seed: int = 0, shuffle: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """~11 installments and ~8 repayments (1% of them reversed) per loan."""
    rng = np.random.default_rng(seed)
    loan_ids = _ids("L", n_loans, 9)
    term = rng.choice(np.array([3, 6, 12, 24]), size=n_loans, p=[0.1, 0.3, 0.45, 0.15])
    origination = rng.integers(_day(dt.date(2021, 1, 1)), _day(dt.date(2025, 3, 31)), n_loans)
    principal = np.round(rng.uniform(1_000, 50_000, n_loans), 2)
    rate = rng.uniform(0.06, 0.36, n_loans)
    loans = pa.table(
        {
            "loan_id": loan_ids,
            "customer_id": _ids("C", n_loans, 9),
            "product": pa.array(
                rng.choice(["cash_loan", "installment", "credit_card", "bnpl"], n_loans)
            ),
            "origination_date": pa.array(
                origination.astype("datetime64[D]").astype("datetime64[s]")
            ),
            "principal_amount": principal,
            "annual_interest_rate": np.round(rate, 4),
            "term_months": term,
            "status": pa.array(
                rng.choice(
                    ["active", "closed", "charged_off", "sold"], n_loans, p=[0.8, 0.15, 0.04, 0.01]
                )
            ),
        }
    )

    # Schedule: equal principal, monthly interest, an occasional fee.
    loan = np.repeat(np.arange(n_loans), term)
    starts = np.cumsum(term) - term
    installment_no = np.arange(len(loan)) - np.repeat(starts, term) + 1
    due_day = origination[loan] + 30 * installment_no
    principal_due = np.round(principal[loan] / term[loan], 2)
    interest_due = np.round(principal[loan] * rate[loan] / 12, 2)
    fee_due = rng.choice(np.array([0.0, 0.0, 0.0, 5.0, 10.0]), len(loan))
    installments = pa.table(
        {
            "loan_id": pc.take(loan_ids, pa.array(loan)),
            "installment_no": installment_no,
            "due_date": pa.array(due_day.astype("datetime64[D]").astype("datetime64[s]")),
            "principal_due": principal_due,
            "interest_due": interest_due,
            "fee_due": fee_due,
        }
    )

    # Payments: most installments paid around their due date until the loan (20% of them)
    # stops paying; a few partial or double payments.
    stops_after = np.where(rng.random(n_loans) < 0.2, rng.integers(0, term + 1), term)
    pays = (installment_no <= stops_after[loan]) & (due_day <= _day(AS_OF))
    inst = np.flatnonzero(pays)
    factor = rng.choice(np.array([1.0, 0.5, 2.0]), len(inst), p=[0.94, 0.03, 0.03])
    amount = np.round((principal_due[inst] + interest_due[inst] + fee_due[inst]) * factor, 2)
    paid_s = (due_day[inst] + rng.integers(-5, 15, len(inst))) * 86_400 + rng.integers(
        0, 86_400, len(inst)
    )
    pay_loan = loan[inst]
    n_pay = len(inst)
    reversed_ = np.flatnonzero(rng.random(n_pay) < 0.01)
    rev_paid_s = paid_s[reversed_] + rng.integers(1, 20, len(reversed_)) * 86_400
    ids = _ids("R", n_pay + len(reversed_), 10)
    reversal_of = pa.concat_arrays([pa.nulls(n_pay, pa.string()), ids.take(pa.array(reversed_))])
    all_paid = np.concatenate([paid_s, rev_paid_s])
    repayments = pa.table(
        {
            "repayment_id": ids,
            "loan_id": pc.take(loan_ids, pa.array(np.concatenate([pay_loan, pay_loan[reversed_]]))),
            "paid_at": pa.array(all_paid.astype("datetime64[s]").astype("datetime64[us]")),
            "amount": np.concatenate([amount, amount[reversed_]]),
            "reversal_of": reversal_of,
            "channel": pa.array(rng.choice(["app", "bank_transfer", "collector"], len(all_paid))),
        }
    )
    repayments = repayments.take(pa.array(np.argsort(all_paid, kind="stable")))  # time order
    if shuffle:
        installments = installments.take(pa.array(rng.permutation(installments.num_rows)))
    return loans.to_pandas(), installments.to_pandas(), repayments.to_pandas()


def _best(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shuffle", action="store_true", help="installments not grouped by loan")
    parser.add_argument("--history", type=int, default=0, help="also time N month-end snapshots")
    args = parser.parse_args()

    policy = load_policy().delinquency
    start = time.perf_counter()
    loans, installments, repayments = generate_portfolio(args.loans, args.seed, args.shuffle)
    generate_s = time.perf_counter() - start

    prepare_s, engine = _best(
        lambda: DelinquencyEngine(loans, installments, repayments, policy), args.repeat
    )
    snapshot_s, snapshot = _best(lambda: engine.snapshot(AS_OF), args.repeat)
    total = prepare_s + snapshot_s
    report = {
        "loans": len(loans),
        "installments": len(installments),
        "repayments": len(repayments),
        "reversals": int(repayments["reversal_of"].notna().sum()),
        "shuffled_installments": args.shuffle,
        "generate_s": round(generate_s, 3),
        "prepare_s": round(prepare_s, 3),
        "snapshot_s": round(snapshot_s, 3),
        "total_s": round(total, 3),
        "loans_per_s": round(len(loans) / total),
        "snapshot_rows": len(snapshot),
        "delinquent_share": round(float((snapshot["dpd"] > 0).mean()), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if args.history:
        months = pd.date_range(end=AS_OF, periods=args.history, freq="ME").date
        history_s, _ = _best(lambda: engine.snapshots(months), 1)
        report["history_months"] = args.history
        report["history_s"] = round(history_s, 3)
        report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
