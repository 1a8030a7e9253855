"""Loading an entity's pending drops: typed, checked, upserted, quarantined, audited.

For every file: rows in = rows loaded + rows quarantined, written to ``ops_load_audit``
in the same transaction as the rows themselves, so the ledger can never disagree with
the tables. A file that cannot be read at all is rejected whole and the task fails
naming it; the entity's other good files still load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nplpipeline.contract import ENTITIES, Entity
from nplpipeline.ingest.landing import Drop, list_drops
from nplpipeline.ingest.readers import DropRejectedError, read_drop
from nplpipeline.privacy import mask_pii
from nplpipeline.schema import ensure_schema
from nplpipeline.validate.coerce import coerce_table
from nplpipeline.validate.rules import (
    REFERENCES,
    RuleContext,
    check_rows,
    is_intrinsic,
    join_rule_names,
    shared_key_rows,
)
from nplpipeline.warehouse.current_view import (
    defer_current_rows,
    has_backlog,
    refresh_current_view,
)
from nplpipeline.warehouse.engine import begin
from nplpipeline.warehouse.frames import insert_frame
from nplpipeline.warehouse.history import append_versions, seed_from_current
from nplpipeline.warehouse.keys import keys_present
from nplpipeline.warehouse.tables import (
    HISTORY_TABLES,
    RAW_TABLES,
    dq_results,
    load_audit,
    quarantine,
)
from nplpipeline.warehouse.upsert import upsert_latest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOptions:
    encoding: str = "utf-8"
    # A file with a larger share of bad rows is rejected whole: a broken export, not a few
    # bad records, and loading its remainder would mislead every downstream stage.
    max_bad_share: float = 0.5
    # ... judged only on files with at least this many rows: in a three-row drop one
    # duplicate pair is 67% "bad" without saying anything about the export.
    min_rows_for_bad_share: int = 20
    chunk_rows: int = 2_000_000
    # Great Expectations: the suites (expectations/*.json) run on every batch when a GX
    # project folder is given; results go to ops_dq_results and Data Docs under it.
    gx_dir: Path | None = None
    suites_dir: Path | None = None
    # GX results (and Data Docs pages) kept per suite, pruned at every checkpoint so the
    # docs index a run rebuilds covers this window, not the whole history (None: all).
    gx_keep_results: int | None = 30
    # Drop-size warning: a single drop outside [low, high] x the trailing average of the
    # entity's last `trailing_drops` drops is flagged (warning, never a rejection).
    row_count_band: tuple[float, float] = (0.25, 4.0)
    trailing_drops: int = 30


@dataclass
class EntityLoad:
    """What one entity's load did: counts only, never row values (safe for logs and XCom)."""

    entity: str
    files: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # source_file -> problem
    dq_critical_failures: int = 0
    dq_warnings: list[str] = field(default_factory=list)  # rule names that warned
    data_docs: str | None = None

    def add(self, other: EntityLoad) -> None:
        self.files += other.files
        self.rows_in += other.rows_in
        self.rows_loaded += other.rows_loaded
        self.rows_quarantined += other.rows_quarantined
        self.rows_superseded += other.rows_superseded
        for rule, n in other.rules.items():
            self.rules[rule] = self.rules.get(rule, 0) + n
        self.rejected.update(other.rejected)
        self.dq_critical_failures += other.dq_critical_failures
        self.dq_warnings = sorted(set(self.dq_warnings) | set(other.dq_warnings))
        self.data_docs = other.data_docs or self.data_docs


class IngestError(Exception):
    """Some drops were rejected; their names and problems are in the message (no PII)."""

    def __init__(self, entity: str, rejected: dict[str, str]) -> None:
        lines = "\n".join(f"  {name}: {problem}" for name, problem in sorted(rejected.items()))
        super().__init__(
            f"{entity}: {len(rejected)} drop(s) rejected, nothing of them loaded:\n{lines}"
        )
        self.rejected = rejected


