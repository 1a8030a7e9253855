"""The feature-build stamps: when stored rows of a date count as what a rebuild writes.

On DuckDB and PostgreSQL, with hand-written rows and stamps: a date is complete when
one shard count's stamps all carry the current keys, were cut on the date and count
the rows their shard holds; another key, a later customers' cut, a deleted row or a
missing shard each leave exactly that shard to build, and a write at another shard
count retires the old count's stamps. Monitoring's choice of what to build follows.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from nplpipeline.features.builds import (
    BuildStamp,
    Coverage,
    forget_builds,
    inputs_key,
    record_build,
    stored_coverage,
)
from nplpipeline.features.tables import feature_builds, int_features
from nplpipeline.model.monitoring_stage import shards_to_build
from nplpipeline.schema import ensure_schema
from nplpipeline.warehouse.shards import Shard, all_shards
from nplpipeline.warehouse.tables import load_audit

DAY = dt.date(2026, 10, 31)
STAMP = BuildStamp("build", "loads", DAY)
LOANS = [f"L{i:04d}" for i in range(60)]


def _store(conn: sa.Connection, count: int, stamp: BuildStamp = STAMP) -> None:
    """DAY's rows of every loan, written and stamped shard by shard of ``count``."""
    for shard in all_shards(count):
        ids = [loan for loan in LOANS if shard.contains(loan)]
        conn.execute(
            int_features.delete().where(
                int_features.c.as_of_date == DAY, int_features.c.loan_id.in_(ids)
            )
        )
        conn.execute(int_features.insert(), [{"as_of_date": DAY, "loan_id": i} for i in ids])
        record_build(conn, int_features, DAY, shard, stamp, DAY, len(ids))


@pytest.fixture
def conn(engine: sa.Engine):
    with engine.begin() as conn:
        ensure_schema(conn)
        yield conn


def test_a_date_stored_whole_with_current_stamps_is_complete(conn) -> None:
    _store(conn, 3)
    assert stored_coverage(conn, int_features, DAY, STAMP) == Coverage(3, ())
    assert stored_coverage(conn, int_features, DAY, STAMP).complete
    _store(conn, 1)  # rewritten unsharded: the 3-shard stamps are retired
    assert stored_coverage(conn, int_features, DAY, STAMP) == Coverage(1, ())
    assert conn.execute(sa.select(sa.func.count()).select_from(feature_builds)).scalar() == 1


@pytest.mark.parametrize(
    "stale",
    [
        BuildStamp("other code or config", "loads", DAY),
        BuildStamp("build", "a load since", DAY),
        BuildStamp("build", "loads", DAY - dt.timedelta(days=1)),
    ],
)
def test_a_shard_built_from_other_inputs_is_missing(conn, stale: BuildStamp) -> None:
    _store(conn, 3)
    shard = Shard(1, 3)
    rows = sum(shard.contains(loan) for loan in LOANS)
    record_build(conn, int_features, DAY, shard, stale, DAY, rows)
    assert stored_coverage(conn, int_features, DAY, STAMP) == Coverage(3, (1,))
    assert stored_coverage(conn, int_features, DAY, stale) == Coverage(3, (0, 2))


def test_a_later_customers_cut_a_deleted_row_or_no_stamp_leave_their_shard(conn) -> None:
    _store(conn, 3)
    later = DAY + dt.timedelta(days=30)  # built in a batch ending later: customers cut then
    shard0 = [loan for loan in LOANS if Shard(0, 3).contains(loan)]
    record_build(conn, int_features, DAY, Shard(0, 3), STAMP, later, len(shard0))
    shard2 = [loan for loan in LOANS if Shard(2, 3).contains(loan)]
    conn.execute(int_features.delete().where(int_features.c.loan_id == shard2[0]))
    assert stored_coverage(conn, int_features, DAY, STAMP) == Coverage(3, (0, 2))
    b = feature_builds.c
    conn.execute(feature_builds.delete().where(b.shard_index == 1))
    assert stored_coverage(conn, int_features, DAY, STAMP) == Coverage()  # none usable
    forget_builds(conn, int_features, DAY)
    assert stored_coverage(conn, int_features, DAY, STAMP) == Coverage()
    other = DAY - dt.timedelta(days=1)
    assert stored_coverage(conn, int_features, other, STAMP) == Coverage()  # never built


def test_every_ingest_load_changes_the_inputs_key(conn) -> None:
    before = inputs_key(conn)
    audit = {
        "entity": "repayments", "source_file": "repayments/2026-10-31.csv", "checksum": "a",
        "drop_date": DAY, "rows_in": 5, "rows_loaded": 5, "rows_quarantined": 0,
        "rows_superseded": 0, "loaded_at": dt.datetime(2026, 11, 1, 6),
    }  # fmt: skip
    conn.execute(load_audit.insert().values(**audit))
    loaded = inputs_key(conn)
    assert loaded != before
    conn.execute(load_audit.delete())  # the same file loaded again later (a late fix)
    conn.execute(load_audit.insert().values(**audit | {"loaded_at": dt.datetime(2026, 11, 3)}))
    assert inputs_key(conn) not in (before, loaded)
    unread = audit | {"entity": "agencies", "source_file": "agencies/2026-10-31.csv"}
    key = inputs_key(conn)
    conn.execute(load_audit.insert().values(**unread))  # not a feature input
    assert inputs_key(conn) == key


def test_monitoring_builds_only_what_is_missing_within_its_memory_bound() -> None:
    assert shards_to_build(Coverage(4, ()), parts=2) == []
    assert shards_to_build(Coverage(4, (1, 3)), parts=2) == [Shard(1, 4), Shard(3, 4)]
    assert shards_to_build(Coverage(4, (1,)), parts=4) == [Shard(1, 4)]
    # a coarser shard than the whole-book split would hold too many loans at once
    assert shards_to_build(Coverage(1, (0,)), parts=3) == all_shards(3)
    assert shards_to_build(Coverage(2, (1,)), parts=3) == all_shards(3)
    assert shards_to_build(Coverage(), parts=1) == all_shards(1)
