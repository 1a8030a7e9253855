"""Partition and shard writes on both dialects: a rerun touches only the rows that change
(a changed row updated in place, its key never deleted) and leaves the table exactly as
deleting the date's rows and inserting the frame would."""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import pytest
import sqlalchemy as sa

from nplpipeline.delinquency.schema import MONEY_COLUMNS
from nplpipeline.delinquency.tables import delinquency_snapshot as table
from nplpipeline.schema import ensure_schema
from nplpipeline.warehouse.engine import begin
from nplpipeline.warehouse.frames import insert_frame, read_frame
from nplpipeline.warehouse.partitions import replace_partition, replace_shard
from nplpipeline.warehouse.shards import Shard, python_shard_hash

DAY1, DAY2, DAY3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)
LOANS = ["A", "B", "C", "D", "E", "F"]


@pytest.fixture
def engine(engine: sa.Engine) -> sa.Engine:
    """The shared engine, on a warehouse with the schema and DAY1 (A-E) and DAY2 (A-C)."""
    with begin(engine) as conn:
        ensure_schema(conn)
        replace_partition(conn, table, "as_of_date", DAY1, _rows(DAY1, LOANS[:5]))
        replace_partition(conn, table, "as_of_date", DAY2, _rows(DAY2, LOANS[:3]))
    return engine


def _rows(as_of: dt.date, loans: list[str]) -> pd.DataFrame:
    """One snapshot row per loan, with NULLs, fractional money and a bool per row."""
    n = len(loans)
    at = [LOANS.index(loan) for loan in loans]
    frame = pd.DataFrame(
        {
            "as_of_date": [pd.Timestamp(as_of)] * n,
            "loan_id": loans,
            "customer_id": [None if i % 2 else f"C{i}" for i in at],
            "product": ["cash_loan"] * n,
            "status": [None if i == 2 else "active" for i in at],
            "dpd": [10 * i for i in at],
            "bucket": ["M1"] * n,
            "regulatory_grade": ["special_mention"] * n,
            "is_npl": [i % 3 == 0 for i in at],
            "oldest_unpaid_due_date": [pd.NaT if i % 2 else pd.Timestamp(as_of) for i in at],
            "last_payment_date": [pd.Timestamp("2025-12-01") if i % 2 else pd.NaT for i in at],
            "installments_due": [1] * n,
            "installments_overdue": [1] * n,
            "months_on_book": [3] * n,
            "on_book": [True] * n,
        }
    )
    for k, col in enumerate(MONEY_COLUMNS):
        frame[col] = [round(1234.56 * (i + 1) + k / 3, 2) for i in at]
    return frame


def _changed(frame: pd.DataFrame) -> pd.DataFrame:
    """B's dpd moves, C's NULL status gets a value, D's payment date becomes NULL."""
    out = frame.copy()
    out.loc[out.loan_id == "B", "dpd"] += 1
    out.loc[out.loan_id == "C", "status"] = "closed"
    out.loc[out.loan_id == "D", "last_payment_date"] = pd.NaT
    return out


def _every_value_changed(frame: pd.DataFrame) -> pd.DataFrame:
    """Every non-key column of every row moves (NULLs gain values, values become NULL or
    move): a snapshot rerun after new data, training features whose label date moved."""
    out = frame.copy()
    out["customer_id"] = out["customer_id"].map(lambda c: None if c else "C9")
    out["status"] = out["status"].map(lambda s: "closed" if s is None else None)
    out["product"] = "card"
    out["bucket"] = "M2"
    out["regulatory_grade"] = "substandard"
    out["is_npl"] = ~out["is_npl"]
    out["oldest_unpaid_due_date"] = out["oldest_unpaid_due_date"].map(
        lambda d: pd.Timestamp("2025-11-01") if pd.isna(d) else pd.NaT
    )
    out["last_payment_date"] = out["last_payment_date"].map(
        lambda d: pd.Timestamp("2025-10-01") if pd.isna(d) else pd.NaT
    )
    for col in ["dpd", "installments_due", "installments_overdue", "months_on_book"]:
        out[col] = out[col] + 1
    out["on_book"] = False
    for col in MONEY_COLUMNS:
        out[col] = out[col] + 0.01
    return out


def _table(conn: sa.Connection) -> pd.DataFrame:
    rows = read_frame(conn, sa.select(table).order_by(table.c.as_of_date, table.c.loan_id))
    return rows.reset_index(drop=True)