class IngestDatabaseError(RuntimeError):
    """The warehouse refused a load (retryable). The driver's message is withheld: it can
    quote row values (``Key (loan_id)=(...)``, SQL parameters); its type and SQLSTATE
    are kept, which is what an engineer needs to find the cause in the database log."""

    def __init__(self, entity: str, files: list[str], exc: BaseException) -> None:
        orig = getattr(exc, "orig", None) or exc
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        kind = type(orig).__name__ + (f", SQLSTATE {state}" if state else "")
        super().__init__(
            f"{entity}: a database refused the load of {len(files)} drop(s) ({kind});"
            f" row values withheld; drops: {', '.join(sorted(files))}"
        )
        self.files = files


def _loaded_checksums(conn: Connection, entity: str) -> dict[str, str]:
    rows = conn.execute(
        sa.select(load_audit.c.source_file, load_audit.c.checksum).where(
            load_audit.c.entity == entity
        )
    )
    return {name: checksum for name, checksum in rows}


def pending_drops(
    engine: Engine, landing_dir, entity: str, up_to: dt.date | None
) -> list[tuple[Drop, str]]:
    """Drops not yet loaded with their current content (a changed file is loaded again)."""
    with begin(engine) as conn:
        ensure_schema(conn)
        done = _loaded_checksums(conn, entity)
    pending = []
    for drop in list_drops(landing_dir, entity, up_to):
        checksum = drop.checksum()
        if done.get(drop.source_file) != checksum:
            pending.append((drop, checksum))
    return pending


def _context(conn: Connection, entity: Entity, batch: pd.DataFrame) -> RuleContext:
    """The lookups the batch's rules need, restricted to the keys the batch names: a
    day's ingest reads its own drop plus a semi-join's worth of keys, never a whole
    raw table (``warehouse.keys``). ``isin`` on the restricted sets gives the same
    verdicts as on the full ones, since keys the batch does not name cannot match."""
    parents: dict[str, pd.Index] = {}
    held: dict[str, pd.Index] = {}
    for col, parent in REFERENCES.get(entity.name, {}).items():
        (key,) = ENTITIES[parent].key  # every referenced parent has a one-column key
        named = batch[col]
        found = keys_present(conn, RAW_TABLES[parent], key, named)
        waiting = keys_present(conn, quarantine, "record_key", named, quarantine.c.entity == parent)
        parents[parent] = parents[parent].append(found) if parent in parents else found
        held[parent] = held[parent].append(waiting) if parent in held else waiting
    repayment_ids = None
    if entity.name == "repayments":
        targets = batch["reversal_of"]
        known = keys_present(conn, RAW_TABLES["repayments"], "repayment_id", targets)
        repayment_ids = known.append(pd.Index(batch["repayment_id"].dropna().unique()))
    return RuleContext(
        drop_dates=batch["_drop_date"],
        parent_keys=parents,
        quarantined_parent_keys=held,
        repayment_ids=repayment_ids,
    )


def _quarantine_rows(
    table: pa.Table, entity: Entity, bad: np.ndarray, rules: pd.Series
) -> pd.DataFrame:
    """The bad rows' original text (PII masked) taken from the Arrow batch: only the
    quarantined rows are ever converted to pandas text."""
    rows = table.take(pa.array(np.flatnonzero(bad))).to_pandas(date_as_object=False)
    masked = mask_pii(rows[entity.columns], entity)
    # One JSON object per row, serialised in C; JSON escapes newlines, so lines split safely.
    text = masked.to_json(orient="records", lines=True, force_ascii=False) if len(masked) else ""
    raw_json = text.splitlines()
    key_parts = [rows[k].astype("string").fillna("") for k in entity.key]
    key = key_parts[0]
    for part in key_parts[1:]:
        key = key + "|" + part
    return pd.DataFrame(
        {
            "entity": entity.name,
            "source_file": rows["_source_file"].to_numpy(),
            "row_number": rows["_row_number"].to_numpy(),
            "drop_date": rows["_drop_date"].to_numpy(),
            "record_key": key.to_numpy(),
            "rules": rules.to_numpy(dtype=object),
            "raw_values": raw_json,
        }
    )


