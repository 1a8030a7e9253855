"""The placement stage on a small warehouse (DuckDB and PostgreSQL): guardrails, busy
accounts, capacity and provinces, rerun idempotence, recall on cure, commissions and
clawbacks, per-agency exports without PII."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from raw_rows import insert_raw

from nplpipeline.act.delivery.export import verify_bundle
from nplpipeline.act.placement.allocate import served_provinces
from nplpipeline.act.placement.config import PlacementPolicy
from nplpipeline.act.placement.stage import run_placements
from nplpipeline.act.placement.tables import agency_commissions, agency_placements
from nplpipeline.act.tables import suppression_log, treatment_plan
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import TOP_REASONS, account_scores
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import begin
from nplpipeline.warehouse.frames import insert_frame, read_frame

D1 = dt.date(2026, 3, 10)
D2 = dt.date(2026, 3, 11)
POLICY = PlacementPolicy(randomised_share=0.2, seed=1)
PROVINCE = {
    "C1": "广东省",
    "C2": "广东省",
    "C3": "广东省",
    "C4": "广东省",
    "C5": "浙江省",
    "C6": "北京市",
    "C7": "浙江省",
    "C8": "广东省",
}
AGENCIES = {  # id: (commission, monthly capacity, provinces, active)
    "AG1": (0.20, 3, "", True),
    "AG2": (0.25, 2, "广东省,福建省", True),
    "AG3": (0.10, 10, "", False),
}
PII = {"full_name", "national_id", "phone"}


def _scores(as_of: dt.date, dpd: dict[str, int], tiers: dict[str, str]) -> pd.DataFrame:
    rows = []
    for i, (loan, tier) in enumerate(tiers.items()):
        row = {
            "as_of_date": pd.Timestamp(as_of),
            "loan_id": loan,
            "customer_id": "C" + loan[1:],
            "model_name": "npl_recovery_model",
            "model_version": "3",
            "recovery_probability": 0.1 + 0.02 * i,
            "tier": tier,
            "dpd": dpd[loan],
            "bucket": "M5",
            "product": "cash_loan",
            "overdue_amount": 3150.0,
            "outstanding_principal": 3000.0 + 100 * i,
        }
        for k in range(1, TOP_REASONS + 1):
            row[f"reason_{k}"] = None
            row[f"reason_feature_{k}"] = None
        rows.append(row)
    return pd.DataFrame(rows)


def _snapshot(as_of: dt.date, dpd: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "as_of_date": pd.Timestamp(as_of),
                "loan_id": loan,
                "customer_id": "C" + loan[1:],
                "product": "cash_loan",
                "status": "active",
                "dpd": d,
                "bucket": "M5" if d else "current",
                "regulatory_grade": "doubtful" if d else "normal",
                "is_npl": d > 90,
                "oldest_unpaid_due_date": pd.Timestamp("2025-10-01") if d else None,
                "overdue_principal": 3000.0 if d else 0.0,
                "overdue_interest": 150.0 if d else 0.0,
                "overdue_fees": 0.0,
                "overdue_amount": 3150.0 if d else 0.0,
                "outstanding_principal": 3000.0 if d else 0.0,
                "total_paid": 0.0,
                "last_payment_date": None,
                "installments_due": 3,
                "installments_overdue": 3 if d else 0,
                "months_on_book": 7,
                "on_book": True,
            }
            for loan, d in dpd.items()
        ]
    )


def _build(engine: sa.Engine) -> None:
    loans = [f"L{i}" for i in range(1, 9)]
    with begin(engine) as conn:
        ensure_schema(conn)
        insert_raw(
            conn,
            "customers",
            [
                {
                    "customer_id": c,
                    "full_name": "王伟",
                    "national_id": "110101199003074512",
                    "phone": "+8613800138000",
                    "province": p,
                    "city": "某市",
                    "timezone": "Asia/Shanghai",
                    "do_not_contact": False,
                    "deceased": c == "C5",
                    "bankruptcy": False,
                    "dispute_open": False,
                    "vulnerable": False,
                    "updated_at": pd.Timestamp("2026-01-01"),
                }
                for c, p in PROVINCE.items()
            ],
        )
        insert_raw(
            conn,
            "loans",
            [
                {
                    "loan_id": loan,
                    "customer_id": "C" + loan[1:],
                    "product": "cash_loan",
                    "origination_date": pd.Timestamp("2025-08-01"),
                    "principal_amount": 3000.0,
                    "annual_interest_rate": 0.2,
                    "term_months": 3,
                    "currency": "CNY",
                    "status": "active",
                    "updated_at": pd.Timestamp("2025-08-01"),
                }
                for loan in loans
            ],
        )
        insert_raw(
            conn,
            "installments",
            [
                {
                    "loan_id": loan,
                    "installment_no": k,
                    "due_date": pd.Timestamp(f"2025-{9 + k}-01"),
                    "principal_due": 1000.0,
                    "interest_due": 50.0,
                    "fee_due": 0.0,
                }
                for loan in loans
                for k in (1, 2, 3)
            ],
        )
        insert_raw(
            conn,
            "agencies",
            [
                {
                    "agency_id": a,
                    "name": f"{a} 公司",
                    "commission_rate": c,
                    "monthly_capacity": cap,
                    "provinces": prov or None,
                    "active": act,
                }
                for a, (c, cap, prov, act) in AGENCIES.items()
            ],
        )
        # The lender's own history: AG2 worked L8 last autumn and collected 500; AG1 has
        # been working L7 since March 1st (busy, and it used one of AG1's March slots).
        insert_raw(
            conn,
            "collection_actions",
            [
                {
                    "action_id": "a1",
                    "loan_id": "L8",
                    "customer_id": "C8",
                    "action_at": pd.Timestamp("2025-11-01 10:00"),
                    "channel": "agency",
                    "performed_by": "AG2",
                    "outcome": "right_party_contact",
                },
                {
                    "action_id": "a2",
                    "loan_id": "L7",
                    "customer_id": "C7",
                    "action_at": pd.Timestamp("2026-03-01 10:00"),
                    "channel": "agency",
                    "performed_by": "AG1",
                    "outcome": "no_answer",
                },
            ],
        )
        insert_raw(
            conn,
            "repayments",
            [
                {
                    "repayment_id": "r-hist",
                    "loan_id": "L8",
                    "paid_at": pd.Timestamp("2025-11-20 12:00"),
                    "amount": 500.0,
                    "channel": "agency",
                    "agency_id": "AG2",
                    "updated_at": pd.Timestamp("2025-11-20 12:00"),
                }
            ],
        )
        dpd1 = {loan: 130 for loan in loans}
        tiers = {loan: "extremely_severe" for loan in loans[:7]} | {"L8": "severe"}
        insert_frame(conn, account_scores, _scores(D1, dpd1, tiers))
        insert_frame(conn, treatment_plan, _routed(D1, tiers))
        insert_frame(conn, delinquency_snapshot, _snapshot(D1, dpd1))


def _routed(as_of: dt.date, tiers: dict[str, str]) -> pd.DataFrame:
    """The day's treatment plan: extremely severe accounts on the agency route."""
    return pd.DataFrame(
        [
            {
                "as_of_date": as_of,
                "loan_id": loan,
                "customer_id": "C" + loan[1:],
                "tier": tier,
                "strategy_arm": "champion",
                "strategy_name": "agency_placement",
                "recovery_probability": 0.2,
                "overdue_amount": 100.0,
                "expected_recovery": 20.0,
                "legal_ready": False,
                "agency_route": tier == "extremely_severe",
                "disposition": "planned",
                "model_version": "1",
            }
            for loan, tier in tiers.items()
        ]
    ).reindex(columns=[c.name for c in treatment_plan.columns])


