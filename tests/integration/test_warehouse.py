"""The warehouse layer on both dialects: same code, same results."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest
import sqlalchemy as sa

from nplpipeline.delinquency.schema import MONEY_COLUMNS
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.schema import ensure_schema
from nplpipeline.warehouse.engine import begin, opened, transaction
from nplpipeline.warehouse.frames import insert_frame, read_frame
from nplpipeline.warehouse.partitions import partition_values, replace_partition
from nplpipeline.warehouse.tables import RAW_TABLES
from nplpipeline.warehouse.upsert import upsert_latest


@pytest.fixture
def engine(engine: sa.Engine) -> sa.Engine:
    """The shared engine, on a warehouse with the schema created."""
    with begin(engine) as conn:
        ensure_schema(conn)
    return engine


def _customers(rows: list[dict]) -> pd.DataFrame:
    base = {
        "full_name": "王伟",
        "national_id": None,
        "phone": "+8613800138000",
        "birth_date": pd.Timestamp("1990-03-07"),
        "province": "广东省",
        "city": "广州市",
        "timezone": "Asia/Shanghai",
        "monthly_income": 8000.5,
        "employment_type": "salaried",
        "do_not_contact": False,
        "deceased": False,
        "bankruptcy": False,
        "dispute_open": False,
        "vulnerable": None,
        "_drop_date": pd.Timestamp("2026-01-01"),
        "_source_file": "customers/2026-01-01/a.csv",
        "_row_number": 2,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def test_schema_creation_is_idempotent(engine) -> None:
    with begin(engine) as conn:
        ensure_schema(conn)
        ensure_schema(conn)
        names = set(sa.inspect(conn).get_table_names())
    assert {"raw_loans", "ops_load_audit", "ops_quarantine", "int_delinquency_snapshot"} <= names


def test_frames_round_trip_types_text_and_nulls(engine) -> None:
    frame = _customers(
        [
            {"customer_id": "C1", "updated_at": pd.Timestamp("2026-01-01 10:30:00")},
            {"customer_id": "C2", "updated_at": pd.Timestamp("2026-01-01 11:00:00"),
             "full_name": "", "monthly_income": None, "city": None},
        ]
    )  # fmt: skip
    frame["_version"] = frame["updated_at"]
    table = RAW_TABLES["customers"]
    with begin(engine) as conn:
        assert insert_frame(conn, table, frame) == 2
        back = read_frame(conn, sa.select(table).order_by(table.c.customer_id))
    assert back["customer_id"].tolist() == ["C1", "C2"]
    assert back.loc[0, "full_name"] == "王伟"
    assert back.loc[0, "province"] == "广东省"
    assert back.loc[0, "monthly_income"] == pytest.approx(8000.5)
    assert pd.isna(back.loc[1, "monthly_income"])
    assert pd.isna(back.loc[1, "city"])
    assert back.loc[0, "birth_date"] == pd.Timestamp("1990-03-07")
    assert back.loc[0, "updated_at"] == pd.Timestamp("2026-01-01 10:30:00")
    assert not back.loc[0, "do_not_contact"]
    assert pd.isna(back.loc[0, "vulnerable"])


def _snapshot_rows(as_of: dt.date, loans: list[str], dpd: int) -> pd.DataFrame:
    n = len(loans)
    return pd.DataFrame(
        {
            "as_of_date": [pd.Timestamp(as_of)] * n,
            "loan_id": loans,
            "customer_id": ["C"] * n,
            "product": ["cash_loan"] * n,
            "status": ["active"] * n,
            "dpd": [dpd] * n,
            "bucket": ["M1"] * n,
            "regulatory_grade": ["special_mention"] * n,
            "is_npl": [False] * n,
            "oldest_unpaid_due_date": [pd.NaT] * n,
            **{c: [1.0] * n for c in MONEY_COLUMNS},
            "last_payment_date": [pd.NaT] * n,
            "installments_due": [1] * n,
            "installments_overdue": [1] * n,
            "months_on_book": [3] * n,
            "on_book": [True] * n,
        }
    )


def test_replace_partition_is_idempotent_and_leaves_other_dates(engine) -> None:
    day1, day2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    with begin(engine) as conn:
        replace_partition(
            conn, delinquency_snapshot, "as_of_date", day1, _snapshot_rows(day1, ["A", "B"], 5)
        )
        replace_partition(
            conn, delinquency_snapshot, "as_of_date", day2, _snapshot_rows(day2, ["A"], 6)
        )
        # rerun day 1 with changed content: replaced, not appended
        replace_partition(
            conn, delinquency_snapshot, "as_of_date", day1, _snapshot_rows(day1, ["A", "B", "C"], 7)
        )
        replace_partition(
            conn, delinquency_snapshot, "as_of_date", day1, _snapshot_rows(day1, ["A", "B", "C"], 7)
        )
        counts = dict(
            conn.execute(
                sa.select(delinquency_snapshot.c.as_of_date, sa.func.count()).group_by(
                    delinquency_snapshot.c.as_of_date
                )
            ).all()
        )
        dpd = conn.execute(
            sa.select(sa.func.max(delinquency_snapshot.c.dpd)).where(
                delinquency_snapshot.c.as_of_date == day1
            )
        ).scalar()
        dates = partition_values(conn, delinquency_snapshot, "as_of_date")
    assert counts == {day1: 3, day2: 1}
    assert dpd == 7
    assert dates == [day1, day2]


def test_replace_partition_refuses_rows_of_another_date(engine) -> None:
    with begin(engine) as conn, pytest.raises(ValueError, match="not in partition"):
        replace_partition(
            conn, delinquency_snapshot, "as_of_date", dt.date(2026, 1, 1),
            _snapshot_rows(dt.date(2026, 1, 2), ["A"], 1),
        )  # fmt: skip


def _versioned(customer_id: str, name: str, updated: str, drop: str, row: int) -> dict:
    return {
        "customer_id": customer_id,
        "full_name": name,
        "updated_at": pd.Timestamp(updated),
        "_version": pd.Timestamp(updated),
        "_drop_date": pd.Timestamp(drop),
        "_source_file": f"customers/{drop}/a.csv",
        "_row_number": row,
    }


def test_upsert_latest_wins_in_any_replay_order(warehouse_url: str) -> None:
    batches = [
        [_versioned("C1", "v1", "2026-01-01 09:00", "2026-01-01", 2),
         _versioned("C2", "only", "2026-01-01 09:00", "2026-01-01", 3)],
        [_versioned("C1", "v3", "2026-01-03 09:00", "2026-01-03", 2)],
        [_versioned("C1", "v2", "2026-01-02 09:00", "2026-01-02", 2),
         _versioned("C3", "late", "2026-01-02 09:00", "2026-01-02", 3)],
        # same version replayed from another file: the tie-break decides, deterministically
        [_versioned("C3", "late-replay", "2026-01-02 09:00", "2026-01-04", 2)],
    ]  # fmt: skip
    results = set()
    table = RAW_TABLES["customers"]
    for order in itertools.permutations(range(len(batches))):
        with transaction(warehouse_url) as conn:
            ensure_schema(conn)
            conn.execute(table.delete())
            for i in order:
                upsert_latest(conn, table, ("customer_id",), _customers(batches[i]))
            rows = conn.execute(
                sa.select(table.c.customer_id, table.c.full_name, table.c._source_file).order_by(
                    table.c.customer_id
                )
            ).all()
        results.add(tuple(map(tuple, rows)))
    # every column of the winning version, its lineage included, whether it was
    # inserted or overwrote an older row in place
    assert results == {
        (
            ("C1", "v3", "customers/2026-01-03/a.csv"),
            ("C2", "only", "customers/2026-01-01/a.csv"),
            ("C3", "late-replay", "customers/2026-01-04/a.csv"),
        )
    }


def test_upsert_latest_counts_the_rows_it_changed(warehouse_url: str) -> None:
    table = RAW_TABLES["customers"]
    first = [_versioned("C1", "v1", "2026-01-01 09:00", "2026-01-01", 2),
             _versioned("C2", "v1", "2026-01-01 09:00", "2026-01-01", 3)]  # fmt: skip
    second = [_versioned("C1", "v2", "2026-01-02 09:00", "2026-01-02", 2),  # newer: updated
              _versioned("C2", "v0", "2025-12-31 09:00", "2026-01-02", 3),  # older: kept
              _versioned("C3", "new", "2026-01-02 09:00", "2026-01-02", 4)]  # fmt: skip
    with transaction(warehouse_url) as conn:
        ensure_schema(conn)
        conn.execute(table.delete())
        assert upsert_latest(conn, table, ("customer_id",), _customers(first)) == 2
        assert upsert_latest(conn, table, ("customer_id",), _customers(second)) == 2
        names = dict(conn.execute(sa.select(table.c.customer_id, table.c.full_name)).all())
    assert names == {"C1": "v2", "C2": "v1", "C3": "new"}


def test_ensure_schema_adds_new_nullable_columns_to_an_existing_table(warehouse_url: str) -> None:
    """A warehouse created before a release that added optional columns (here the
    worklist's NBA fields) takes them on the next ensure_schema."""
    from nplpipeline.act.tables import worklist as act_worklist
    from nplpipeline.warehouse.tables import add_missing_columns, existing_columns

    new = [c.name for c in act_worklist.columns if c.name.startswith("nba_")]
    assert new, "the worklist declares its NBA columns"
    old = sa.MetaData()
    sa.Table(act_worklist.name, old, *(c.copy() for c in act_worklist.columns if c.name not in new))
    with transaction(warehouse_url) as conn:
        old.create_all(conn)
        ensure_schema(conn)
        columns = existing_columns(conn)[act_worklist.name]
        assert set(new) <= columns
        assert add_missing_columns(conn) == []  # idempotent


def test_a_transaction_commits_and_disposes_its_engine(warehouse_url: str) -> None:
    with opened(warehouse_url) as engine:
        pool = engine.pool
        with begin(engine) as conn:
            ensure_schema(conn)
    assert engine.pool is not pool  # dispose() replaced the pool: nothing held open
    with transaction(warehouse_url) as conn:
        insert_frame(
            conn,
            RAW_TABLES["customers"],
            _customers([_versioned("C1", "v1", "2026-01-01 09:00", "2026-01-01", 2)]),
        )
    with transaction(warehouse_url) as conn:
        got = read_frame(conn, sa.select(RAW_TABLES["customers"].c.customer_id))
    assert got["customer_id"].tolist() == ["C1"]


def test_a_failed_transaction_rolls_back(warehouse_url: str) -> None:
    with transaction(warehouse_url) as conn:
        ensure_schema(conn)
    with pytest.raises(ZeroDivisionError), transaction(warehouse_url) as conn:
        insert_frame(
            conn,
            RAW_TABLES["customers"],
            _customers([_versioned("C1", "v1", "2026-01-01 09:00", "2026-01-01", 2)]),
        )
        1 / 0  # noqa: B018
    with transaction(warehouse_url) as conn:
        got = read_frame(conn, sa.select(RAW_TABLES["customers"].c.customer_id))
    assert got.empty
