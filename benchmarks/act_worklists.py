"""Strategies, guardrails and worklists on a large synthetic delinquent book.

Pure functions only (no warehouse), so the figure is the act logic itself:

    python benchmarks/act_worklists.py --accounts 500000 --actions 3000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from nplpipeline.act.guardrails_config import STRICTEST
from nplpipeline.act.stage import build_worklists
from nplpipeline.act.strategies import plan_treatments
from nplpipeline.config.policy import load_policy
from nplpipeline.config.tiers import assign_tiers

RUN = dt.date(2026, 10, 31)


def synthetic(accounts: int, actions: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    policy = load_policy()
    loans = pd.Series([f"L{i:08d}" for i in range(accounts)])
    customers = pd.Series([f"C{i:08d}" for i in range(accounts)])
    dpd = rng.integers(1, 365, accounts)
    p = rng.uniform(0.02, 0.98, accounts)
    scores = pd.DataFrame(
        {
            "as_of_date": RUN,
            "loan_id": loans,
            "customer_id": customers,
            "tier": assign_tiers(dpd, p, policy.tiering),
            "dpd": dpd,
            "recovery_probability": p,
            "overdue_amount": rng.gamma(2.0, 1500.0, accounts).round(2),
            "outstanding_principal": rng.gamma(2.0, 8000.0, accounts).round(2),
            "model_version": "1",
            "reason_1": "few payments in the last 90 days",
            "reason_2": "deep arrears",
            "reason_3": None,
        }
    )
    flags = rng.random((accounts, 5)) < 0.005
    cust = pd.DataFrame(
        {
            "customer_id": customers,
            "timezone": "Asia/Shanghai",
            "monthly_income": rng.gamma(2.0, 4000.0, accounts),
            **{
                name: flags[:, i]
                for i, name in enumerate(
                    ["do_not_contact", "deceased", "bankruptcy", "dispute_open", "vulnerable"]
                )
            },
        }
    )
    who = rng.integers(0, accounts, actions)
    history = pd.DataFrame(
        {
            "loan_id": loans.to_numpy()[who],
            "customer_id": customers.to_numpy()[who],
            "action_at": pd.Timestamp(RUN)
            - pd.to_timedelta(rng.integers(0, 30 * 24 * 60, actions), unit="min"),
            "channel": rng.choice(["call", "sms", "app_push", "ivr", "visit"], actions),
            "performed_by": "E0001",
            "outcome": rng.choice(
                ["no_answer", "delivered", "right_party_contact", "promise_to_pay", "refused"],
                actions,
            ),
            "ptp_date": pd.NaT,
        }
    )
    promise = history["outcome"] == "promise_to_pay"
    history.loc[promise, "ptp_date"] = pd.Timestamp(RUN) + pd.to_timedelta(
        rng.integers(-10, 10, int(promise.sum())), unit="D"
    )
    roles = ["call"] * 400 + ["field"] * 60 + ["legal"] * 20
    collectors = pd.DataFrame(
        {
            "collector_id": [f"E{i:04d}" for i in range(len(roles))],
            "team": [f"{r}-{i % 8}" for i, r in enumerate(roles)],
            "role": roles,
            "daily_capacity": rng.integers(40, 120, len(roles)),
            "active": True,
        }
    )
    return {"scores": scores, "customers": cust, "history": history, "collectors": collectors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=500_000)
    parser.add_argument("--actions", type=int, default=3_000_000)
    args = parser.parse_args()
    data = synthetic(args.accounts, args.actions)
    policy = load_policy()
    t0 = time.perf_counter()
    plan = plan_treatments(data["scores"], data["customers"], RUN, policy.strategies)
    t1 = time.perf_counter()
    out = build_worklists(
        plan.merge(data["scores"][["loan_id", "dpd", "reason_1", "reason_2", "reason_3"]]),
        data["customers"],
        data["collectors"],
        data["history"],
        set(),
        RUN,
        policy,
        STRICTEST,
    )
    t2 = time.perf_counter()
    print(
        f"{args.accounts:,} accounts, {args.actions:,} history rows: "
        f"plan {t1 - t0:.1f} s, guardrails + cadence + queues {t2 - t1:.1f} s; "
        f"{len(out['worklist']):,} worklist items, {len(out['suppressions']):,} held back, "
        f"{len(out['over_capacity']):,} over capacity"
    )


if __name__ == "__main__":
    main()
