"""Issue #14 item 3: a day's ingest reads its drops and the keys they name, nothing more.

The reference is the former full-read lookup (every parent key, every held key, every
repayment id read into Python), kept here as ``_full_read_context``: the keyed lookup
must load exactly the same tables, and a day's reads must stay bounded by the day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from landing_fixtures import CUSTOMER, LOAN, REPAYMENT, write_drop

from nplpipeline.contract import ENTITIES, LOAD_ORDER, Entity
from nplpipeline.ingest import loader
from nplpipeline.ingest.loader import IngestOptions, ingest_entity
from nplpipeline.schema import ensure_schema
from nplpipeline.simulate import SimulationConfig, simulate_portfolio
from nplpipeline.validate.rules import RuleContext, parents_of
from nplpipeline.warehouse.engine import begin
from nplpipeline.warehouse.frames import read_frame, recording_reads
from nplpipeline.warehouse.tables import (
    HISTORY_TABLES,
    RAW_TABLES,
    load_audit,
    quarantine,
)

END = dt.date(2026, 3, 31)
DAYS = (END - dt.timedelta(days=2), END - dt.timedelta(days=1), END)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated landing zone, dirty enough for orphans and duplicates."""
    root = tmp_path_factory.mktemp("incremental")
    config = SimulationConfig(n_loans=150, seed=11, end_date=END, history_days=60, dirty_share=0.05)
    simulate_portfolio(config, root / "landing", root / "truth")
    return root / "landing"


def _full_read_context(conn, entity: Entity, batch: pd.DataFrame) -> RuleContext:
    """The lookup before #14: whole key columns of the raw tables and the quarantine."""

    def all_keys(name: str) -> pd.Index:
        (key,) = ENTITIES[name].key
        return pd.Index(read_frame(conn, sa.select(RAW_TABLES[name].c[key]))[key])

    def held(name: str) -> pd.Index:
        q = sa.select(quarantine.c.record_key).where(quarantine.c.entity == name).distinct()
        return pd.Index(read_frame(conn, q)["record_key"])

    parents = parents_of(entity.name)
    ids = None
    if entity.name == "repayments":
        ids = all_keys("repayments").append(pd.Index(batch["repayment_id"].dropna().unique()))
    return RuleContext(
        drop_dates=batch["_drop_date"],
        parent_keys={p: all_keys(p) for p in parents},
        quarantined_parent_keys={p: held(p) for p in parents},
        repayment_ids=ids,
    )


def _load(engine, landing: Path, up_to: dt.date, options: IngestOptions | None = None) -> int:
    """Every entity up to ``up_to``; returns rows in. Rejected drops are part of the
    comparison (same files rejected either way), so their error is not fatal here."""
    rows = 0
    for entity in LOAD_ORDER:
        with contextlib.suppress(loader.IngestError):
            rows += ingest_entity(engine, landing, entity, up_to, options).rows_in
    return rows


def _load_days(engine, landing: Path, options: IngestOptions | None = None) -> None:
    _load(engine, landing, DAYS[0] - dt.timedelta(days=1), options)  # the history load
    for day in DAYS:  # then day by day
        _load(engine, landing, day, options)