def _with_version(good: pd.DataFrame, entity: Entity) -> pd.DataFrame:
    """``_version`` added in place (``good`` is the batch's own copy of its good rows)."""
    version = entity.version_column
    good["_version"] = good[version] if version else pd.to_datetime(good["_drop_date"])
    return good


def _latest_per_key(good: pd.DataFrame, entity: Entity) -> pd.DataFrame:
    """One row per key, the latest version (the order ``upsert_latest`` uses). Only rows
    sharing a key hash with another row are sorted and compared; the rest are unique."""
    shared = shared_key_rows(good, list(entity.key))
    if not len(shared):
        return good
    order = ["_version", "_drop_date", "_source_file", "_row_number"]
    ranked = good.iloc[shared].sort_values(order)
    beaten = ranked.index[ranked.duplicated(subset=list(entity.key), keep="last").to_numpy(bool)]
    return good.drop(index=beaten)


def _write_rows(
    conn: Connection, entity: Entity, good: pd.DataFrame, latest: pd.DataFrame, files: list[str]
) -> None:
    """A history entity's rows become versions now and its current view is written once,
    at the end of the load (``warehouse.current_view``); other entities merge ``latest``."""
    if entity.name not in HISTORY_TABLES:
        table = RAW_TABLES[entity.name]
        upsert_latest(conn, table, entity.key, latest[[c.name for c in table.columns]])
        return
    _keep_history(conn, entity, good, files)
    defer_current_rows(conn, entity.name, files)


def _keep_history(conn: Connection, entity: Entity, good: pd.DataFrame, files: list[str]) -> None:
    """Every good row becomes a version in the entity's SCD2 history (loans, customers);
    a history started on a warehouse loaded without one is first seeded from its view."""
    history = HISTORY_TABLES[entity.name]
    seed_from_current(conn, history, RAW_TABLES[entity.name])
    columns = [c.name for c in RAW_TABLES[entity.name].columns]
    append_versions(conn, history, entity.key, good[columns], files)


@dataclass(frozen=True)
class _Batch:
    """Several drops of one entity read into one Arrow table (typed work is per batch)."""

    files: list[tuple[Drop, str, int]]  # drop, checksum, rows
    table: pa.Table


def _rejection_reason(share: float, rows: int, rules: list[str], limit: float) -> str:
    return (
        f"{share:.0%} of {rows} rows break the contract (limit {limit:.0%}); "
        f"first rules: {', '.join(rules[:5])}"
    )


def _row_findings(
    engine: Engine, entity: Entity, typed: pd.DataFrame, masks: dict[str, np.ndarray]
) -> tuple[RuleContext, np.ndarray, np.ndarray]:
    """Every rule's mask merged into ``masks``; (context, bad rows, intrinsically broken)."""
    with begin(engine) as conn:
        ctx = _context(conn, entity, typed)
    for rule, mask in check_rows(typed, entity, ctx).items():
        masks[rule] = masks.get(rule, np.zeros(len(typed), bool)) | mask
    bad = np.zeros(len(typed), dtype=bool)
    broken = np.zeros(len(typed), dtype=bool)
    for rule, mask in masks.items():
        bad |= mask
        if is_intrinsic(rule):
            broken |= mask
    return ctx, bad, broken


