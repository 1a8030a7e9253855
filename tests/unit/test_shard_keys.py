"""Shards: the stable hash, the shard reference, the SQL per dialect and the reduce."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.dialects import postgresql

from nplpipeline.orchestration.sharding import gather, shard_plan, shard_results
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.shards import (
    MAX_SHARDS,
    Shard,
    all_shards,
    python_shard_hash,
    shard_predicate,
)

AS_OF = dt.date(2026, 10, 31)
LOANS = sa.table("raw_loans", sa.column("loan_id", sa.String()))


def test_the_hash_is_pinned() -> None:
    # computed by DuckDB 2.0 and PostgreSQL 16 with the SQL below; changing it would
    # move every loan to another shard
    assert python_shard_hash("L1") == 166480906
    assert python_shard_hash("贷款-1") == python_shard_hash("贷款-1") < 2**28


def test_every_loan_is_in_exactly_one_shard() -> None:
    ids = [f"LN{n:07d}" for n in range(2000)]
    for count in (1, 3, 16):
        owners = [[s.index for s in all_shards(count) if s.contains(i)] for i in ids]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(o == [k] for o in owners) for k in range(count)]
        assert min(sizes) > 0.7 * len(ids) / count  # roughly even


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, Shard(0, 1)), ("2/4", Shard(2, 4)), ({"index": 1, "count": 3}, Shard(1, 3))],
)
def test_a_shard_parses_from_cli_and_xcom(value, expected) -> None:
    assert Shard.parse(value) == expected
    assert Shard.parse(expected.to_xcom()) == expected


@pytest.mark.parametrize(("index", "count"), [(0, 0), (4, 4), (-1, 2), (0, MAX_SHARDS + 1)])
def test_a_shard_out_of_range_is_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shard(index, count)


def test_the_predicate_compiles_for_both_warehouses() -> None:
    predicate = shard_predicate(LOANS.c.loan_id, Shard(1, 4))
    pg = str(predicate.compile(dialect=postgresql.dialect()))
    assert "md5(raw_loans.loan_id)" in pg and "AS BIT(28)" in pg and "mod(" in pg
    default = str(predicate.compile())
    assert "CAST('0x' || substr(md5(raw_loans.loan_id), 1, 7) AS BIGINT)" in default
    literal = str(predicate.compile(dialect=postgresql.dialect(),
                                    compile_kwargs={"literal_binds": True}))  # fmt: skip
    assert "%" not in literal  # a COPY-rendered query would keep pyformat's "%%" escape
    whole = shard_predicate(LOANS.c.loan_id, Shard(0, 1))
    assert str(whole.compile()) == "true"


def test_the_setting_names_the_shard_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NPL_SHARDS", raising=False)
    assert get_settings().shards == 1
    monkeypatch.setenv("NPL_SHARDS", "8")
    assert shard_plan() == [{"index": i, "count": 8} for i in range(8)]
    monkeypatch.setenv("NPL_SHARDS", "0")
    with pytest.raises(ValueError, match="shard count"):
        _ = get_settings().shards


def _result(index: int, count: int, accounts: int) -> dict[str, object]:
    return {"as_of": AS_OF.isoformat(), "shard": {"index": index, "count": count},
            "accounts": accounts}  # fmt: skip


def test_the_reduce_sums_counts_and_checks_every_shard_reported() -> None:
    summary = gather(AS_OF, [_result(i, 3, i + 1) for i in range(3)], ("accounts",))
    assert summary == {"as_of": AS_OF.isoformat(), "shards": 3, "accounts": 6}
    with pytest.raises(RuntimeError, match="did not all report"):
        gather(AS_OF, [_result(0, 3, 1), _result(2, 3, 1)], ("accounts",))
    with pytest.raises(RuntimeError, match="no accounts"):
        gather(AS_OF, [_result(0, 2, 0), _result(1, 2, 0)], ("accounts",), require="accounts")
    other = {**_result(0, 1, 1), "as_of": "2026-10-30"}
    with pytest.raises(RuntimeError, match="another date"):
        gather(AS_OF, [other], ("accounts",))


class _ItemByItem(Sequence):
    """Like Airflow's lazy XCom sequence: one request per item, the end found by a miss."""

    def __init__(self, items: list[dict[str, object]]) -> None:
        self.items, self.requests, self.misses = items, 0, 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | slice) -> object:
        self.requests += 1
        if isinstance(key, int) and key >= len(self.items):
            self.misses += 1
        return self.items[key]


def test_the_reduce_fetches_the_mapped_results_in_one_request_without_a_miss() -> None:
    lazy = _ItemByItem([_result(i, 3, i + 1) for i in range(3)])
    assert gather(AS_OF, lazy, ("accounts",))["accounts"] == 6
    assert (lazy.requests, lazy.misses) == (1, 0)
    assert shard_results(iter([_result(0, 1, 2)])) == [_result(0, 1, 2)]


def test_the_cli_refuses_a_bad_shard() -> None:
    from nplpipeline.cli import main

    result = CliRunner().invoke(main, ["delinquency", "--date", "2026-10-31", "--shard", "4/4"])
    assert result.exit_code == 2 and "expected k/K" in result.output
