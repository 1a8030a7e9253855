"""mart_nba_comparison on a real warehouse: the learned policy's arm against the static
arm from hand-seeded raw rows (as known on D), against the status quo from twin truth
folders (paired by loan), reruns, a warehouse without the policy arm, and the dashboard.

The ``policy_arm`` column of ``act_treatment_plan`` belongs to the nba-arm change; the
test adds it itself (``ALTER TABLE``), as a warehouse with that change has it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from dashboard_fixtures import fill_warehouse
from raw_rows import insert_raw

from nplpipeline.act.placement.tables import agency_commissions
from nplpipeline.act.tables import treatment_plan
from nplpipeline.contract import ACTION_OUTCOMES
from nplpipeline.report.dashboard import fmt
from nplpipeline.report.dashboard.load import load_dashboard
from nplpipeline.report.dashboard.render import render_dashboard
from nplpipeline.report.nba.stage import run_nba_comparison, run_nba_status_quo
from nplpipeline.report.nba.summary import NOT_YET, collect_nba, format_nba
from nplpipeline.report.nba.tables import nba_comparison
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import Settings
from nplpipeline.uplift.tables import nba_decisions
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import insert_frame, read_frame

START = dt.date(2026, 10, 1)
AS_OF = dt.date(2026, 10, 31)  # the dashboard fixtures' latest date
N = 40
LOANS = [f"L{i:03d}" for i in range(N)]
NBA = [i % 2 == 0 for i in range(N)]


def _plan(day: dt.date, arms: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": day,
            "loan_id": LOANS,
            "customer_id": [f"C{i}" for i in range(N)],
            "tier": ["severe" if i % 4 == 0 else "mild" for i in range(N)],
            "strategy_arm": "champion",
            "strategy_name": "s",
            "recovery_probability": 0.5,
            "overdue_amount": 100.0,
            "expected_recovery": 50.0,
            "legal_ready": False,
            "agency_route": False,
            "disposition": "planned",
            "model_version": "1",
            "policy_arm": arms,
        }
    )


def _seed(conn: sa.Connection, with_arm: bool = True) -> None:
    """``with_arm=False``: every plan row in the static arm (null), as before the arm."""
    ensure_schema(conn)
    before = _plan(START - dt.timedelta(days=1), [None] * N)  # no nba arm yet
    first = _plan(START, ["nba" if x and with_arm else None for x in NBA])
    for plan in (before, first):
        table = sa.table(treatment_plan.name, *map(sa.column, plan.columns))
        conn.execute(sa.insert(table), plan.to_dict("records"))
    ts = lambda d, h=10: dt.datetime.combine(d, dt.time(h))  # noqa: E731
    pays, acts = [], []
    for i, loan in enumerate(LOANS):
        pays.append(
            {
                "repayment_id": f"R{i}",
                "loan_id": loan,
                "paid_at": ts(START + dt.timedelta(5)),
                "amount": 30.0 + (20.0 if NBA[i] else 0.0) + i % 3,
            }
        )
        acts.append(
            {
                "action_id": f"A{i}",
                "loan_id": loan,
                "customer_id": f"C{i}",
                "action_at": ts(START),
                "channel": "call" if NBA[i] else "sms",
                "performed_by": "U1",
                "outcome": "complaint" if i % 10 == 0 else "no_answer",
            }
        )
    # outside the window or not known by D: never counted
    pays += [
        {"repayment_id": "Rold", "loan_id": LOANS[0], "paid_at": ts(START), "amount": 999.0},
        {"repayment_id": "Rlate", "loan_id": LOANS[0], "paid_at": ts(AS_OF + dt.timedelta(1)),
         "amount": 999.0},
        {"repayment_id": "Rrev", "loan_id": LOANS[1], "paid_at": ts(START + dt.timedelta(7)),
         "amount": 30.0 + 1, "reversal_of": "R1"},
    ]  # fmt: skip
    insert_raw(conn, "repayments", pays, drop_date=pd.Timestamp(AS_OF))
    insert_raw(conn, "collection_actions", acts, drop_date=pd.Timestamp(START + dt.timedelta(1)))
    late = {
        "action_id": "Alate",
        "loan_id": LOANS[2],
        "customer_id": "C2",
        "channel": "visit",
        "action_at": ts(AS_OF),
        "performed_by": "U1",
        "outcome": "complaint",
    }
    insert_raw(conn, "collection_actions", [late], drop_date=pd.Timestamp(AS_OF + dt.timedelta(1)))
    agency = {
        "action_id": "Aag",
        "loan_id": LOANS[4],
        "customer_id": "C4",
        "channel": "call",
        "action_at": ts(START + dt.timedelta(3)),
        "performed_by": "AG1",
        "outcome": "no_answer",
    }
    insert_raw(conn, "collection_actions", [agency], drop_date=pd.Timestamp(AS_OF))
    insert_raw(conn, "agencies", [{"agency_id": "AG1", "name": "a", "commission_rate": 0.2}])
    insert_frame(
        conn,
        agency_commissions,
        pd.DataFrame(
            [
                {
                    "repayment_id": "R4",
                    "placement_id": "P1",
                    "agency_id": "AG1",
                    "loan_id": LOANS[4],
                    "paid_on": START + dt.timedelta(5),
                    "kind": "commission",
                    "amount": 70.0,
                    "commission_rate": 0.2,
                    "commission": 14.0,
                    "reversal_of": None,
                }
            ]
        ),
    )


def _expected() -> pd.DataFrame:
    i = np.arange(N)
    nba = np.array(NBA)
    repaid = 30.0 + np.where(nba, 20.0, 0.0) + i % 3
    repaid[1] -= 31.0  # reversed inside the window
    cost = np.where(nba, 5.0, 0.05)  # uplift.yaml: call 5, sms 0.05; the agency's call free
    commissions = np.where(i == 4, 14.0, 0.0)
    contacts = 1.0 + (i == 4)
    complaints = (i % 10 == 0) * 1.0
    return pd.DataFrame(
        {
            "nba": nba,
            "net": repaid - cost - commissions,
            "contacts": contacts,
            "complaints": complaints * 1000,
            "severe": i % 4 == 0,
        }
    )


@pytest.fixture
def seeded(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    fill_warehouse(warehouse_url)
    with transaction(warehouse_url) as conn:
        _seed(conn)
    monkeypatch.setenv("NPL_WAREHOUSE_URL", warehouse_url)
    return warehouse_url


def _mart(url: str) -> pd.DataFrame:
    with transaction(url) as conn:
        c = nba_comparison.c
        frame = read_frame(conn, sa.select(nba_comparison).where(c.as_of_date == AS_OF))
    keys = ["baseline", "segment", "policy"]
    return frame.sort_values(keys).reset_index(drop=True)


def _row(mart: pd.DataFrame, baseline: str, segment: str, policy: str) -> pd.Series:
    hit = mart[(mart["baseline"] == baseline) & (mart["segment"] == segment)]
    return hit[hit["policy"] == policy].iloc[0]


def test_nba_against_static_as_known_on_the_date_and_reproducible(seeded: str) -> None:
    summary = run_nba_comparison(AS_OF, settings=Settings())
    assert summary["start"] == START.isoformat() and summary["nba_accounts"] == N // 2
    mart = _mart(seeded)
    assert set(mart["segment"]) == {"overall", "mild", "severe"}
    assert set(mart["source"]) == {"warehouse"} and set(mart["days"]) == {30}
    e = _expected()
    diff = _row(mart, "static", "overall", "difference")
    want = e.loc[e["nba"], "net"].mean() - e.loc[~e["nba"], "net"].mean()
    assert float(diff["net_recovery"]) == pytest.approx(want)
    assert float(diff["net_recovery_ci_low"]) < want < float(diff["net_recovery_ci_high"])
    got = _row(mart, "static", "severe", "nba")
    severe = e[e["nba"] & e["severe"]]
    assert float(got["net_recovery"]) == pytest.approx(severe["net"].mean())
    assert float(got["contacts"]) == pytest.approx(severe["contacts"].mean())
    assert float(got["complaints_per_1000"]) == pytest.approx(severe["complaints"].mean())
    assert int(diff["accounts"]) == N // 2 and int(diff["baseline_accounts"]) == N // 2
    # a rerun of the date writes the same rows, never more
    run_nba_comparison(AS_OF, settings=Settings())
    pd.testing.assert_frame_equal(_mart(seeded), mart)


def _truth(folder: Path, day: dt.date, repaid: dict[str, float], complaint: set[str]) -> None:
    out = folder / "days" / day.isoformat()
    out.mkdir(parents=True)
    ids = list(repaid)
    pq.write_table(
        pa.table(
            {
                "loan_id": ids,
                "amount_cents": [int(v * 100) for v in repaid.values()],
                "agency": [-1] * len(ids),
            }
        ),
        out / "repayments.parquet",
    )
    code = [ACTION_OUTCOMES.index("complaint" if x in complaint else "no_answer") for x in ids]
    pq.write_table(
        pa.table(
            {
                "loan_id": ids,
                "channel": ["sms"] * len(ids),
                "outcome": code,
                "agency": [-1] * len(ids),
            }
        ),
        out / "contacts.parquet",
    )
    (out / "summary.json").write_text(json.dumps({"complaints": 0}))


def test_nba_against_the_same_loans_in_the_status_quo_world(seeded: str, tmp_path: Path) -> None:
    dirs = {"pipeline": tmp_path / "p", "status_quo": tmp_path / "q"}
    days = [START + dt.timedelta(days=k) for k in range(1, 31)]
    for k, day in enumerate(days):
        # the pipeline's world repays 3 per nba loan and day, the status quo's 2
        _truth(dirs["pipeline"], day, {x: 3.0 for x in LOANS}, {LOANS[0]} if k == 0 else set())
        _truth(dirs["status_quo"], day, {x: 2.0 for x in LOANS[2:]}, set())
    summary = run_nba_status_quo(AS_OF, dirs, settings=Settings())
    assert summary["nba_accounts"] == N // 2
    mart = _mart(seeded)
    assert set(mart.loc[mart["baseline"] == "status_quo", "source"]) == {"twin_truth"}
    diff = _row(mart, "status_quo", "overall", "difference")
    # per loan: 90 repaid less 30 SMS at 0.05 vs 60 less the same (L000 did nothing in
    # the status quo's world: 0); amounts are stored to the cent
    per_loan = np.array([88.5 - (0.0 if i == 0 else 58.5) for i in range(0, N, 2)])
    assert float(diff["net_recovery"]) == pytest.approx(per_loan.mean(), abs=0.01)
    half = 1.959964 * per_loan.std(ddof=1) / np.sqrt(len(per_loan))
    assert float(diff["net_recovery_ci_high"]) - float(diff["net_recovery"]) == pytest.approx(
        half, abs=0.01
    )
    nba = _row(mart, "status_quo", "overall", "nba")
    assert float(nba["complaints_per_1000"]) == pytest.approx(1000 / (N // 2))
    # the static baseline's rows of the date are left alone, and the dashboard shows both
    run_nba_comparison(AS_OF, settings=Settings())
    run_nba_status_quo(AS_OF, dirs, settings=Settings())
    assert set(_mart(seeded)["baseline"]) == {"static", "status_quo"}
    with transaction(seeded) as conn:
        dashboard = load_dashboard(conn, AS_OF)
    assert dashboard is not None and dashboard.nba_comparison is not None
    c = dashboard.nba_comparison
    assert c.start_date == START and c.days == 30
    assert c.segments("static") == ("overall", "mild", "severe")
    line = c.line("static", "overall", "difference")
    assert line is not None and line.net_recovery_ci_low is not None
    html = render_dashboard(dashboard)
    assert 'data-section="nba-comparison"' in html
    assert 'data-kpi="nba_comparison" data-baseline="status_quo" data-segment="overall"' in html
    assert fmt.signed(line.net_recovery) in html and fmt.signed(line.net_recovery_ci_low) in html
    assert dashboard.to_json()["nba_comparison"]["days"] == 30
    # the run summary prints both overall differences with their intervals
    with transaction(seeded) as conn:
        text = "\n".join(format_nba(collect_nba(conn)))
    static = next(x for x in text.splitlines() if "static tier policy" in x)
    assert f"net recovery {line.net_recovery:+,.2f} [{line.net_recovery_ci_low:+,.2f}," in static
    assert f"({N // 2} vs {N // 2} accounts)" in static
    assert any("status quo (twin)" in x for x in text.splitlines())
    assert NOT_YET in text  # the seeded plans name no policy version: an A/A check
    with transaction(seeded) as conn:
        p = treatment_plan.c
        conn.execute(
            treatment_plan.update().where(p.policy_arm == "nba").values(nba_policy_version="nba-x")
        )
        decided = "\n".join(format_nba(collect_nba(conn)))
    assert NOT_YET not in decided and "static tier policy" in decided


def test_a_book_without_nba_accounts_writes_nothing(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(warehouse_url) as conn:
        _seed(conn, with_arm=False)
    monkeypatch.setenv("NPL_WAREHOUSE_URL", warehouse_url)
    summary = run_nba_comparison(AS_OF, settings=Settings())
    assert summary["nba_accounts"] == 0 and summary["rows"] == 0 and summary["start"] is None
    assert run_nba_status_quo(AS_OF, {}, settings=Settings())["rows"] == 0
    assert _mart(warehouse_url).empty


def test_the_cohort_starts_with_the_learned_policys_first_decision(seeded: str) -> None:
    later = START + dt.timedelta(days=1)
    with transaction(seeded) as conn:
        plan = _plan(later, ["nba" if x else None for x in NBA])
        table = sa.table(treatment_plan.name, *map(sa.column, plan.columns))
        conn.execute(sa.insert(table), plan.to_dict("records"))
        decision = {
            "as_of_date": later, "loan_id": LOANS[0], "tier": "severe",
            "nba_treatment": "call", "static_treatment": "call", "nba_explore": False,
            "nba_policy_version": "nba-x", "nba_promoted": True,
        }  # fmt: skip
        conn.execute(sa.insert(nba_decisions), [decision])
    summary = run_nba_comparison(AS_OF, settings=Settings())
    assert summary["start"] == later.isoformat()
    assert set(_mart(seeded)["days"]) == {29}
    # an explicit start wins
    assert run_nba_comparison(AS_OF, settings=Settings(), start=START)["start"] == str(START)