def _file_verdicts(
    batch: _Batch,
    codes: np.ndarray,
    masks: dict[str, np.ndarray],
    broken: np.ndarray,
    options: IngestOptions,
    result: EntityLoad,
) -> tuple[np.ndarray, list[tuple[Drop, str, int]]]:
    """Rows of files kept, and the files accepted (a file mostly broken is rejected)."""
    n_files = len(batch.files)
    rows_per_file = np.bincount(codes, minlength=n_files)
    broken_per_file = np.bincount(codes, weights=broken, minlength=n_files)
    keep = np.ones(len(codes), dtype=bool)
    accepted_files = []
    for i, (drop, checksum, rows) in enumerate(batch.files):
        share = broken_per_file[i] / rows if rows else 0.0
        if share > options.max_bad_share and rows >= options.min_rows_for_bad_share:
            in_file = codes == i
            rules = sorted(r for r, m in masks.items() if is_intrinsic(r) and m[in_file].any())
            result.rejected[drop.source_file] = _rejection_reason(
                share, rows, rules, options.max_bad_share
            )
            keep &= ~in_file
        else:
            accepted_files.append((drop, checksum, int(rows_per_file[i])))
    return keep, accepted_files


def _load_batch(
    engine: Engine, entity: Entity, batch: _Batch, options: IngestOptions, gx_session=None
) -> EntityLoad:
    """One batch: typed, checked, validated, then written in one transaction. Each copy
    (text, typed, masked) is dropped as soon as its last use is done."""
    result = EntityLoad(entity.name)
    typed, masks = coerce_table(batch.table, entity)
    ctx, bad, broken = _row_findings(engine, entity, typed, masks)
    suite_run = _run_expectations(engine, entity, typed, ctx, batch, options, gx_session)
    del ctx

    # per-file shares in one pass: file codes follow the batch's file order
    names_in_batch = [d.source_file for d, _, _ in batch.files]
    codes = pd.Categorical(typed["_source_file"], categories=names_in_batch).codes
    keep, accepted_files = _file_verdicts(batch, codes, masks, broken, options, result)
    bad &= keep
    good_rows = keep & ~bad

    rules = join_rule_names(masks, np.flatnonzero(bad))
    quarantined = _quarantine_rows(batch.table, entity, bad, rules)
    good = _with_version(typed.loc[good_rows], entity)
    del typed
    latest = _latest_per_key(good, entity)
    audit = _write_batch(
        engine, entity, good, latest, quarantined, accepted_files, suite_run, batch
    )

    result.files = len(accepted_files)
    result.rows_in = int(audit["rows_in"].sum())
    result.rows_loaded = int(audit["rows_loaded"].sum())
    result.rows_quarantined = int(audit["rows_quarantined"].sum())
    result.rows_superseded = int(audit["rows_superseded"].sum())
    result.rules = {rule: int((m & bad).sum()) for rule, m in masks.items() if (m & bad).any()}
    if suite_run is not None:
        result.dq_critical_failures = suite_run.critical_failures
        result.dq_warnings = sorted(
            o.rule for o in suite_run.outcomes if not o.success and o.severity == "warning"
        )
        result.data_docs = suite_run.data_docs_index
    return result


def _write_batch(
    engine: Engine,
    entity: Entity,
    good: pd.DataFrame,
    latest: pd.DataFrame,
    quarantined: pd.DataFrame,
    accepted_files: list[tuple[Drop, str, int]],
    suite_run,
    batch: _Batch,
) -> pd.DataFrame:
    """Rows, quarantine, audit and GX outcomes in one transaction; returns the audit."""
    with begin(engine) as conn:
        names = [d.source_file for d, _, _ in accepted_files]
        conn.execute(
            quarantine.delete().where(
                quarantine.c.entity == entity.name, quarantine.c.source_file.in_(names)
            )
        )
        _write_rows(conn, entity, good, latest, names)
        insert_frame(conn, quarantine, quarantined)
        conn.execute(
            load_audit.delete().where(
                load_audit.c.entity == entity.name, load_audit.c.source_file.in_(names)
            )
        )
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        bad_per_file = quarantined["source_file"].value_counts()
        kept_per_file = latest["_source_file"].value_counts()
        good_per_file = good["_source_file"].value_counts()
        audit = pd.DataFrame(
            {
                "entity": entity.name,
                "source_file": names,
                "checksum": [c for _, c, _ in accepted_files],
                "drop_date": [d.drop_date for d, _, _ in accepted_files],
                "rows_in": [n for _, _, n in accepted_files],
                "rows_loaded": [int(good_per_file.get(n, 0)) for n in names],
                "rows_quarantined": [int(bad_per_file.get(n, 0)) for n in names],
                "rows_superseded": [
                    int(good_per_file.get(n, 0)) - int(kept_per_file.get(n, 0)) for n in names
                ],
                "loaded_at": now,
            }
        )
        insert_frame(conn, load_audit, audit)
        if suite_run is not None:
            _store_dq_results(conn, entity, suite_run, batch, now)
    return audit


