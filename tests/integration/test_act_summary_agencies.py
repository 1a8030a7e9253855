"""The demo summary's agency lines: collections on every placement (the lender's earlier
ones too) against those on the pipeline's own, with the account-days it held them."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from raw_rows import insert_raw

from nplpipeline.act.placement.tables import agency_commissions, agency_placements
from nplpipeline.report.act_summary import ActSummary, collect_agency_work, format_act
from nplpipeline.schema import ensure_schema
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.frames import insert_frame

D0 = dt.date(2026, 10, 31)
AS_OF = D0 + dt.timedelta(days=5)


def _day(n: int) -> pd.Timestamp:
    return pd.Timestamp(D0 + dt.timedelta(days=n)) + pd.Timedelta(hours=10)


def _placement(pid: str, loan: str, agency: str, start: int, recalled: int | None) -> dict:
    return {
        "placement_id": pid,
        "loan_id": loan,
        "customer_id": "C" + loan[1:],
        "agency_id": agency,
        "placement_no": 1,
        "allocation_method": "optimised",
        "start_date": D0 + dt.timedelta(days=start),
        "period_days": 120,
        "recall_date": D0 + dt.timedelta(days=start + 120),
        "recalled_on": None if recalled is None else D0 + dt.timedelta(days=recalled),
        "recall_reason": None if recalled is None else "cured",
        "status": "active" if recalled is None else "recalled",
        "balance_placed": 1000.0,
        "expected_net_recovery": 50.0,
        "expected_liquidation": 0.1,
        "commission_rate": 0.2,
        "province": None,
        "model_version": "1",
    }


def _seed(conn) -> None:
    insert_frame(
        conn,
        agency_placements,
        pd.DataFrame([_placement("P1", "L1", "AG1", 0, 3), _placement("P2", "L2", "AG2", 1, None)]),
    )
    rows = [  # id, loan, agency, day, amount, channel, reversal_of
        ("R1", "L1", "AG1", 2, 100, "agency", None),  # on P1
        ("R2", "L3", "AG1", 3, 50, "agency", None),  # on a lender's placement
        ("R3", "L3", "AG1", 4, 50, "agency", "R2"),  # its reversal
        ("R4", "L4", "AG1", -3, 30, "agency", None),  # before the first placement
        ("R5", "L5", None, 2, 70, "bank_transfer", None),  # not an agency's
        ("R6", "L6", "AG2", 7, 40, "agency", None),  # after the as-of date
    ]
    keys = ("repayment_id", "loan_id", "agency_id", "paid_at", "amount", "channel", "reversal_of")
    insert_raw(
        conn,
        "repayments",
        [dict(zip(keys, (*r[:3], _day(r[3]), *r[4:]), strict=True)) for r in rows],
    )
    insert_frame(
        conn,
        agency_commissions,
        pd.DataFrame(
            [
                {
                    "repayment_id": "R1",
                    "placement_id": "P1",
                    "agency_id": "AG1",
                    "loan_id": "L1",
                    "paid_on": D0 + dt.timedelta(days=2),
                    "kind": "commission",
                    "reversal_of": None,
                    "amount": 100.0,
                    "commission_rate": 0.2,
                    "commission": 20.0,
                }
            ]
        ),
    )


def test_agency_work_separates_all_placements_from_the_pipelines_own(warehouse_url: str) -> None:
    with opened(warehouse_url) as engine:
        ensure_schema(engine)
        with begin(engine) as conn:
            _seed(conn)
        with engine.connect() as conn:
            work = collect_agency_work(conn, AS_OF)
    assert work is not None and work.since == D0
    # R1 (own) + R2 (the lender's placement) - R3 (its reversal); R4 is before the first
    # placement, R5 is not an agency's, R6 is after the as-of date
    assert work.collected_all == 100.0 and work.payments_all == 2
    assert work.collected_own == 100.0 and work.payments_own == 1
    # P1 held days 0..3 (3 days of work), P2 from day 1 to the as-of date (4 days)
    assert work.placements_own == 2 and work.account_days_own == 7
    text = "\n".join(
        format_act(ActSummary(as_of=AS_OF, agencies={"AG1": (0, 1, 1)}, agency_work=work))
    )
    assert "on all placements (the lender's earlier ones too): 100.00 in 2 payments" in text
    assert "own 2 placements: 100.00 in 1 payments, over 7 account-days placed" in text
