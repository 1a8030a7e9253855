"""Pulling from a source database (any SQLAlchemy URL): incremental by watermark,
landed as a drop, loaded by the same path as files; here from PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import _throwaway_postgres
from landing_fixtures import CUSTOMER, LOAN, REPAYMENT, installment

from nplpipeline.contract import ENTITIES
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.tables import RAW_TABLES, load_audit, quarantine, sql_type

ENTITIES_USED = ("customers", "loans", "installments", "repayments")


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'core.db'}"
    else:
        yield from _throwaway_postgres(request.getfixturevalue("postgres_server_url"))


def _typed(entity: str, row: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for field in ENTITIES[entity].fields:
        value = row.get(field.name, "")
        if value == "":
            out[field.name] = None
        elif field.type == "timestamp":
            out[field.name] = dt.datetime.fromisoformat(value)
        elif field.type == "date":
            out[field.name] = dt.date.fromisoformat(value)
        elif field.type == "bool":
            out[field.name] = value == "true"
        elif field.type in ("int",):
            out[field.name] = int(value)
        elif field.type == "decimal":
            out[field.name] = float(value)
        else:
            out[field.name] = value
    return out


def _core_system(url: str) -> tuple[sa.Engine, dict[str, sa.Table]]:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    tables = {
        e: sa.Table(e, meta, *(sa.Column(f.name, sql_type(f)) for f in ENTITIES[e].fields))
        for e in ENTITIES_USED
    }
    meta.create_all(engine)
    return engine, tables


def _count(engine, table: sa.Table) -> int:
    with begin(engine) as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_incremental_pull_lands_and_loads_only_changes(npl_env, monkeypatch, source_url) -> None:
    monkeypatch.setenv("NPL_SOURCE_URL", source_url)
    monkeypatch.setenv("NPL_SOURCE_LOOKBACK_MINUTES", "0")  # exact increments here
    core, t = _core_system(source_url)
    with core.begin() as conn:
        conn.execute(t["customers"].insert(), [_typed("customers", CUSTOMER)])
        conn.execute(t["loans"].insert(), [_typed("loans", LOAN)])
        conn.execute(
            t["installments"].insert(),
            [_typed("installments", installment(i, f"2025-{10 + i}-01")) for i in (1, 2)],
        )
        conn.execute(t["repayments"].insert(), [_typed("repayments", REPAYMENT)])

    day1 = dt.date(2026, 1, 1)
    first = {r["entity"]: r for r in run_ingest(day1, ENTITIES_USED)}
    assert first["repayments"]["rows_loaded"] == 1
    assert first["installments"]["rows_loaded"] == 2

    # the core system changes the next day: a new payment (one bad), the loan closes
    with core.begin() as conn:
        conn.execute(
            t["repayments"].insert(),
            [
                _typed("repayments", {**REPAYMENT, "repayment_id": "R2",
                                      "paid_at": "2026-01-02T09:00:00",
                                      "updated_at": "2026-01-02T09:00:00"}),
                _typed("repayments", {**REPAYMENT, "repayment_id": "R3", "amount": "-3.00",
                                      "paid_at": "2026-01-02T09:30:00",
                                      "updated_at": "2026-01-02T09:30:00"}),
            ],
        )  # fmt: skip
        conn.execute(
            t["loans"].update().values(status="closed", updated_at=dt.datetime(2026, 1, 2, 10))
        )
    day2 = dt.date(2026, 1, 2)
    second = {r["entity"]: r for r in run_ingest(day2, ENTITIES_USED)}
    assert second["repayments"]["rows_in"] == 2  # only the changes were pulled
    assert second["repayments"]["rows_quarantined"] == 1
    assert second["customers"]["rows_in"] == 0

    with opened(get_settings().warehouse_url) as warehouse:
        assert _count(warehouse, RAW_TABLES["repayments"]) == 2
        assert _count(warehouse, quarantine) == 1
        with begin(warehouse) as conn:
            status = conn.execute(sa.select(RAW_TABLES["loans"].c.status)).scalar()
            landed = conn.execute(sa.select(load_audit.c.source_file)).scalars().all()
        assert status == "closed"
        assert "repayments/2026-01-02/source-db.parquet" in landed

        # rerunning a date pulls the same rows into the same file: nothing new is loaded
        again = {r["entity"]: r for r in run_ingest(day2, ENTITIES_USED)}
        assert all(r["files"] == 0 for r in again.values())
        assert _count(warehouse, RAW_TABLES["repayments"]) == 2
    core.dispose()


def test_lookback_repulls_recent_rows_without_duplicating(npl_env, monkeypatch, source_url) -> None:
    monkeypatch.setenv("NPL_SOURCE_URL", source_url)
    monkeypatch.setenv("NPL_SOURCE_LOOKBACK_MINUTES", "120")
    core, t = _core_system(source_url)
    with core.begin() as conn:
        conn.execute(t["customers"].insert(), [_typed("customers", CUSTOMER)])
    run_ingest(dt.date(2026, 1, 1), ("customers",))
    # committed late, stamped before the watermark: only the lookback catches it
    late = {**CUSTOMER, "customer_id": "C2", "updated_at": "2026-01-01T09:30:00"}
    with core.begin() as conn:
        conn.execute(t["customers"].insert(), [_typed("customers", late)])
    second = run_ingest(dt.date(2026, 1, 2), ("customers",))[0]
    assert second["rows_in"] == 2  # C2 and the re-pulled C1
    with opened(get_settings().warehouse_url) as warehouse:
        assert _count(warehouse, RAW_TABLES["customers"]) == 2
    core.dispose()
