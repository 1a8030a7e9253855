"""SCD type 2 history of loans and customers, and the staging layer's as-of reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from landing_fixtures import ACTION, CUSTOMER, LOAN, write_drop

from nplpipeline.ingest.loader import ingest_entity
from nplpipeline.staging import (
    status_on,
    stg_contact_history,
    stg_customers_as_of,
    stg_loan_status_history,
    stg_loans_as_of,
)
from nplpipeline.warehouse.engine import begin
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.tables import HISTORY_TABLES, RAW_TABLES


def _loan(status: str, updated: str, loan_id: str = "L1") -> dict[str, str]:
    return {**LOAN, "loan_id": loan_id, "status": status, "updated_at": updated}


def _load(engine, landing: Path, entity: str) -> None:
    ingest_entity(engine, landing, entity, dt.date(2026, 12, 31))


def _as_of(engine, day: str, reader, *args) -> pd.DataFrame:
    with begin(engine) as conn:
        return reader(conn, dt.date.fromisoformat(day), *args)


def test_as_of_reads_return_the_version_valid_that_day_whatever_the_load_order(
    engine, tmp_path: Path
) -> None:
    write_drop(tmp_path, "customers", "2026-01-01", [CUSTOMER])
    flagged = {**CUSTOMER, "deceased": "true", "updated_at": "2026-02-10T08:00:00"}
    write_drop(tmp_path, "customers", "2026-02-10", [flagged])
    _load(engine, tmp_path, "customers")
    # the later status change lands first, the original row a day later (a late drop)
    write_drop(tmp_path, "loans", "2026-03-05", [_loan("charged_off", "2026-03-05T09:00:00")])
    _load(engine, tmp_path, "loans")
    write_drop(tmp_path, "loans", "2026-01-02", [_loan("active", "2026-01-02T10:00:00")])
    # same updated_at in a later drop: the later load wins, as in the current view
    write_drop(tmp_path, "loans", "2026-03-06", [_loan("written_off", "2026-03-05T09:00:00")])
    _load(engine, tmp_path, "loans")

    assert _as_of(engine, "2026-01-01", stg_loans_as_of).empty  # not known yet
    assert _as_of(engine, "2026-01-02", stg_loans_as_of)["status"].tolist() == ["active"]
    assert _as_of(engine, "2026-03-04", stg_loans_as_of)["status"].tolist() == ["active"]
    assert _as_of(engine, "2026-03-05", stg_loans_as_of)["status"].tolist() == ["written_off"]

    assert not _as_of(engine, "2026-02-09", stg_customers_as_of)["deceased"].iloc[0]
    assert _as_of(engine, "2026-02-10", stg_customers_as_of)["deceased"].iloc[0]

    with begin(engine) as conn:
        history = read_frame(conn, sa.select(HISTORY_TABLES["loans"]).order_by("_version"))
        current = read_frame(conn, sa.select(RAW_TABLES["loans"]))
    assert len(history) == 3
    open_rows = history[history["valid_to"].isna()]
    assert open_rows["status"].tolist() == current["status"].tolist() == ["written_off"]
    # intervals chain: each version ends where the next begins
    ordered = history.sort_values(["_version", "_drop_date"]).reset_index(drop=True)
    assert ordered["valid_to"].iloc[:-1].tolist() == ordered["valid_from"].iloc[1:].tolist()


def test_reloading_a_changed_file_replaces_its_versions(engine, tmp_path: Path) -> None:
    write_drop(tmp_path, "customers", "2026-01-01", [CUSTOMER])
    _load(engine, tmp_path, "customers")
    write_drop(tmp_path, "loans", "2026-01-02", [_loan("active", "2026-01-02T10:00:00")])
    _load(engine, tmp_path, "loans")
    write_drop(tmp_path, "loans", "2026-01-02", [_loan("closed", "2026-01-02T10:00:00")])
    _load(engine, tmp_path, "loans")
    with begin(engine) as conn:
        history = read_frame(conn, sa.select(HISTORY_TABLES["loans"]))
    assert history["status"].tolist() == ["closed"] and history["valid_to"].isna().all()


def test_status_timeline_answers_each_date_without_another_read(engine, tmp_path: Path) -> None:
    write_drop(tmp_path, "customers", "2026-01-01", [CUSTOMER])
    _load(engine, tmp_path, "customers")
    write_drop(tmp_path, "loans", "2026-01-02", [_loan("active", "2026-01-02T10:00:00")])
    write_drop(tmp_path, "loans", "2026-02-01", [_loan("closed", "2026-02-01T10:00:00")])
    write_drop(tmp_path, "loans", "2026-03-01", [_loan("active", "2026-03-01T10:00:00", "L2")])
    _load(engine, tmp_path, "loans")
    timeline = _as_of(engine, "2026-02-15", stg_loan_status_history)
    assert set(timeline["loan_id"]) == {"L1"}  # L2 was not known on the 15th
    assert status_on(timeline, dt.date(2026, 1, 31)).to_dict() == {"L1": "active"}
    assert status_on(timeline, dt.date(2026, 2, 1)).to_dict() == {"L1": "closed"}
    assert status_on(timeline, dt.date(2026, 1, 1)).empty


def test_contact_history_carries_the_contract_vocabulary(engine, tmp_path: Path) -> None:
    write_drop(tmp_path, "customers", "2026-01-01", [CUSTOMER])
    write_drop(tmp_path, "loans", "2026-01-01", [_loan("active", "2026-01-01T00:00:00")])
    actions = [
        {**ACTION, "action_id": "A1", "channel": "call", "outcome": "promise_to_pay"},
        {**ACTION, "action_id": "A2", "channel": "ivr", "outcome": "no_answer"},
        {**ACTION, "action_id": "A3", "channel": "visit", "outcome": "refused"},
        {**ACTION, "action_id": "A4", "action_at": "2025-12-06T10:00:00"},  # after the day
    ]
    # a catch-up drop dated later: every earlier day's contacts count, whatever the drop
    late = {**ACTION, "action_id": "A0", "action_at": "2025-12-04T10:00:00"}
    write_drop(tmp_path, "collection_actions", "2026-01-01", [late])
    write_drop(tmp_path, "collection_actions", "2025-12-05", actions)
    # the day's own contacts exported with the next day's drop are not known on the day
    own = {**ACTION, "action_id": "A5", "action_at": "2025-12-05T16:00:00"}
    write_drop(tmp_path, "collection_actions", "2025-12-06", [own])
    for entity in ("customers", "loans", "collection_actions"):
        _load(engine, tmp_path, entity)
    acts = _as_of(engine, "2025-12-05", stg_contact_history).set_index("action_id")
    assert sorted(acts.index) == ["A0", "A1", "A2", "A3"]
    next_day = _as_of(engine, "2025-12-06", stg_contact_history)
    assert "A5" in set(next_day["action_id"])
    acts = acts.drop(index="A0")
    assert acts["is_call_attempt"].to_dict() == {"A1": True, "A2": True, "A3": False}
    assert acts["is_right_party"].to_dict() == {"A1": True, "A2": False, "A3": False}
    assert acts["is_conversation"].to_dict() == {"A1": True, "A2": False, "A3": True}
    assert acts["is_promise"].to_dict() == {"A1": True, "A2": False, "A3": False}
