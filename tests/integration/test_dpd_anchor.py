"""The bench's DPD anchor (a plain DuckDB SQL window query) gives the delinquency stage's
DPD, loan for loan: on hand-made edge cases and on a small simulated warehouse."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest
from raw_rows import insert_raw

from benchmarks.dpd_anchor import anchor_dpd, compare_with_snapshot
from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import get_settings
from nplpipeline.simulate.stage import run_simulation
from nplpipeline.warehouse.engine import transaction

AS_OF = dt.date(2026, 10, 31)
DUES = ("2026-08-01", "2026-09-01", "2026-10-01")

# loan -> (expected DPD on AS_OF, schedule [(no, due, principal, interest, fee)],
#          repayments [(id, paid_at, amount, reversal_of)])
CASES: dict[str, tuple[int, list[tuple], list[tuple]]] = {
    "partly_paid": (60, [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                    [("p1", "2026-08-15", 150, None)]),
    "reversed": (91, [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                 [("r1", "2026-08-01", 300, None), ("r1x", "2026-10-15", 300, "r1")]),
    "reversed_later": (0, [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                       [("q1", "2026-08-01", 300, None), ("q1x", "2026-11-05", 300, "q1")]),
    "numbered_out_of_date_order": (30, [(1, "2026-10-01", 100, 0, 0), (2, "2026-08-01", 100, 0, 0)],
                                   [("o1", "2026-08-02", 100, None)]),
    "due_today": (0, [(1, "2026-10-31", 100, 0, 0)], []),
    "one_cent_left": (30, [(n, d, 90, 9, 1) for n, d in enumerate(DUES, 1)],
                      [("c1", "2026-10-20", 299.99, None)]),
    "overpaid": (0, [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                 [("v1", "2026-09-30", 1000, None)]),
    "paid_after_as_of": (91, [(n, d, 90, 10, 0) for n, d in enumerate(DUES, 1)],
                         [("a1", "2026-11-02", 300, None)]),
    "no_schedule": (0, [], []),
    "zero_installment_first": (60, [(1, "2026-07-01", 0, 0, 0), (2, "2026-09-01", 100, 0, 0)], []),
    "fee_first_waterfall": (30, [(1, "2026-09-01", 80, 15, 5), (2, "2026-10-01", 80, 15, 5)],
                            [("f1", "2026-09-01", 150, None)]),
}  # fmt: skip


def _seed(conn) -> None:
    loans, installments, repayments = [], [], []
    for loan_id, (_, schedule, paid) in CASES.items():
        loans.append(_loan(loan_id, "2026-01-15", "2026-01-15"))
        installments += [
            {"loan_id": loan_id, "installment_no": n, "due_date": pd.Timestamp(due),
             "principal_due": p, "interest_due": i, "fee_due": f}
            for n, due, p, i, f in schedule
        ]  # fmt: skip
        repayments += [
            {"repayment_id": rid, "loan_id": loan_id, "paid_at": pd.Timestamp(at),
             "amount": amount, "reversal_of": rev, "channel": "app"}
            for rid, at, amount, rev in paid
        ]  # fmt: skip
    loans.append(_loan("originated_later", "2026-11-15", "2026-11-15"))
    loans.append(_loan("first_known_later", "2026-03-01", "2026-11-20"))
    installments.append({"loan_id": "originated_later", "installment_no": 1,
                         "due_date": pd.Timestamp("2026-12-15"), "principal_due": 50,
                         "interest_due": 0, "fee_due": 0})  # fmt: skip
    insert_raw(conn, "loans", loans)
    insert_raw(conn, "installments", installments)
    insert_raw(conn, "repayments", repayments)


def _loan(loan_id: str, originated: str, known: str) -> dict[str, object]:
    return {"loan_id": loan_id, "customer_id": f"c-{loan_id}", "product": "cash_loan",
            "origination_date": pd.Timestamp(originated), "principal_amount": 300,
            "status": "active", "updated_at": pd.Timestamp(known)}  # fmt: skip


def _anchor(path: str, as_of: dt.date) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(path, read_only=True)
    try:
        table = anchor_dpd(con, as_of, get_settings().policy.delinquency.paid_tolerance)
    finally:
        con.close()
    return dict(zip(table.column("loan_id").to_pylist(), table.column("dpd").to_pylist(),
                    strict=True))  # fmt: skip


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_anchor_gives_the_stages_dpd_on_edge_cases(npl_env) -> None:
    settings = get_settings()
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        _seed(conn)
    run_delinquency_snapshot(AS_OF)
    path = settings.warehouse_url.removeprefix("duckdb:///")

    anchor = _anchor(path, AS_OF)
    assert anchor == {loan: case[0] for loan, case in CASES.items()}
    with transaction(settings.warehouse_url) as conn:
        stored = pd.read_sql("SELECT loan_id, dpd FROM int_delinquency_snapshot", conn)
    assert dict(zip(stored["loan_id"], stored["dpd"].astype(int), strict=True)) == anchor


@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_anchor_gives_the_stages_dpd_on_a_simulated_warehouse(npl_env) -> None:
    run_simulation(loans=400, seed=5, end_date=AS_OF)
    run_ingest(AS_OF)
    path = get_settings().warehouse_url.removeprefix("duckdb:///")
    for as_of in (AS_OF, dt.date(2026, 5, 31), dt.date(2025, 11, 30)):
        run_delinquency_snapshot(as_of)
        anchor = _anchor(path, as_of)
        assert sum(dpd > 0 for dpd in anchor.values()) >= 5  # delinquency to compare
        table = pa.table({"loan_id": list(anchor), "dpd": list(anchor.values())})
        assert compare_with_snapshot(path, as_of, table) == {
            "dpd_differs": 0, "only_anchor": 0, "only_snapshot": 0,
        }  # fmt: skip
