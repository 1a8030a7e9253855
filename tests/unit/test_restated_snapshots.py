"""The marts' restated month-ends, computed only for the columns they read.

``DelinquencyEngine.snapshot(d, columns)`` must equal the full snapshot's columns, and
``KnownStatuses.restated`` must equal ``snapshot_as_known`` (the per-date ``isin`` and
``map`` path) for loans whose status changes, that are first seen late, that leave the
book, or that the engine does not know.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from nplpipeline.config.policy import load_policy
from nplpipeline.delinquency import SNAPSHOT_COLUMNS, DelinquencyEngine
from nplpipeline.delinquency.as_known_streamed import MART_COLUMNS, _one_chunk, slim_snapshots
from nplpipeline.delinquency.as_of import KnownStatuses, snapshot_as_known

POLICY = load_policy().delinquency
D = dt.date
DATES = [D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 31), D(2024, 4, 30), D(2024, 5, 15)]


IDS = ["A", "B", "C", "D"]
LOANS = pd.DataFrame(
    {
        "loan_id": pd.array(IDS, dtype="string[pyarrow]"),
        "customer_id": [f"C-{i}" for i in IDS],
        "product": "cash_loan",
        "origination_date": [D(2024, 1, 1), D(2024, 1, 10), D(2024, 2, 5), D(2024, 3, 1)],
        "status": ["active", "active", "written_off", "active"],
    }
)
SCHEDULE = pd.DataFrame(
    [
        (i, n, D(2024, m, 1), 100.0, 10.0, 5.0 * (m % 2))
        for i in IDS
        for n, m in enumerate((2, 3, 4, 5), start=1)
    ],
    columns=["loan_id", "installment_no", "due_date", "principal_due", "interest_due", "fee_due"],
)
REPAYMENTS = pd.DataFrame(
    {
        "repayment_id": ["r1", "r2", "r3", "r4"],
        "loan_id": ["A", "B", "B", "C"],
        "paid_at": pd.to_datetime(["2024-02-20", "2024-03-02", "2024-03-05", "2024-04-02"]),
        "amount": [115.0, 50.0, 60.0, 999.0],
        "reversal_of": [None, None, "r2", None],
    }
)


def _engine(repayments: pd.DataFrame = REPAYMENTS) -> DelinquencyEngine:
    return DelinquencyEngine(LOANS, SCHEDULE, repayments, POLICY)


def _timeline() -> pd.DataFrame:
    """A: on book throughout; B: written off from March; C: first seen in March;
    D: absent from the timeline; X: a loan the engine was not given."""
    t = pd.Timestamp
    rows = [
        ("A", "active", t("2023-12-20"), None),
        ("B", "active", t("2024-01-05"), t("2024-03-10 12:00")),
        ("B", "written_off", t("2024-03-10 12:00"), None),
        ("C", "active", t("2024-03-01"), t("2024-04-30 23:00")),
        ("C", "closed", t("2024-04-30 23:00"), None),
        ("X", "active", t("2024-01-01"), None),
    ]
    frame = pd.DataFrame(rows, columns=["loan_id", "status", "valid_from", "valid_to"])
    frame["loan_id"] = frame["loan_id"].astype("string[pyarrow]")
    return frame


@pytest.mark.parametrize("day", DATES)
def test_a_column_subset_equals_the_full_snapshots_columns(day: dt.date) -> None:
    engine = _engine()
    full = engine.snapshot(day)
    for columns in (MART_COLUMNS[:-1], ("dpd", "loan_id"), SNAPSHOT_COLUMNS):
        pd.testing.assert_frame_equal(
            engine.snapshot(day, columns), full[list(columns)], check_exact=True
        )


def test_unknown_snapshot_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="SNAPSHOT_COLUMNS"):
        _engine().snapshot(DATES[0], ("dpd", "no_such_column"))


@pytest.mark.parametrize("day", DATES)
def test_restated_equals_snapshot_as_known(day: dt.date) -> None:
    engine, timeline = _engine(), _timeline()
    want = snapshot_as_known(engine, day, timeline)[list(MART_COLUMNS)]
    got = KnownStatuses.prepare(engine, timeline).restated(day, MART_COLUMNS)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_restated_statuses_follow_the_timeline() -> None:
    snaps = slim_snapshots(_engine(), DATES, _timeline())
    on_book = snaps.set_index(["as_of_date", "loan_id"])["on_book"]
    assert on_book[(pd.Timestamp("2024-02-29"), "B")]  # still active then
    assert not on_book[(pd.Timestamp("2024-03-31"), "B")]  # written off on Mar 10
    assert (pd.Timestamp("2024-02-29"), "C") not in on_book.index  # first seen in March
    assert not on_book[(pd.Timestamp("2024-04-30"), "C")]  # closed before April's end
    assert "D" not in set(snaps["loan_id"]) and "X" not in set(snaps["loan_id"])


def test_overlapping_status_versions_are_refused_as_before() -> None:
    engine, timeline = _engine(), _timeline()
    twice = pd.concat([timeline, timeline.iloc[[0]]], ignore_index=True)
    with pytest.raises(Exception):  # noqa: B017 - pandas' own error on the old path
        snapshot_as_known(engine, DATES[0], twice)
    with pytest.raises(ValueError, match="overlapping"):
        KnownStatuses.prepare(engine, twice).restated(DATES[0], MART_COLUMNS)


def test_repayments_without_ids_give_the_same_arrears() -> None:
    """The marts' restatement reads repayments without ``repayment_id`` (only a
    reversal's target needs it, for last payment dates); the rest must not move."""
    engine, without = _engine(), _engine(REPAYMENTS.drop(columns=["repayment_id"]))
    asked = [c for c in SNAPSHOT_COLUMNS if c != "last_payment_date"]
    for day in DATES:
        pd.testing.assert_frame_equal(
            without.snapshot(day, asked), engine.snapshot(day, asked), check_exact=True
        )
    with pytest.raises(ValueError, match="repayment_id"):
        without.snapshot(DATES[-1], ("loan_id", "last_payment_date"))


def test_parts_are_joined_into_one_chunk_without_changing_the_frame() -> None:
    parts = [slim_snapshots(_engine(), DATES[:2], _timeline()) for _ in range(3)]
    stacked = pd.concat(parts, ignore_index=True)
    joined = _one_chunk(stacked)
    pd.testing.assert_frame_equal(joined, stacked, check_exact=True)
    assert joined["loan_id"].array._pa_array.num_chunks == 1
    assert stacked["loan_id"].array._pa_array.num_chunks > 1  # a chunk per part and date