def _batch_run_id(entity: Entity, batch: _Batch) -> str:
    """Deterministic per set of files: a rerun of the same batch replaces its results."""
    digest = hashlib.sha256("".join(c for _, c, _ in batch.files).encode()).hexdigest()[:16]
    first, last = batch.files[0][0].drop_date, batch.files[-1][0].drop_date
    return f"{entity.name}:{first}..{last}:{digest}"


def _expected_rows(
    engine: Engine, entity: Entity, batch: _Batch, options: IngestOptions
) -> tuple[int, int] | None:
    """Row-count band for a single drop from the trailing average of earlier drops."""
    if len(batch.files) != 1:
        return None  # a catch-up batch of many drops has no meaningful size
    a = load_audit.c
    query = (
        sa.select(a.rows_in)
        .where(a.entity == entity.name, a.drop_date < batch.files[0][0].drop_date)
        .order_by(a.drop_date.desc())
        .limit(options.trailing_drops)
    )
    with begin(engine) as conn:
        recent = [int(r[0]) for r in conn.execute(query)]
    if len(recent) < 5:
        return None  # too little history to call a drop unusual
    mean = sum(recent) / len(recent)
    low, high = options.row_count_band
    return int(mean * low), max(int(mean * high), 1)


def _run_expectations(
    engine: Engine,
    entity: Entity,
    typed: pd.DataFrame,
    ctx: RuleContext,
    batch: _Batch,
    options: IngestOptions,
    session=None,
):  # -> SuiteRun | None; GX is imported only when it runs
    if session is None:
        return None
    from nplpipeline.validate.gx_runner import known_from_context

    return session.run(
        entity.name,
        typed,
        drop_dates=typed["_drop_date"],
        known=known_from_context(entity.name, typed, ctx),
        run_name=_batch_run_id(entity, batch),
        expected_rows=_expected_rows(engine, entity, batch, options),
    )


def _gx_session(options: IngestOptions):  # -> GxSession | None
    """One GX session per entity load (context and checkpoint reused, docs built once)."""
    if options.gx_dir is None or options.suites_dir is None:
        return None
    from nplpipeline.validate.gx_runner import GxSession

    return GxSession(options.gx_dir, options.suites_dir, options.gx_keep_results)


def _store_dq_results(
    conn: Connection, entity: Entity, suite_run, batch: _Batch, now: dt.datetime
) -> None:
    run_id = _batch_run_id(entity, batch)
    first, last = batch.files[0][0].drop_date, batch.files[-1][0].drop_date
    rows = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "entity": entity.name,
                "rule": o.rule,
                "suite": suite_run.suite,
                "expectation": o.expectation,
                "column_name": o.column,
                "severity": o.severity,
                "success": o.success,
                "element_count": o.element_count,
                "unexpected_count": o.unexpected_count,
                "unexpected_percent": o.unexpected_percent,
                "drop_dates": f"{first}..{last}",
                "validated_at": now,
            }
            for o in suite_run.outcomes
        ]
    )
    # one row per rule: a rule checked by two expectations (ptp_complete) sums them
    rows = rows.groupby(["run_id", "entity", "rule"], as_index=False).agg(
        {
            "suite": "first", "expectation": "first", "column_name": "first",
            "severity": "first", "success": "all", "element_count": "max",
            "unexpected_count": "sum", "unexpected_percent": "max", "drop_dates": "first",
            "validated_at": "first",
        }
    )  # fmt: skip
    conn.execute(dq_results.delete().where(dq_results.c.run_id == run_id))
    insert_frame(conn, dq_results, rows)


