"""Two consecutive days built by hand, run through the act, placement and delivery stages
on a real warehouse, then every cross-day invariant of issue #10 checked
(``live_invariants``): what the CRM and an agency did on day 1 arrives in day 2's drop.

* L002: a promise to pay made on day 1 -> no contact on day 2;
* L003: an SMS and an unanswered call on day 1 -> nothing due on day 2 (cadence);
* L004: placed on day 1, collects on day 1, reversed on day 2 -> commission and
  clawback; recalled at the end of its (one-day) period;
* L005: placed on day 1, cures on day 2 -> recalled as cured;
* L007: mild on day 1, severe on day 2 -> keeps its experiment arm.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
from live_invariants import (
    InvariantError,
    check_all,
    check_arms_stable,
    check_commissions,
    check_placements,
)
from raw_rows import insert_raw

from nplpipeline.act.delivery.crm_config import CrmEndpoint
from nplpipeline.act.delivery.stage import run_crm_delivery
from nplpipeline.act.placement.config import PlacementPolicy
from nplpipeline.act.placement.stage import run_placements
from nplpipeline.act.stage import run_treatment_plan, run_worklists
from nplpipeline.act.tables import worklist
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.devtools.crm_server import start_crm_server
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import TOP_REASONS, account_scores
from nplpipeline.warehouse.engine import begin, opened, transaction
from nplpipeline.warehouse.frames import insert_frame, read_frame

D1 = dt.date(2026, 3, 10)
D2 = D1 + dt.timedelta(days=1)
POLICY = PlacementPolicy(placement_period_days=1, randomised_share=0.0, seed=1)
# loan: (tier, dpd) on each day; None = not scored (cured)
DAYS = {
    D1: {
        "L002": ("mild", 20),
        "L003": ("mild", 20),
        "L004": ("extremely_severe", 200),
        "L005": ("extremely_severe", 200),
        "L007": ("mild", 25),
    },
    D2: {
        "L002": ("mild", 21),
        "L003": ("mild", 21),
        "L004": ("extremely_severe", 201),
        "L007": ("severe", 40),
    },
}
SNAPSHOT_DPD = {D1: {"L004": 200, "L005": 200}, D2: {"L004": 201, "L005": 0}}


def _cust(loan: str) -> str:
    return "C" + loan[1:]


def _at(day: dt.date, hour: int) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime.combine(day, dt.time(hour)))


def _scores(day: dt.date) -> pd.DataFrame:
    rows = []
    for loan, (tier, dpd) in DAYS[day].items():
        row = {
            "as_of_date": pd.Timestamp(day),
            "loan_id": loan,
            "customer_id": _cust(loan),
            "model_name": "npl",
            "model_version": "1",
            "recovery_probability": 0.3,
            "tier": tier,
            "dpd": dpd,
            "bucket": "M1",
            "product": "cash_loan",
            "overdue_amount": 3150.0,
            "outstanding_principal": 3000.0,
        }
        for k in range(1, TOP_REASONS + 1):
            row[f"reason_{k}"] = None
            row[f"reason_feature_{k}"] = None
        rows.append(row)
    return pd.DataFrame(rows)


def _snapshot(day: dt.date) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "as_of_date": pd.Timestamp(day),
                "loan_id": loan,
                "customer_id": _cust(loan),
                "product": "cash_loan",
                "status": "active",
                "dpd": d,
                "bucket": "M6+" if d else "current",
                "regulatory_grade": "loss" if d else "normal",
                "is_npl": d > 90,
                "oldest_unpaid_due_date": pd.Timestamp("2025-09-01") if d else None,
                "last_payment_date": None,
                "overdue_principal": 3000.0 if d else 0.0,
                "overdue_interest": 150.0 if d else 0.0,
                "overdue_fees": 0.0,
                "overdue_amount": 3150.0 if d else 0.0,
                "outstanding_principal": 3000.0 if d else 0.0,
                "total_paid": 0.0,
                "installments_due": 3,
                "installments_overdue": 3 if d else 0,
                "months_on_book": 7,
                "on_book": True,
            }
            for loan, d in SNAPSHOT_DPD[day].items()
        ]
    )


def _customers() -> list[dict]:
    return [
        {
            "customer_id": _cust(loan),
            "full_name": "王伟",
            "phone": f"+86138001380{i:02d}",
            "province": "广东省",
            "city": "某市",
            "timezone": "Asia/Shanghai",
            "monthly_income": 8000,
            "do_not_contact": False,
            "deceased": False,
            "bankruptcy": False,
            "dispute_open": False,
            "vulnerable": False,
            "updated_at": pd.Timestamp("2026-01-01"),
        }
        for i, loan in enumerate(("L002", "L003", "L004", "L005", "L007"))
    ]


def _seed_day1(url: str) -> None:
    with transaction(url) as conn:
        ensure_schema(conn)
        drop = pd.Timestamp(D1)
        insert_raw(conn, "customers", _customers(), drop_date=drop)
        staff = [("E1", "early-1", "call", 10), ("F1", "field-1", "field", 2)]
        insert_raw(
            conn,
            "collectors",
            [
                {
                    "collector_id": c,
                    "team": t,
                    "role": r,
                    "daily_capacity": n,
                    "active": True,
                    "updated_at": pd.Timestamp("2026-01-01"),
                }
                for c, t, r, n in staff
            ],
            drop_date=drop,
        )
        insert_raw(
            conn,
            "agencies",
            [
                {
                    "agency_id": "AG1",
                    "name": "AG1 公司",
                    "commission_rate": 0.2,
                    "monthly_capacity": 10,
                    "active": True,
                }
            ],
            drop_date=drop,
        )
        insert_frame(conn, account_scores, _scores(D1))
        insert_frame(conn, delinquency_snapshot, _snapshot(D1))


def _action(aid: str, loan: str, hour: int, channel: str, by: str, outcome: str, **kw) -> dict:
    return {
        "action_id": aid,
        "loan_id": loan,
        "customer_id": _cust(loan),
        "action_at": _at(D1, hour),
        "channel": channel,
        "performed_by": by,
        "outcome": outcome,
        "recorded": True,
        **kw,
    }


def _seed_day2(url: str) -> None:
    """Day 2's drop: what the CRM and the agency did on day 1, and day 2's own rows."""
    with transaction(url) as conn:
        drop = pd.Timestamp(D2)
        ptp = D2 + dt.timedelta(days=3)
        actions = [
            _action("A1", "L002", 10, "call", "E1", "promise_to_pay", ptp_date=ptp, ptp_amount=500),
            _action("A2", "L003", 9, "sms", "system", "delivered"),
            _action("A3", "L003", 11, "call", "E1", "no_answer"),
            _action("A4", "L004", 15, "agency", "AG1", "right_party_contact"),
        ]
        insert_raw(conn, "collection_actions", actions, drop_date=drop)
        pay = {"loan_id": "L004", "channel": "agency", "agency_id": "AG1"}
        repayments = [
            {"repayment_id": "R1", "paid_at": _at(D1, 16), "amount": 500.0, **pay},
            {"repayment_id": "R2", "paid_at": _at(D2, 8), "amount": 500.0, "reversal_of": "R1"}
            | {"loan_id": "L004"},
        ]
        insert_raw(conn, "repayments", repayments, drop_date=drop)
        insert_frame(conn, account_scores, _scores(D2))
        insert_frame(conn, delinquency_snapshot, _snapshot(D2))


def _run_day(day: dt.date, endpoint: CrmEndpoint) -> None:
    run_treatment_plan(day)
    run_placements(day, policy=POLICY)
    run_worklists(day)
    run_crm_delivery(day, endpoint=endpoint)


def _worklist(url: str, day: dt.date) -> pd.DataFrame:
    with opened(url) as engine, engine.connect() as conn:
        rows = read_frame(conn, sa.select(worklist).where(worklist.c.as_of_date == day))
    return rows.sort_values("item_id").reset_index(drop=True)


day1_worklist: list[pd.DataFrame] = []


@pytest.fixture
def two_days(npl_env, warehouse_url):
    day1_worklist.clear()
    with start_crm_server() as crm:
        endpoint = CrmEndpoint(url=crm.url, source="test", backoff_base=0.01)
        _seed_day1(warehouse_url)
        _run_day(D1, endpoint)
        day1_worklist.append(_worklist(warehouse_url, D1))
        _seed_day2(warehouse_url)
        _run_day(D2, endpoint)
        applied = {d: crm.state.applied_items(d.isoformat()) for d in (D1, D2)}
    return warehouse_url, {d.isoformat(): v for d, v in applied.items()}


def test_two_days_keep_every_invariant(two_days):
    url, applied = two_days
    counts = check_all(url, [D1, D2], crm_applied=applied)
    # each check had something to examine
    assert counts["contacts_counted"]["yesterday_contacts"] == 4
    assert counts["contacts_counted"]["items_audited"] > 0
    assert counts["promises_block"]["made_yesterday"] == 1
    assert counts["placements"]["recalled"] == {"cured": 1, "period_end": 1}
    assert counts["commissions"] == {
        "commission_rows": 1,
        "clawback_rows": 1,
        "net_commission": 0.0,
    }
    assert counts["arms_stable"]["accounts_changing_tier"] == 1
    assert counts["ids_unique"]["days_with_items"] == 2
    assert counts["ids_unique"]["crm_items"] == counts["ids_unique"]["items"]


def test_an_account_keeps_its_arm_when_it_changes_tier(two_days):
    """L007's hash draws the mild challenger and the severe champion: before arms were
    kept, moving from mild to severe moved it from one arm to the other."""
    url, _ = two_days
    assert check_arms_stable(url, [D1, D2])["accounts_changing_tier"] == 1


def test_the_checks_catch_what_they_guard(two_days):
    """Break the stored results the way a faulty pipeline would: each check names it."""
    url, _ = two_days
    from nplpipeline.act.placement.tables import agency_commissions, agency_placements

    with opened(url) as engine:
        with begin(engine) as conn:
            c = agency_commissions.c
            conn.execute(agency_commissions.delete().where(c.repayment_id == "R2"))
        with pytest.raises(InvariantError, match=r"commissions: collection or reversal.*R2"):
            check_commissions(url, [D1, D2])
        with begin(engine) as conn:
            p = agency_placements
            conn.execute(
                p.update().where(p.c.loan_id == "L005").values(recalled_on=None, status="active")
            )
    with pytest.raises(InvariantError, match=r"placements: due but not recalled.*AG1-L005-1"):
        check_placements(url, [D1, D2])


def test_rerunning_day_one_after_day_two_arrived_reproduces_it(two_days):
    """Day 1's own contacts (L003's SMS and call) arrive with day 2's drop; a rerun of
    day 1 must not see them, or it would drop the very items that caused them."""
    url, _ = two_days
    before = day1_worklist[0]
    assert {"20260310-L003-sms", "20260310-L003-call"} <= set(before["item_id"])
    run_treatment_plan(D1)
    run_worklists(D1)
    pd.testing.assert_frame_equal(_worklist(url, D1), before)
