"""What stored features were built from: the ``ops_feature_builds`` stamps.

``build_and_store_features`` stamps every (as-of date, shard) it writes, in the
transaction that replaces those rows: the build key (the feature code, configuration
and delinquency policy), the inputs key (the ingest loads the raw rows came from, so a
new or late drop or a reloaded file changes it), the data date the labels looked up to,
the customers' cut and the rows written. A date's stored rows are what a rebuild now
would write when, for one shard count, every shard's stamp carries today's keys, was
cut on the date itself and counts the rows its shard holds (``stored_coverage``); a
reader may then use them instead of rebuilding. Anything else is rebuilt: another
code or configuration, a load since the build, a shard that never ran or whose rows
were deleted, a date built in a batch whose customers were cut on a later date.

A write to the raw tables that bypasses the ingest (and its ``ops_load_audit`` rows)
is invisible to the inputs key; such a writer must ``forget_builds``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import nplpipeline
from nplpipeline.config.policy import DelinquencyPolicy
from nplpipeline.features.calendar import as_date
from nplpipeline.features.config import FeatureConfig
from nplpipeline.features.inputs import INPUT_COLUMNS
from nplpipeline.features.tables import feature_builds
from nplpipeline.warehouse.shards import Shard, shard_hash
from nplpipeline.warehouse.tables import RAW_TABLES, load_audit

# The packages whose code decides a feature row: a deploy that changes them rebuilds.
CODE_PACKAGES = ("features", "delinquency", "staging", "config")


@dataclass(frozen=True, slots=True)
class BuildStamp:
    """What a build read: equal stamps (and the same cut) build equal rows."""

    build_key: str
    inputs_key: str
    data_date: dt.date | None


@dataclass(frozen=True, slots=True)
class Coverage:
    """A date's reusable stored shards: ``count`` 0 when none are, else the shard count
    the stamps were written with and the indices still to build."""

    count: int = 0
    missing: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return self.count > 0 and not self.missing


@functools.cache
def code_key() -> str:
    """A digest of the feature code's source (read once per process)."""
    root = Path(nplpipeline.__file__).parent
    digest = hashlib.sha256(nplpipeline.__version__.encode())
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_key(config: FeatureConfig, policy: DelinquencyPolicy) -> str:
    """The code, configuration and policy a row's values follow."""
    payload = json.dumps(
        {
            "code": code_key(),
            "config": config.model_dump(mode="json"),
            "policy": policy.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def inputs_key(conn: Connection) -> str:
    """The ingest loads of the feature inputs so far: every load (a new drop, a late
    one, a changed file loaded again) adds or replaces an audit row with a later
    ``loaded_at``, in the transaction that writes its raw rows."""
    a = load_audit.c
    query = (
        sa.select(a.entity, sa.func.count(), sa.func.sum(a.rows_loaded), sa.func.max(a.loaded_at))
        .where(a.entity.in_(list(INPUT_COLUMNS)))
        .group_by(a.entity)
        .order_by(a.entity)
    )
    rows = [[str(v) for v in row] for row in conn.execute(query)]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def latest_drop_date(conn: Connection) -> dt.date | None:
    """The data date: the latest drop loaded into any feature input."""
    drops = sa.union_all(
        *(
            sa.select(sa.func.max(RAW_TABLES[name].c._drop_date).label("d"))
            for name in INPUT_COLUMNS
        )
    ).subquery()
    latest = conn.execute(sa.select(sa.func.max(drops.c.d))).all()[0][0]  # fully fetched
    return as_date(latest) if latest is not None else None


def current_stamp(conn: Connection, config: FeatureConfig, policy: DelinquencyPolicy) -> BuildStamp:
    """The stamp a build started now would write."""
    return BuildStamp(build_key(config, policy), inputs_key(conn), latest_drop_date(conn))


def record_build(
    conn: Connection,
    table: sa.Table,
    as_of: dt.date,
    shard: Shard | None,
    stamp: BuildStamp,
    customers_as_of: dt.date,
    rows: int,
) -> None:
    """Stamp ``shard``'s rows of ``as_of`` (in the caller's write transaction). Stamps of
    other shard counts go: their shards' rows were partly rewritten."""
    shard = shard or Shard()
    b = feature_builds.c
    date = b.as_of_date == as_of
    mine = sa.and_(b.shard_count == shard.count, b.shard_index == shard.index)
    conn.execute(
        feature_builds.delete().where(
            date, b.features_table == table.name, sa.or_(b.shard_count != shard.count, mine)
        )
    )
    conn.execute(
        feature_builds.insert().values(
            as_of_date=as_of,
            features_table=table.name,
            shard_count=shard.count,
            shard_index=shard.index,
            build_key=stamp.build_key,
            inputs_key=stamp.inputs_key,
            data_date=stamp.data_date,
            customers_as_of=customers_as_of,
            rows=rows,
            built_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
    )


def forget_builds(conn: Connection, table: sa.Table, as_of: dt.date | None = None) -> None:
    """Drop the stamps of ``table`` (of ``as_of`` only, when given): its next reader rebuilds."""
    b = feature_builds.c
    where = b.features_table == table.name
    if as_of is not None:
        where = sa.and_(where, b.as_of_date == as_of)
    conn.execute(feature_builds.delete().where(where))


def stored_coverage(
    conn: Connection, table: sa.Table, as_of: dt.date, stamp: BuildStamp
) -> Coverage:
    """Which of ``as_of``'s stored shards are exactly what a build with ``stamp`` would
    write now: same keys, customers cut on the date, and as many rows as stamped."""
    b = feature_builds.c
    query = sa.select(
        b.shard_count, b.shard_index, b.build_key, b.inputs_key, b.data_date,
        b.customers_as_of, b.rows,
    ).where(b.as_of_date == as_of, b.features_table == table.name)  # fmt: skip
    stamps = conn.execute(query).all()
    counts = {int(s.shard_count) for s in stamps}
    if len(counts) != 1:  # none, or mixed (record_build never leaves two)
        return Coverage()
    (count,) = counts
    held = _rows_per_shard(conn, table, as_of, count)
    fresh = {
        int(s.shard_index)
        for s in stamps
        if BuildStamp(s.build_key, s.inputs_key, _date(s.data_date)) == stamp
        and _date(s.customers_as_of) == as_of
        and held.get(int(s.shard_index), 0) == int(s.rows)
    }
    if not fresh:
        return Coverage()
    return Coverage(count, tuple(i for i in range(count) if i not in fresh))


def _rows_per_shard(
    conn: Connection, table: sa.Table, as_of: dt.date, count: int
) -> dict[int, int]:
    """Stored rows of ``as_of`` per shard index of ``count``."""
    on_date = table.c.as_of_date == as_of
    if count == 1:
        query = sa.select(sa.func.count()).select_from(table).where(on_date)
        return {0: int(conn.execute(query).scalar_one())}
    index = sa.func.mod(shard_hash(table.c.loan_id), count).label("i")
    query = sa.select(index, sa.func.count()).where(on_date).group_by(index)
    return {int(i): int(n) for i, n in conn.execute(query)}


def _date(value: dt.date | dt.datetime | None) -> dt.date | None:
    return None if value is None else as_date(value)