def _delete_insert(
    engine: sa.Engine, where: sa.ColumnElement[bool], frame: pd.DataFrame
) -> pd.DataFrame:
    """The table after the plain write (delete the selection, insert ``frame``), rolled
    back: the reference a write that touches only the changed rows must end equal to."""
    with engine.connect() as conn:
        outer = conn.begin()
        conn.execute(table.delete().where(where))
        insert_frame(conn, table, frame)
        reference = _table(conn)
        outer.rollback()
    return reference


def _counts(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int, int]]:
    """(deleted, updated, inserted) of each write, as the warehouse reported them."""
    records = [r for r in caplog.records if r.name == "nplpipeline.warehouse.partitions"]
    return [(r.args[1], r.args[2], r.args[3]) for r in records]


CASES = {  # name: (date, frame, rows deleted, rows updated, rows inserted)
    "empty partition": (DAY3, _rows(DAY3, LOANS[:4]), 0, 0, 4),
    "identical rerun": (DAY1, _rows(DAY1, LOANS[:5]), 0, 0, 0),
    "partly changed": (DAY1, _changed(_rows(DAY1, LOANS[:5])), 0, 3, 0),
    "every row's values changed": (DAY1, _every_value_changed(_rows(DAY1, LOANS[:5])), 0, 5, 0),
    "rows removed": (DAY1, _rows(DAY1, ["A", "C", "E"]), 2, 0, 0),
    "rows added": (DAY1, _rows(DAY1, LOANS), 0, 0, 1),
    "changed, removed and added": (DAY1, _changed(_rows(DAY1, ["A", "B", "C", "F"])), 2, 2, 1),
    "all changed, keys removed and added": (
        DAY1,
        _every_value_changed(_rows(DAY1, ["B", "D", "F"])),
        3,
        2,
        1,
    ),
    "emptied": (DAY1, _rows(DAY1, []), 5, 0, 0),
}


@pytest.mark.parametrize("case", CASES)
def test_replace_partition_writes_only_changes_and_ends_as_delete_insert(
    engine: sa.Engine, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    as_of, frame, deleted, updated, inserted = CASES[case]
    reference = _delete_insert(engine, table.c.as_of_date == as_of, frame)
    caplog.set_level(logging.DEBUG, logger="nplpipeline.warehouse.partitions")
    with begin(engine) as conn:
        assert replace_partition(conn, table, "as_of_date", as_of, frame) == len(frame)
    with begin(engine) as conn:
        pd.testing.assert_frame_equal(_table(conn), reference, check_exact=True)
    assert _counts(caplog) == [(deleted, updated, inserted)]


def test_a_shard_rerun_rewrites_only_its_changed_rows(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    shard = Shard(0, 2)
    mine = [loan for loan in LOANS[:5] if python_shard_hash(loan) % 2 == 0]
    assert 0 < len(mine) < 5  # both shards hold rows of DAY1
    selected = sa.and_(table.c.as_of_date == DAY1, table.c.loan_id.in_(mine))
    reference = _delete_insert(engine, selected, _changed(_rows(DAY1, mine)))
    caplog.set_level(logging.DEBUG, logger="nplpipeline.warehouse.partitions")
    with begin(engine) as conn:
        replace_shard(conn, table, DAY1, shard, _rows(DAY1, mine))
        replace_shard(conn, table, DAY1, shard, _changed(_rows(DAY1, mine)))
        after = _table(conn)
    moved = sum(loan in {"B", "C", "D"} for loan in mine)
    assert _counts(caplog) == [(0, 0, 0), (0, moved, 0)]
    pd.testing.assert_frame_equal(after, reference, check_exact=True)


def test_a_rerun_frame_repeating_a_key_fails_and_leaves_the_table(engine: sa.Engine) -> None:
    """Deleting and inserting failed on a repeated key; updating in place must too, rather
    than keep one of the two rows at random."""
    with begin(engine) as conn:
        before = _table(conn)
    frame = _rows(DAY1, LOANS[:5])
    twice = pd.concat([frame, _changed(frame[frame.loan_id == "B"])], ignore_index=True)
    with pytest.raises(ValueError, match="repeats a primary key"), begin(engine) as conn:
        replace_partition(conn, table, "as_of_date", DAY1, twice)
    with begin(engine) as conn:
        pd.testing.assert_frame_equal(_table(conn), before, check_exact=True)