def _tables(engine: sa.Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    with begin(engine) as conn:
        p = read_frame(conn, sa.select(agency_placements).order_by("placement_id"))
        c = read_frame(conn, sa.select(agency_commissions).order_by("repayment_id"))
    return p, c


def _manifests(outbox: Path, as_of: dt.date) -> dict[str, dict]:
    return {
        a: json.loads((outbox / "agencies" / a / as_of.isoformat() / "manifest.json").read_text())
        for a in ("AG1", "AG2")
    }


def test_placements_rerun_recall_and_commissions(
    npl_env: dict[str, str], engine: sa.Engine
) -> None:
    settings = get_settings()
    _build(engine)
    outbox = Path(settings.outbox_dir)

    first = run_placements(D1, settings, policy=POLICY)
    with begin(engine) as conn:
        log = read_frame(
            conn, sa.select(suppression_log).where(suppression_log.c.channel == "agency")
        )
    json.dumps(first)  # the rest is small and serialisable (XCom)
    assert log["loan_id"].tolist() == ["L5"]
    assert log["reason"].tolist() == ["flag:deceased"]
    assert first["skipped"]["under_active_placement"] == 1  # L7, with AG1 since March 1st
    placed1, comm1 = _tables(engine)
    assert comm1.empty
    # Room: AG1 3 − 1 (the lender's L7) = 2, AG2 2; five candidates (L1-4 GD, L6 BJ).
    assert first["placed"] == 4 == len(placed1)
    assert first["placed_by_agency"] == {"AG1": 2, "AG2": 2}
    assert first["randomised"] == 1  # ceil(0.2 · min(5, 4))
    assert placed1["loan_id"].is_unique
    assert not placed1["loan_id"].isin(["L5", "L7", "L8"]).any()
    for agency, province in zip(placed1["agency_id"], placed1["province"], strict=True):
        served = served_provinces(AGENCIES[agency][2])
        assert AGENCIES[agency][3] and (not served or province in served)
    assert (placed1["status"] == "active").all()
    assert (placed1["recall_date"] == pd.Timestamp(D1 + dt.timedelta(days=120))).all()
    assert placed1["balance_placed"].tolist() == pytest.approx(
        [3150.0 + 100 * int(loan[1:]) - 100 for loan in placed1["loan_id"]]
    )
    assert set(placed1["placement_id"]) == {
        f"{a}-{loan}-1" for a, loan in zip(placed1["agency_id"], placed1["loan_id"], strict=True)
    }
    bundles1 = _manifests(outbox, D1)
    for agency in ("AG1", "AG2"):
        verify_bundle(str(outbox), f"agencies/{agency}/{D1}")
        exported = pd.read_parquet(
            outbox / "agencies" / agency / D1.isoformat() / "placements.parquet"
        )
        assert not PII & set(exported.columns)
        assert sorted(exported["loan_id"]) == sorted(
            placed1.loc[placed1["agency_id"] == agency, "loan_id"]
        )

    again = run_placements(D1, settings, policy=POLICY)
    assert again == first
    placed1b, comm1b = _tables(engine)
    pd.testing.assert_frame_equal(placed1, placed1b)
    pd.testing.assert_frame_equal(comm1, comm1b)
    assert _manifests(outbox, D1) == bundles1

    # Day 2: one placed account is paid up through its agency (cured); another's agency
    # collects 100, which is reversed the same day.
    holder = placed1.set_index("loan_id")["agency_id"]
    paid_up, reversed_ = placed1["loan_id"].iloc[0], placed1["loan_id"].iloc[1]
    dpd2 = {f"L{i}": 131 for i in range(1, 9)} | {paid_up: 0}
    tiers2 = {f"L{i}": "extremely_severe" for i in range(1, 8) if f"L{i}" != paid_up}
    with begin(engine) as conn:
        insert_raw(
            conn,
            "repayments",
            [
                {
                    "repayment_id": "r1",
                    "loan_id": paid_up,
                    "paid_at": pd.Timestamp("2026-03-11 09:00"),
                    "amount": 3150.0,
                    "channel": "agency",
                    "agency_id": holder[paid_up],
                    "updated_at": pd.Timestamp("2026-03-11 09:00"),
                },
                {
                    "repayment_id": "r2",
                    "loan_id": reversed_,
                    "paid_at": pd.Timestamp("2026-03-11 10:00"),
                    "amount": 100.0,
                    "channel": "agency",
                    "agency_id": holder[reversed_],
                    "updated_at": pd.Timestamp("2026-03-11 10:00"),
                },
                {
                    "repayment_id": "r2-rev",
                    "loan_id": reversed_,
                    "paid_at": pd.Timestamp("2026-03-11 16:00"),
                    "amount": 100.0,
                    "reversal_of": "r2",
                    "channel": "other",
                    "updated_at": pd.Timestamp("2026-03-11 16:00"),
                },
            ],
        )
        insert_frame(conn, account_scores, _scores(D2, dpd2, tiers2))
        insert_frame(conn, treatment_plan, _routed(D2, tiers2))
        insert_frame(conn, delinquency_snapshot, _snapshot(D2, dpd2))

    second = run_placements(D2, settings, policy=POLICY)
    placed2, comm2 = _tables(engine)
    assert second["recalled"] == 1
    assert second["recalled_by_reason"] == {"cured": 1}
    cured = placed2.set_index("loan_id").loc[paid_up]
    assert cured["status"] == "recalled"
    assert cured["recall_reason"] == "cured"
    assert cured["recalled_on"] == pd.Timestamp(D2)
    # No more room this month: day 1 used it all, so nothing new starts.
    assert second["placed"] == 0
    assert len(placed2) == 4 and placed2["placement_id"].is_unique
    c = comm2.set_index("repayment_id")
    assert c.index.tolist() == ["r1", "r2", "r2-rev"]
    rate = placed2.set_index("loan_id")["commission_rate"]
    assert c.loc["r1", "commission"] == pytest.approx(round(3150.0 * rate[paid_up], 2))
    assert c.loc["r2-rev", "kind"] == "clawback"
    assert c.loc["r2-rev", "commission"] == pytest.approx(-c.loc["r2", "commission"])
    recalls = pd.read_csv(
        outbox / "agencies" / holder[paid_up] / D2.isoformat() / "recalls.csv", encoding="utf-8-sig"
    )
    assert recalls["loan_id"].tolist() == [paid_up]
    assert recalls["recall_reason"].tolist() == ["cured"]

    rerun = run_placements(D2, settings, policy=POLICY)
    assert rerun == second
    placed2b, comm2b = _tables(engine)
    pd.testing.assert_frame_equal(placed2, placed2b)
    pd.testing.assert_frame_equal(comm2, comm2b)

    with pytest.raises(RuntimeError, match="run forward"):
        run_placements(D1, settings, policy=POLICY)


def test_missing_snapshot_with_open_placements_fails_loudly(
    npl_env: dict[str, str], engine: sa.Engine
) -> None:
    settings = get_settings()
    _build(engine)
    run_placements(D1, settings, policy=POLICY)
    with begin(engine) as conn:
        insert_frame(
            conn,
            account_scores,
            _scores(D2, {"L2": 131}, {"L2": "extremely_severe"}),
        )
    with pytest.raises(RuntimeError, match="no delinquency snapshot"):
        run_placements(D2, settings, policy=POLICY)
