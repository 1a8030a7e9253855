"""A tiny hand-written landing zone, independent of the simulator, for ingest tests."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from nplpipeline.contract import ENTITIES

CUSTOMER = {
    "customer_id": "C1", "full_name": "王伟", "national_id": "11010119900307123X",
    "phone": "+8613800138000", "birth_date": "1990-03-07", "province": "广东省",
    "city": "广州市", "timezone": "Asia/Shanghai", "monthly_income": "8000.00",
    "employment_type": "salaried", "do_not_contact": "false", "deceased": "false",
    "bankruptcy": "false", "dispute_open": "false", "vulnerable": "false",
    "updated_at": "2026-01-01T10:00:00",
}  # fmt: skip
LOAN = {
    "loan_id": "L1", "customer_id": "C1", "product": "cash_loan",
    "origination_date": "2025-10-01", "principal_amount": "1200.00",
    "annual_interest_rate": "0.180000", "term_months": "3", "currency": "CNY",
    "status": "active", "updated_at": "2026-01-01T00:00:00",
}  # fmt: skip
REPAYMENT = {
    "repayment_id": "R1", "loan_id": "L1", "paid_at": "2025-11-01T10:00:00",
    "amount": "418.00", "reversal_of": "", "channel": "app", "agency_id": "",
    "collector_id": "", "updated_at": "2025-11-01T10:00:00",
}  # fmt: skip


ACTION = {
    "action_id": "A1", "loan_id": "L1", "customer_id": "C1",
    "action_at": "2025-12-05T10:00:00", "channel": "call", "performed_by": "K01",
    "outcome": "promise_to_pay", "ptp_amount": "418.00", "ptp_date": "2025-12-10",
    "recorded": "true", "offer": "",
}  # fmt: skip
SURVEY = {
    "survey_id": "S1", "customer_id": "C1", "surveyed_at": "2025-12-20T12:00:00",
    "score": "4", "complaint": "false",
}  # fmt: skip


def installment(no: int, due: str) -> dict[str, str]:
    return {
        "loan_id": "L1", "installment_no": str(no), "due_date": due,
        "principal_due": "400.00", "interest_due": "18.00", "fee_due": "0.00",
    }  # fmt: skip


def csv_text(entity: str, rows: list[dict[str, str]], drop_columns: tuple[str, ...] = ()) -> str:
    columns = [c for c in ENTITIES[entity].columns if c not in drop_columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_drop(
    landing: Path,
    entity: str,
    date: str,
    rows: list[dict[str, str]],
    name: str = "part-0.csv",
    encoding: str = "utf-8",
    drop_columns: tuple[str, ...] = (),
) -> Path:
    path = landing / entity / date / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_text(entity, rows, drop_columns).encode(encoding))
    return path


def clean_portfolio(landing: Path) -> None:
    """One customer with one three-installment loan, one payment."""
    write_drop(landing, "customers", "2026-01-01", [CUSTOMER])
    write_drop(landing, "loans", "2026-01-01", [LOAN])
    write_drop(
        landing, "installments", "2026-01-01",
        [installment(1, "2025-11-01"), installment(2, "2025-12-01"), installment(3, "2026-01-01")],
    )  # fmt: skip
    write_drop(landing, "repayments", "2026-01-01", [REPAYMENT])