def _state(engine) -> dict[str, pd.DataFrame]:
    """Every table ingest writes, in a stable order, without wall-clock columns."""
    tables = [*RAW_TABLES.values(), *HISTORY_TABLES.values(), quarantine, load_audit]
    out = {}
    with begin(engine) as conn:
        ensure_schema(conn)
        for table in tables:
            columns = [c for c in table.columns if c.name != "loaded_at"]
            query = sa.select(*columns).order_by(*(table.primary_key.columns))
            out[table.name] = read_frame(conn, query).reset_index(drop=True)
    return out


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_keyed_lookups_load_the_same_tables_as_full_reads(
    engine, landing: Path, warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load_days(engine, landing)
    keyed = _state(engine)
    rules = set(";".join(keyed["ops_quarantine"]["rules"]).split(";"))
    assert {"orphan:loan_id", "unique_key"} & rules  # the landing zone exercises them
    assert len(keyed["raw_repayments"]) > 0

    with begin(engine) as conn:  # the same warehouse, emptied, loaded the old way
        for table in reversed(list(_state(engine))):
            conn.execute(sa.text(f'DELETE FROM "{table}"'))
    monkeypatch.setattr(loader, "_context", _full_read_context)
    _load_days(engine, landing)
    _assert_same(keyed, _state(engine))


RAW_READ = re.compile(r'\b(?:FROM|JOIN)\s+"?(raw_\w+)', re.IGNORECASE)


def _unbounded(sql: str) -> bool:
    """A statement reading a raw table with no predicate, join condition or limit."""
    return bool(RAW_READ.search(sql)) and not re.search(r"\b(WHERE|LIMIT)\b", sql, re.I)


def test_a_days_ingest_reads_only_the_keys_its_drops_name(engine, landing: Path) -> None:
    _load(engine, landing, END - dt.timedelta(days=1))
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with recording_reads() as reads:
            day_rows = _load(engine, landing, END)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert day_rows > 0
    raw_reads = [r for r in reads if RAW_READ.search(r.sql)]
    assert raw_reads  # the orphan lookups did run
    assert [r.sql for r in raw_reads if _unbounded(r.sql)] == []
    assert [s for s in statements if _unbounded(s)] == []
    # each entity looks up at most its own rows' worth of parent keys and reversal ids
    assert sum(r.rows for r in raw_reads) <= 2 * day_rows

    # the checks above can fail: the former lookup breaks both
    with begin(engine) as conn, recording_reads() as old:
        batch = read_frame(conn, sa.select(RAW_TABLES["repayments"]).limit(5))
        _full_read_context(conn, ENTITIES["repayments"], batch)
    assert any(_unbounded(r.sql) for r in old)


def test_chunked_history_load_equals_one_batch(engine, landing: Path, warehouse_url: str) -> None:
    """Batches of a few files give exactly the tables one batch per entity gives.

    Only the audit's ``rows_superseded`` may differ: it counts versions a later row of
    the same batch replaced (a replacement by an earlier batch happens in the upsert)."""
    _load(engine, landing, END, IngestOptions(chunk_rows=50))
    chunked = _state(engine)
    assert chunked["ops_load_audit"]["source_file"].nunique() > 100
    with begin(engine) as conn:
        for table in reversed(list(chunked)):
            conn.execute(sa.text(f'DELETE FROM "{table}"'))
    _load(engine, landing, END, IngestOptions(chunk_rows=10_000_000))
    whole = _state(engine)
    audit = whole["ops_load_audit"]
    assert (audit["rows_in"] == audit["rows_loaded"] + audit["rows_quarantined"]).all()
    for state in (chunked, whole):
        state["ops_load_audit"] = state["ops_load_audit"].drop(columns="rows_superseded")
    _assert_same(chunked, whole)


def _day(landing: Path, date: str, entity: str, rows: list[dict[str, str]]) -> None:
    write_drop(landing, entity, date, rows)


def test_orphans_and_duplicates_are_caught_across_days(engine, tmp_path: Path) -> None:
    """Parents, held parents and reversal targets from an earlier day are found by the
    keyed lookup; a key repeated on a later day replaces its row, never doubles it."""
    land = tmp_path / "landing"
    bad_phone = {**CUSTOMER, "customer_id": "C2", "phone": "12345"}
    _day(land, "2026-01-01", "customers", [CUSTOMER, bad_phone])
    _day(land, "2026-01-01", "loans", [LOAN])
    _day(land, "2026-01-01", "repayments", [REPAYMENT])
    day2 = "2026-01-02"
    _day(land, day2, "loans", [
        {**LOAN, "loan_id": "L2"},  # parent C1 arrived on day 1
        {**LOAN, "loan_id": "L3", "customer_id": "C9"},  # never arrived: orphan
        {**LOAN, "loan_id": "L4", "customer_id": "C2"},  # parent held in quarantine
    ])  # fmt: skip
    _day(land, day2, "repayments", [
        REPAYMENT,  # day 1's row again
        {**REPAYMENT, "repayment_id": "R2", "reversal_of": "R1"},
        {**REPAYMENT, "repayment_id": "R3", "reversal_of": "R404"},
        {**REPAYMENT, "repayment_id": "R4", "loan_id": "L404"},
    ])  # fmt: skip
    for day in (dt.date(2026, 1, 1), dt.date(2026, 1, 2)):
        _load(engine, land, day)

    state = _state(engine)
    held = state["ops_quarantine"].set_index("record_key")["rules"]
    assert held["C2"] == "format:phone"
    assert held["L3"] == "orphan:customer_id"
    assert held["L4"] == "parent_quarantined:customer_id"
    assert held["R4"] == "orphan:loan_id"
    assert held["R3"] == "reversal_target"
    assert not {"L2", "R2"} & set(held.index)
    repayments = state["raw_repayments"]
    assert sorted(repayments["repayment_id"]) == ["R1", "R2"]
    r1 = repayments.set_index("repayment_id").loc["R1"]
    assert r1["_drop_date"] == pd.Timestamp(day2)  # the later copy replaced it
    assert sorted(state["raw_loans"]["loan_id"]) == ["L1", "L2"]
