"""Shards in Airflow: the list a mapped task expands over, and the reduce that follows.

The per-account stages (snapshot, features + scoring + reason codes, treatment plan)
run as one mapped task instance per shard (``.expand(shard=...)``); each reads and
writes only its own loans (``warehouse/shards.py``). Over XCom go only the shard
references (``{"index", "count"}``) and each shard's small count dict; the reduce task
sums the counts, checks every shard reported, and publishes the stage's asset once.

Writers: on PostgreSQL the shards write in parallel, each in its own transaction that
deletes and inserts only its rows. The embedded DuckDB file takes one writing process
at a time, so there a shard holds the file only to read its inputs and to write its
rows (``warehouse.engine.begin`` waits for the lock), and computes in between while
the next shard reads: the shards take turns on I/O, the computing overlaps, and each
process holds only 1/K of the book.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nplpipeline.settings import Settings, get_settings


def shard_plan(settings: Settings | None = None) -> list[dict[str, int]]:
    """One XCom reference per shard, ``NPL_SHARDS`` of them (at least one)."""
    from nplpipeline.warehouse.shards import all_shards

    settings = settings or get_settings()
    return [shard.to_xcom() for shard in all_shards(settings.shards)]


def shard_results(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The mapped task's results as a list, fetched in one request.

    Airflow hands the reduce a lazy XCom sequence; iterating it asks for one item at a
    time and learns the end from a "not found" that the API server logs as an error on
    every run. A slice is one request for all of them, and no false error in the log."""
    items = results[:] if isinstance(results, Sequence) else results
    return [dict(r) for r in items]


def gather(
    as_of: dt.date,
    results: Iterable[Mapping[str, Any]],
    keys: Iterable[str],
    require: str | None = None,
) -> dict[str, Any]:
    """The reduce: every shard of one count reported for ``as_of``; their counts summed.

    ``require`` names a count that must be positive over the whole book (e.g. scored
    accounts: a day with none is an error, though one shard may have none).
    """
    from nplpipeline.warehouse.shards import shard_counts

    rows = shard_results(results)
    counts = {int(r["shard"]["count"]) for r in rows}
    indexes = sorted(int(r["shard"]["index"]) for r in rows)
    if len(counts) != 1 or indexes != list(range(next(iter(counts), 0))):
        raise RuntimeError(f"shards of {as_of} did not all report: {indexes} of {counts}")
    if any(r.get("as_of") != as_of.isoformat() for r in rows):
        raise RuntimeError(f"a shard reported another date than {as_of}")
    summary = {"as_of": as_of.isoformat(), "shards": len(rows), **shard_counts(rows, keys)}
    if require is not None and summary[require] <= 0:
        raise RuntimeError(f"no {require} on {as_of} in any shard: run the upstream stage first")
    return summary
