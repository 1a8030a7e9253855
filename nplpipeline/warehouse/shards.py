"""Shards: the per-account daily work split by a stable hash of ``loan_id`` into K parts.

A loan's shard is ``h(loan_id) mod K`` with ``h`` = the first 28 bits of the MD5 of the
id (seven hex digits, so always a non-negative 32-bit integer). DuckDB, PostgreSQL and
Python compute exactly the same number, on any platform and in any process (unlike
Python's ``hash``, DuckDB's ``hash`` or PostgreSQL's ``hashtext``, which are salted or
version-dependent), so a shard is the same set of loans wherever it runs.

The predicate is SQL (``shard_predicate``): a shard's reads filter in the warehouse
(only its rows cross the wire) and its writes delete only its own rows before
inserting, so a shard's rerun is idempotent and K shards together cover every loan
exactly once. K = 1 is "no sharding": no predicate at all.

Keep K in the hundreds at most: each shard is one mapped task instance, Airflow's
``max_map_length`` is 1,024 and the scheduler slows with thousands of instances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

MAX_SHARDS = 512
HASH_HEX_DIGITS = 7  # 28 bits: fits a signed 32-bit integer, in every dialect


class shard_hash(FunctionElement):  # noqa: N801 -- reads like a SQL function
    """``h(loan_id)``: the first 28 bits of MD5(loan_id) as a BIGINT."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "shard_hash"


@compiles(shard_hash)
def _shard_hash_default(element: shard_hash, compiler: Any, **kw: Any) -> str:
    # DuckDB (and most dialects): a '0x..' string casts to an integer.
    arg = compiler.process(element.clauses, **kw)
    return f"CAST('0x' || substr(md5({arg}), 1, {HASH_HEX_DIGITS}) AS BIGINT)"


@compiles(shard_hash, "postgresql")
def _shard_hash_postgresql(element: shard_hash, compiler: Any, **kw: Any) -> str:
    # PostgreSQL: hex digits through a bit string ('x..'::bit(n)) to an integer.
    arg = compiler.process(element.clauses, **kw)
    bits = 4 * HASH_HEX_DIGITS
    return f"CAST(CAST('x' || substr(md5({arg}), 1, {HASH_HEX_DIGITS}) AS BIT({bits})) AS BIGINT)"


def python_shard_hash(loan_id: str) -> int:
    """The same hash in Python (tests and tools; never per row on a hot path)."""
    return int(hashlib.md5(loan_id.encode("utf-8")).hexdigest()[:HASH_HEX_DIGITS], 16)


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count <= MAX_SHARDS)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard count must be 1..{MAX_SHARDS}, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be 0..{self.count - 1}, got {self.index}")

    @property
    def whole(self) -> bool:
        """One shard: the whole book, no predicate."""
        return self.count == 1

    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def to_xcom(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    @classmethod
    def parse(cls, value: Shard | Mapping[str, Any] | str | None) -> Shard:
        """From a ``Shard``, an XCom dict ``{"index", "count"}``, ``"k/K"`` or None (whole)."""
        if value is None:
            return cls()
        if isinstance(value, Shard):
            return value
        if isinstance(value, str):
            index, _, count = value.partition("/")
            return cls(int(index), int(count or 1))
        return cls(int(value["index"]), int(value["count"]))

    def contains(self, loan_id: str) -> bool:
        return python_shard_hash(loan_id) % self.count == self.index


def all_shards(count: int) -> list[Shard]:
    return [Shard(i, count) for i in range(count)]


def shard_predicate(column: sa.ColumnElement[Any], shard: Shard | None) -> sa.ColumnElement[bool]:
    """``column``'s rows in ``shard`` (TRUE for the whole book)."""
    if shard is None or shard.whole:
        return sa.true()
    # mod(), not the % operator: a query rendered for COPY keeps pyformat's "%%" escape
    return sa.func.mod(shard_hash(column), shard.count) == shard.index


def narrow(query: sa.Select, column: sa.ColumnElement[Any], shard: Shard | None) -> sa.Select:
    """``query`` restricted to ``shard`` (unchanged for the whole book)."""
    if shard is None or shard.whole:
        return query
    return query.where(shard_predicate(column, shard))


def shard_counts(results: Iterable[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, int]:
    """Sum the integer counts ``keys`` over the shards' small XCom results (the reduce)."""
    rows = list(results)
    return {key: int(sum(int(r.get(key) or 0) for r in rows)) for key in keys}