def _read_all(
    pending: Iterable[tuple[Drop, str]], entity: Entity, options: IngestOptions, result: EntityLoad
) -> Iterator[_Batch]:
    """Yield batches of readable drops of about ``chunk_rows`` rows; record unreadable ones."""
    files: list[tuple[Drop, str, int]] = []
    tables: list[pa.Table] = []
    rows = 0
    for drop, checksum in pending:
        try:
            table = read_drop(drop, entity, options.encoding)
        except DropRejectedError as exc:
            result.rejected[exc.source_file] = exc.problem
            continue
        n = table.num_rows
        table = table.append_column(
            "_source_file", pa.array([drop.source_file] * n, pa.string())
        ).append_column("_drop_date", pa.array([drop.drop_date] * n, pa.date32()))
        files.append((drop, checksum, n))
        tables.append(table)
        rows += n
        if rows >= options.chunk_rows:
            yield _Batch(files, pa.concat_tables(tables))
            files, tables, rows = [], [], 0
    if files:
        yield _Batch(files, pa.concat_tables(tables))


def _refresh_deferred_view(engine: Engine, entity_name: str) -> None:
    """Write a history entity's current view for the files its loads deferred."""
    if entity_name not in HISTORY_TABLES:
        return
    try:
        with begin(engine) as conn:
            if has_backlog(conn, entity_name):
                refresh_current_view(conn, entity_name)
    except sa.exc.SQLAlchemyError as exc:
        raise IngestDatabaseError(entity_name, [], exc) from None


def ingest_entity(
    engine: Engine,
    landing_dir,
    entity_name: str,
    up_to: dt.date | None = None,
    options: IngestOptions | None = None,
) -> EntityLoad:
    """Load every pending drop of one entity dated on or before ``up_to``.

    Raises :class:`IngestError` after loading the good drops if any drop was rejected.
    """
    options = options or IngestOptions()
    entity = ENTITIES[entity_name]
    total = EntityLoad(entity_name)
    pending = pending_drops(engine, landing_dir, entity_name, up_to)
    session = _gx_session(options)
    try:
        _refresh_deferred_view(engine, entity_name)  # what a stopped load left undone
        for batch in _read_all(pending, entity, options, total):
            try:
                total.add(_load_batch(engine, entity, batch, options, session))
            except sa.exc.SQLAlchemyError as exc:
                files = [drop.source_file for drop, _, _ in batch.files]
                raise IngestDatabaseError(entity_name, files, exc) from None
            del batch
        _refresh_deferred_view(engine, entity_name)
    finally:
        if session is not None:
            total.data_docs = session.finish() or total.data_docs
    if total.dq_warnings or total.dq_critical_failures:
        log.warning(
            "data quality %s: %d critical expectation(s) failed (rows quarantined), "
            "warnings: %s; Data Docs: %s",
            entity_name,
            total.dq_critical_failures,
            ", ".join(total.dq_warnings) or "none",
            total.data_docs,
        )
    log.info(
        "ingest %s: %d file(s), %d rows in, %d loaded, %d quarantined %s",
        entity_name,
        total.files,
        total.rows_in,
        total.rows_loaded,
        total.rows_quarantined,
        dict(sorted(total.rules.items())),
    )
    if total.rejected:
        raise IngestError(entity_name, total.rejected)
    return total
