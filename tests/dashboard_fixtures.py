"""A small warehouse with the KPI marts filled by hand, for the dashboard tests.

Two as-of dates (the latest, ``AS_OF``, and a month before, ``PREVIOUS``) with different
figures, so a test can tell which date a page shows. The values are chosen to exercise
the page: a tier with no target, a NULL rate, a NaN PSI, an agency name with markup
(must be escaped) and Chinese tier labels. Ids in the suppression log are synthetic.
The learned policy's comparison exists on ``PREVIOUS`` only (a lagging mart shows its
own date), with a tier missing its interval.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

import nplpipeline.report.marts.tables as marts
from nplpipeline.act.tables import suppression_log
from nplpipeline.model.tables import model_monitoring
from nplpipeline.report.nba.tables import nba_comparison
from nplpipeline.schema import ensure_schema
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.frames import insert_frame

AS_OF = dt.date(2026, 10, 31)
PREVIOUS = dt.date(2026, 9, 30)
BUCKETS = ("current", "M1", "M2", "M3", "M4", "M5", "M6", "M6+")
LOAN_IDS = tuple(f"LN-SECRET-{i:04d}" for i in range(12))
CUSTOMER_IDS = tuple(f"CU-SECRET-{i:04d}" for i in range(12))
MARKUP_AGENCY = "Li & Partners <i>李氏</i>"


def dim_tier() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tier": ["extremely_severe", "mild", "severe"],
            "label_zh": ["极重度", "轻度", "重度"],
            "strategy": ["agency placement", "reminders and plans", "calls and visits"],
            "sort_order": [3, 1, 2],
            "target_recovery_rate": [None, 0.70, 0.40],
        }
    )


def plan_tracking() -> pd.DataFrame:
    rows = []
    for day, shift in ((AS_OF, 0.0), (PREVIOUS, -0.05)):
        for tier, target, actual, overdue, accounts in (
            ("overall", 0.60, 0.5734, 1_250_000.0, 900),
            ("mild", 0.70, 0.7312, 500_000.0, 520),
            ("severe", 0.40, 0.3861, 450_000.0, 260),
            ("extremely_severe", None, 0.1525, 300_000.0, 120),
        ):
            rate = round(actual + shift, 4)
            rows.append(
                {
                    "as_of_date": day,
                    "tier": tier,
                    "target_recovery_rate": target,
                    "actual_recovery_rate": rate,
                    "overdue_at_entry": overdue,
                    "repaid": round(overdue * rate, 2),
                    "accounts": accounts,
                }
            )
    return pd.DataFrame(rows)


def npl_trend() -> pd.DataFrame:
    """Month ends from a year before ``AS_OF``, plus three October days (not month ends)."""
    month_ends = pd.date_range(end=pd.Timestamp(AS_OF), periods=13, freq="ME")
    days = sorted({*month_ends.date, dt.date(2026, 10, 10), dt.date(2026, 10, 20)})
    rows = []
    for i, day in enumerate(days):
        outstanding = 40_000_000.0 + 250_000.0 * i
        ratio = 0.043 + 0.001 * i  # rising, like the brief's 5.5% after a year
        rows.append(
            {
                "as_of_date": day,
                "npl_balance": round(outstanding * ratio, 2),
                "outstanding": outstanding,
                "npl_ratio": ratio,
                "npl_accounts": 800 + 10 * i,
            }
        )
    return pd.DataFrame(rows)


def _matrix(month_end: dt.date, worse: float) -> list[dict[str, object]]:
    """A small matrix: each of current..M3 stays, rolls forward, cures or closes."""
    rows = []
    for i, start in enumerate(BUCKETS[:4]):
        balance = 1_000_000.0 / (i + 1)
        nxt = BUCKETS[i + 1]
        shares = {start: 0.6 - worse, nxt: 0.25 + worse, "current": 0.1, "closed": 0.05}
        if start == "current":
            shares = {"current": 0.9 - worse, "M1": 0.05 + worse, "closed": 0.05}
        for to, share in shares.items():
            rows.append(
                {
                    "month_end": month_end,
                    "from_bucket": start,
                    "to_bucket": to,
                    "from_balance": balance,
                    "balance": round(balance * share, 2),
                    "rate": round(share, 4),
                }
            )
    return rows


def roll_rates() -> pd.DataFrame:
    return pd.DataFrame(_matrix(AS_OF, 0.03) + _matrix(PREVIOUS, 0.0))


def dim_agency() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "agency_id": ["AG1", "AG2", "AG3"],
            "name": ["Huadong Recovery 华东", MARKUP_AGENCY, None],
            "commission_rate": [0.2, 0.25, 0.3],
            "monthly_capacity": [500, 400, 300],
            "provinces": ["SH;JS", "ZJ", "GD"],
            "active": [True, True, True],
        }
    )


def agency_scorecard() -> pd.DataFrame:
    rows = []
    for day, ranks in ((AS_OF, (2, 1, 3)), (PREVIOUS, (1, 2, 3))):
        for (agency, placed, collected, complaints), rank in zip(
            (("AG1", 120, 0.18, 1), ("AG2", 95, 0.24, 0), ("AG3", 60, None, 3)), ranks, strict=True
        ):
            balance = 2_000.0 * placed * 10
            got = None if collected is None else round(balance * collected, 2)
            rows.append(
                {
                    "as_of_date": day,
                    "agency_id": agency,
                    "placements": placed,
                    "balance_placed": balance,
                    "collected": got,
                    "liquidation_rate": collected,
                    "commission": None if got is None else round(got * 0.2, 2),
                    "net_recovery": None if got is None else round(got * 0.8, 2),
                    "complaints": complaints,
                    "score": round(1.0 - 0.25 * rank, 4),
                    "rank": rank,
                }
            )
    return pd.DataFrame(rows)


def model_monitoring_rows() -> pd.DataFrame:
    checks = (
        ("score", "psi", 0.042, 0.0, "stable", "ok", 5000),
        ("dpd", "psi", 0.183, 0.0, "watch", "watch", 5000),
        ("balance", "psi", 0.312, 0.0, "shift", "alert", 5000),
        ("province", "psi", None, 0.0, None, "alert", 5000),
        ("score", "realised_auc", 0.811, 0.85, None, "ok", 1200),
    )
    rows = [
        {
            "as_of_date": day,
            "subject": subject,
            "metric": metric,
            "model_version": "7",
            "value": value if day == AS_OF or value is None else value / 2,
            "reference": reference,
            "band": band,
            "status": status if day == AS_OF else "ok",
            "n": n,
        }
        for day in (AS_OF, PREVIOUS)
        for subject, metric, value, reference, band, status, n in checks
    ]
    return pd.DataFrame(rows)


def suppression_rows() -> pd.DataFrame:
    """8 on ``AS_OF`` (7 accounts), 2 earlier in October, 3 in September."""
    spec = [
        (AS_OF, 0, "call", "quiet_hours", "mild"),
        (AS_OF, 0, "sms", "quiet_hours", "mild"),
        (AS_OF, 1, "call", "quiet_hours", "severe"),
        (AS_OF, 2, "call", "daily_attempt_cap", "severe"),
        (AS_OF, 3, "visit", "do_not_contact", "extremely_severe"),
        (AS_OF, 4, "call", "vulnerable_customer", "mild"),
        (AS_OF, 5, "call", "daily_attempt_cap", "severe"),
        (AS_OF, 6, "sms", "quiet_hours", "mild"),
        (dt.date(2026, 10, 15), 7, "call", "open_dispute", "severe"),
        (dt.date(2026, 10, 15), 8, "call", "quiet_hours", "mild"),
        (PREVIOUS, 9, "call", "quiet_hours", "mild"),
        (PREVIOUS, 10, "call", "bankruptcy", "extremely_severe"),
        (PREVIOUS, 11, "sms", "quiet_hours", "mild"),
    ]
    return pd.DataFrame(
        [
            {
                "as_of_date": day,
                "loan_id": LOAN_IDS[i],
                "channel": channel,
                "customer_id": CUSTOMER_IDS[i],
                "tier": tier,
                "strategy_arm": "champion",
                "reason": reason,
                "route": "special_handling",
                "policy": "prc_2026",
            }
            for day, i, channel, reason, tier in spec
        ]
    )


def roi() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "as_of_date": AS_OF,
                "investment": 1_000_000.0,
                "extra_recovery_to_date": 2_150_000.0,
                "monthly_extra_recovery": 410_000.0,
                "monthly_cost": 40_000.0,
                "payback_months": 2.7,
                "target_payback_months": 6.0,
                "target_extra_recovery": 5_000_000.0,
            }
        ]
    )


def _nba_row(baseline: str, segment: str, policy: str, net: float, half: float | None):
    ci = (
        {}
        if half is None
        else {"net_recovery_ci_low": net - half, "net_recovery_ci_high": net + half}
    )
    diff = policy == "difference"
    return {
        "as_of_date": PREVIOUS, "baseline": baseline, "segment": segment, "policy": policy,
        "source": "warehouse" if baseline == "static" else "twin_truth",
        "start_date": dt.date(2026, 9, 1), "days": 29,
        "accounts": 118 if policy in ("static", "status_quo") else 120,
        "baseline_accounts": 118 if diff else None, "repaid": net + 8.0, "contact_cost": 6.0,
        "commissions": 2.0, "net_recovery": net, "net_recovery_ci_low": None,
        "net_recovery_ci_high": None, "contacts": 1.25 if diff else 3.5,
        "contacts_ci_low": 0.5 if diff else 3.0, "contacts_ci_high": 2.0 if diff else 4.0,
        "complaints_per_1000": -4.2 if diff else 8.3, "complaints_ci_low": -12.0,
        "complaints_ci_high": 3.6, "confidence": 0.95, **ci,
    }  # fmt: skip


def nba_rows() -> pd.DataFrame:
    spec = [
        ("static", "overall", "nba", 41.5, 3.0), ("static", "overall", "static", 37.25, 2.9),
        ("static", "overall", "difference", 4.25, 4.1), ("static", "mild", "nba", 50.0, None),
        ("static", "mild", "static", 50.0, None), ("static", "mild", "difference", 0.0, None),
        ("status_quo", "overall", "nba", 40.0, 3.0),
        ("status_quo", "overall", "status_quo", 30.5, 2.0),
        ("status_quo", "overall", "difference", 9.5, 1.5),
    ]  # fmt: skip
    return pd.DataFrame([_nba_row(*x) for x in spec])


FIXTURES = {
    marts.dim_tier: dim_tier,
    marts.plan_tracking: plan_tracking,
    marts.npl_trend: npl_trend,
    marts.roll_rates: roll_rates,
    marts.dim_agency: dim_agency,
    marts.agency_scorecard: agency_scorecard,
    model_monitoring: model_monitoring_rows,
    suppression_log: suppression_rows,
    marts.roi: roi,
    nba_comparison: nba_rows,
}


def create_schema(url: str) -> None:
    """Every warehouse table, empty (the state before the first KPI run)."""
    with opened(url) as engine:
        ensure_schema(engine)


def fill_warehouse(url: str) -> None:
    """Create the schema and insert every fixture table in one transaction."""
    with opened(url) as engine:
        ensure_schema(engine)
        with begin(engine) as conn:
            for table, frame in FIXTURES.items():
                insert_frame(conn, table, frame())
