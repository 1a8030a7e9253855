"""Guardrails alone on a large synthetic day: candidate items + contact history -> allowed.

Pure functions (no warehouse), so the figure is the guardrails' own work: the history put
on one clock, the look-back rules, the window and the three joint caps. The book has
several loans per borrower, phone numbers shared between borrowers, a dozen time zones
(DST and non-hour offsets), naive and offset-bearing timestamps, agency contacts, and
several candidate items per loan on the same day, so the caps bind::

    nice -n 10 python benchmarks/guardrail_caps.py --candidates 1000000 --history 5000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time

import numpy as np
import pandas as pd

from nplpipeline.act.guardrails import apply_guardrails
from nplpipeline.act.guardrails_config import STRICTEST

RUN = dt.date(2026, 11, 1)  # New York falls back
ZONES = np.array(
    [
        "Asia/Shanghai", "Asia/Shanghai", "Asia/Shanghai", "Asia/Urumqi", "Asia/Kathmandu",
        "America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham",
        "America/St_Johns", "Pacific/Kiritimati", "Pacific/Pago_Pago",
    ]
)  # fmt: skip
OUTCOMES = np.array(
    ["no_answer", "no_answer", "delivered", "right_party_contact", "promise_to_pay",
     "refused", "wrong_party", "dispute", "complaint", "paid"]
)  # fmt: skip
P_OUTCOMES = np.array([0.35, 0.2, 0.15, 0.1, 0.06, 0.05, 0.03, 0.005, 0.005, 0.05])


def _ids(prefix: str, idx: np.ndarray) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(idx.astype(str), 8)).astype(object)


def synthetic(n_cand: int, n_hist: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_loans = max(n_cand // 3, 1)  # ~3 items per loan on the day
    n_cust = max(n_loans * 2 // 3, 1)  # ~1.5 loans per borrower
    loan_cust = rng.integers(0, n_cust, n_loans)
    phone = _ids("+86139", rng.integers(0, int(n_cust * 0.9), n_cust))  # some shared
    phone[rng.random(n_cust) < 0.05] = None
    flags = rng.random((n_cust, 5))
    customers = pd.DataFrame(
        {
            "customer_id": _ids("C", np.arange(n_cust)),
            "timezone": ZONES[rng.integers(0, len(ZONES), n_cust)],
            "phone": phone,
            "updated_at": pd.Timestamp(RUN) - pd.to_timedelta(rng.integers(0, 90, n_cust), "D"),
            **{
                name: np.where(flags[:, i] < 0.003, None, flags[:, i] < 0.01)
                for i, name in enumerate(
                    ["do_not_contact", "deceased", "bankruptcy", "dispute_open", "vulnerable"]
                )
            },
        }
    )
    who = rng.integers(0, n_loans, n_hist)
    minutes = rng.integers(-24 * 60, 120 * 24 * 60, n_hist)  # 120 days back to run day
    at = pd.Timestamp(RUN) + pd.Timedelta(days=1) - pd.to_timedelta(minutes, unit="min")
    text = at.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
    offset = rng.random(n_hist) < 0.1
    text[offset] = text[offset] + "+08:00"
    outcome = OUTCOMES[rng.choice(len(OUTCOMES), n_hist, p=P_OUTCOMES)]
    history = pd.DataFrame(
        {
            "loan_id": _ids("L", who),
            "customer_id": _ids("C", loan_cust[who]),
            "action_at": text,
            "channel": rng.choice(["call", "call", "ivr", "sms", "app_push", "agency"], n_hist),
            "performed_by": np.where(rng.random(n_hist) < 0.1, "AG1", "E0001"),
            "outcome": outcome,
            "ptp_date": np.where(
                outcome == "promise_to_pay",
                pd.Timestamp(RUN) + pd.to_timedelta(rng.integers(-10, 10, n_hist), unit="D"),
                pd.NaT,
            ),
        }
    )
    cand_loan = rng.integers(0, n_loans, n_cand)
    secs = rng.integers(7 * 3600, 22 * 3600, n_cand)
    candidates = pd.DataFrame(
        {
            "loan_id": _ids("L", cand_loan),
            "customer_id": _ids("C", loan_cust[cand_loan]),
            "channel": rng.choice(["call", "call", "call", "ivr", "sms", "letter"], n_cand),
            "planned_local_time": pd.to_timedelta(secs, unit="s").astype(str).str[-8:],
            "schedulable": rng.random(n_cand) < 0.95,
        }
    )
    return candidates, customers, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=5_000_000)
    args = parser.parse_args()
    candidates, customers, history = synthetic(args.candidates, args.history)
    t0 = time.perf_counter()
    res = apply_guardrails(candidates, customers, history, RUN, STRICTEST, ("AG1",))
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    reasons = res.suppressed["reason"].value_counts()
    caps = int(reasons[reasons.index.str.startswith("cap:")].sum())
    print(
        f"{args.candidates:,} candidates, {args.history:,} history rows: apply_guardrails "
        f"{secs:.1f} s ({args.candidates / secs:,.0f} items/s), peak RSS {peak:.1f} GB; "
        f"{len(res.allowed):,} allowed, {len(res.suppressed):,} held back "
        f"({caps:,} by a cap)"
    )


if __name__ == "__main__":
    main()
