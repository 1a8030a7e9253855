"""Running an entity's Great Expectations suite on one ingest batch (GX Core 1.x).

Flow per batch: PII shape-masked copy of the typed frame (:func:`nplpipeline.privacy.mask_pii`
-- Data Docs and stored results show sample unexpected values, so GX must never see real
names, phones or IDs) -> helper columns (see :mod:`nplpipeline.validate.suites`) -> a
checkpoint of a file-backed GX context rooted at ``gx_dir`` -> per-expectation outcomes
for the warehouse and static Data Docs under ``gx_dir/uncommitted/data_docs/local_site``.

The data source, dataframe asset, batch definition, suite, validation definition and
checkpoint are created on first use and reused (updated) on every later run; the suite
is always re-read from ``suites_dir`` (the reviewed JSON in the repository is the source
of truth, whatever the GX store holds).

Nothing here decides a row's fate: quarantine is the business of ``rules.py``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
import numpy as np
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
)

from nplpipeline.contract import ENTITIES
from nplpipeline.privacy import mask_pii
from nplpipeline.validate.rules import REFERENCES, RuleContext
from nplpipeline.validate.suites import (
    CRITICAL,
    DROP_END,
    ROW_COUNT_PARAMS,
    SOURCE_FILE,
    WARNING,
    format_helpers,
    load_suite,
    reference_helpers,
    suite_name,
    suite_path,
)

log = logging.getLogger(__name__)
for _name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
    logging.getLogger(_name).setLevel(logging.ERROR)

DATASOURCE = "nplpipeline_ingest"
BATCH_DEFINITION = "whole_batch"
DOCS_SITE = "local_site"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default ``str``


@dataclass(frozen=True)
class ExpectationOutcome:
    """One row of the warehouse results table (counts and names only: no values)."""

    rule: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    element_count: int
    unexpected_count: int
    unexpected_percent: float


@dataclass(frozen=True)
class SuiteRun:
    entity: str
    suite: str
    success: bool  # every expectation passed (warnings included)
    critical_failures: int  # failed expectations of severity "critical"
    warnings: int  # failed expectations of severity "warning"
    outcomes: list[ExpectationOutcome]
    data_docs_index: str | None  # file:// URL of the Data Docs index, when built


# -- the batch GX sees ----------------------------------------------------------------


def gx_frame(
    entity_name: str,
    typed: pd.DataFrame,
    drop_dates: pd.Series,
    known: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """The masked frame with the helper columns the suite refers to.

    ``known[rule]`` (True = fine) is required for every rule of
    ``suites.reference_helpers``: a suite that silently skipped its reference checks would
    read as a pass. A row whose referencing column is empty counts as fine (``rules.py``
    skips it too).
    """
    entity = ENTITIES[entity_name]
    present = [c for c in entity.columns if c in typed.columns]
    columns = [*present, SOURCE_FILE] if SOURCE_FILE in typed.columns else present
    out = mask_pii(typed[columns], entity)
    for helper, source, pattern in format_helpers(entity_name).values():
        if source in typed:  # on the real values, as rules.py does; GX gets the verdict only
            values = typed[source]
            matches = values.astype("string").str.match(pattern).fillna(False)
            out[helper] = matches.to_numpy(bool) | values.isna().to_numpy(bool)
    n = len(out)
    text = {f.name for f in entity.fields if f.type == "string"} | {SOURCE_FILE}
    for col in out.columns:
        out[col] = _gx_dtype(out[col], col in text)
    drop_end = pd.to_datetime(pd.Series(drop_dates).to_numpy()).astype("datetime64[us]")
    out[DROP_END] = _gx_dtype(pd.Series(drop_end + pd.Timedelta(days=1), index=out.index), False)
    helpers = reference_helpers(entity_name)
    missing = sorted(set(helpers) - set(known))
    if missing:
        raise ValueError(f"{entity_name}: no known[...] lookup for {', '.join(missing)}")
    for rule, (helper, source) in helpers.items():
        flags = known[rule]
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != (n,):
            raise ValueError(f"known[{rule!r}] has {flags.shape} values for {n} rows")
        empty = typed[source].isna().to_numpy(bool) if source in typed else np.ones(n, bool)
        out[helper] = flags | empty
    return out.reset_index(drop=True)


def _gx_dtype(values: pd.Series, text: bool) -> pd.Series:
    """``values`` in the dtype GX's pandas metrics take their fast, vectorised paths on.

    - Text (``text``: a contract string column, masked or not) becomes Arrow-backed
      ``str`` with NaN for missing: GX calls ``isna`` on a column for nearly every
      metric and ``duplicated`` factorizes each column of a compound key, and on object
      arrays both walk Python objects (most of the checkpoint's time); on Arrow strings
      ``isna`` reads the validity bitmap. Missing is NaN (as None before, GX's JSON
      writes null), not ``pd.NA``, whose truth value is an error.
    - Nullable booleans become object with None, nullable integers float64 (exact
      below 2**53): ``ColumnValuesBetween`` is vectorised only for int/float columns.
    - Naive datetimes become datetime64[ns]: ``ColumnValuesBetween`` calls Python per
      row on any other unit (coerce types datetimes as microseconds). A column with a
      value outside the nanosecond range (1677-09-21 .. 2262-04-11, e.g. a 9999-12-31
      sentinel) keeps its unit: clipping could merge distinct values into false
      duplicates, so GX takes its per-row path there, same verdicts, slower.
    """
    dtype = values.dtype
    if text and (isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype)):
        return values.astype(_TEXT)
    if isinstance(dtype, (pd.StringDtype, pd.BooleanDtype)):
        return values.astype(object).where(values.notna(), None)
    if pd.api.types.is_integer_dtype(dtype) and pd.api.types.is_extension_array_dtype(dtype):
        return values.astype("float64")
    if pd.api.types.is_datetime64_dtype(dtype) and dtype != np.dtype("datetime64[ns]"):
        low, high = values.min(), values.max()
        if pd.isna(low) or (low >= pd.Timestamp.min and high <= pd.Timestamp.max):
            return values.astype("datetime64[ns]")
    return values


def known_from_context(
    entity_name: str, typed: pd.DataFrame, ctx: RuleContext
) -> dict[str, np.ndarray]:
    """``known`` for :func:`run_suite` from the same lookups ``rules.check_rows`` uses.

    ``orphan:<col>``: the parent key is loaded or held in quarantine (a child of a held
    parent is not an orphan: it waits); ``parent_quarantined:<col>``: not waiting on a
    held parent; ``reversal_target``: ``reversal_of`` names a known repayment. A lookup
    the context does not hold is left out, and :func:`run_suite` then refuses the batch.
    """
    known: dict[str, np.ndarray] = {}
    for col, parent in REFERENCES.get(entity_name, {}).items():
        keys = ctx.parent_keys.get(parent)
        if keys is None:
            continue
        values = typed[col]
        found = values.isin(keys).to_numpy(bool)
        held = ctx.quarantined_parent_keys.get(parent)
        waiting = np.zeros(len(typed), bool)
        if held is not None and len(held):
            waiting = ~found & values.isin(held).to_numpy(bool)
        known[f"orphan:{col}"] = found | waiting
        known[f"parent_quarantined:{col}"] = ~waiting
    if entity_name == "repayments" and ctx.repayment_ids is not None:
        known["reversal_target"] = typed["reversal_of"].isin(ctx.repayment_ids).to_numpy(bool)
    return known


# -- the GX context ---------------------------------------------------------------------


@contextmanager
def _locked(gx_dir: Path) -> Iterator[None]:
    """One writer at a time: Airflow may validate several entities at once, and GX keeps
    data sources in one YAML file and rebuilds one Data Docs index."""
    gx_dir.mkdir(parents=True, exist_ok=True)
    with open(gx_dir / ".nplpipeline.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _context(gx_dir: Path):
    """File-backed context rooted at ``gx_dir`` (created on first use), quiet and offline."""
    first = not (gx_dir / "great_expectations.yml").exists()
    context = gx.get_context(mode="file", context_root_dir=str(gx_dir))
    if first or context.variables.progress_bars is None or context.variables.analytics_enabled:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.analytics_enabled = False
        context.variables.save()
    return context


@contextmanager
def gx_context(gx_dir: Path) -> Iterator[gx.data_context.AbstractDataContext]:
    """The project's GX context, held under the checkpoints' lock (e.g. for retention)."""
    with _locked(Path(gx_dir)):
        yield _context(Path(gx_dir))


def _batch_definition(context, entity_name: str):
    try:
        source = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError, LookupError):
        source = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(entity_name)
    except LookupError:
        asset = source.add_dataframe_asset(entity_name)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _checkpoint(context, entity_name: str, suite: gx.ExpectationSuite):
    """The suite's checkpoint, without actions: Data Docs are built by :func:`_update_docs`
    after retention, so the index never lists more than the retention window."""
    batch_definition = _batch_definition(context, entity_name)
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[definition],
            actions=[],
            result_format=RESULT_FORMAT,
        )
    )


def _suite_page_stale(gx_dir: Path, suite: str, source: Path) -> bool:
    """The suite's Data Docs page is missing or older than the suite's reviewed JSON."""
    page = gx_dir / "uncommitted" / "data_docs" / DOCS_SITE / "expectations" / f"{suite}.html"
    return not page.is_file() or page.stat().st_mtime_ns < source.stat().st_mtime_ns


def _update_docs(
    context, gx_dir: Path, result_ids: list, suite: str, source: Path, keep: int | None
) -> None:
    """Pages of this session's results and the index, over at most ``keep`` results of
    this suite; the suite's own page only when its JSON changed (same page every run).

    GX's index page reads every stored result of every suite on each build, so an
    unpruned store makes each build slower than the last; pruning first, under the same
    lock, bounds it. Results pruned here get no page (they would be deleted anyway)."""
    from nplpipeline.validate.retention import prune_suite, suite_keys

    if keep is not None:
        prune_suite(context, gx_dir, suite_keys(context).get(suite, []), keep)
        stored = set(suite_keys(context).get(suite, []))
        result_ids = [r for r in result_ids if r in stored]
    resources = list(result_ids)
    if _suite_page_stale(gx_dir, suite, source):
        resources.append(ExpectationSuiteIdentifier(name=suite))
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=resources)


def data_docs_index(gx_dir: Path) -> Path | None:
    """The Data Docs index page under ``gx_dir``, if any run has built it."""
    index = Path(gx_dir) / "uncommitted" / "data_docs" / DOCS_SITE / "index.html"
    return index if index.is_file() else None


# -- running ----------------------------------------------------------------------------


def run_suite(
    entity: str,
    typed: pd.DataFrame,
    *,
    drop_dates: pd.Series,
    known: dict[str, np.ndarray],
    suites_dir: Path,
    gx_dir: Path,
    run_name: str,
    expected_rows: tuple[int, int] | None = None,
    build_docs: bool = True,
    keep: int | None = None,
) -> SuiteRun:
    """Validate one typed batch of ``entity`` with its suite from ``suites_dir``.

    ``drop_dates``: per row, the extract date of its drop (``typed["_drop_date"]``).
    ``known``: rule -> boolean per row, True = the reference was found (see
    ``suites.reference_helpers``). ``expected_rows``: bounds for the row-count warning
    (from the trailing average of recent drops); None = any count passes (0, unbounded).
    ``keep``: this suite's results kept in the GX store (older ones and their pages are
    deleted before the docs are built, see ``retention``); None keeps every result.
    A load of many batches uses one :class:`GxSession` instead (docs built once).
    """
    session = GxSession(gx_dir, suites_dir, keep)
    run = session.run(entity, typed, drop_dates, known, run_name, expected_rows)
    if not build_docs:
        return run
    index = session.finish()
    return dataclasses.replace(run, data_docs_index=index)


class GxSession:
    """One load's Great Expectations state, reused by every batch it validates.

    The context, suite, validation definition and checkpoint are set up once per
    entity (the fixed cost of a checkpoint call), and Data Docs are built once, in
    :meth:`finish`, over the results this session kept: a history load of hundreds of
    batches renders at most ``keep`` pages and one index instead of an index per batch.
    Every batch is still validated by GX and its result stored."""

    def __init__(self, gx_dir: Path, suites_dir: Path, keep: int | None) -> None:
        self.gx_dir = Path(gx_dir).resolve()
        self.suites_dir = Path(suites_dir)
        self.keep = keep
        self._context = None
        self._checkpoints: dict[str, Any] = {}
        self._results: dict[str, list[Any]] = {}  # entity -> result ids of this session

    def _checkpoint_for(self, entity: str):
        if self._context is None:
            self._context = _context(self.gx_dir)
        if entity not in self._checkpoints:
            suite = load_suite(self.suites_dir, entity)
            self._checkpoints[entity] = _checkpoint(self._context, entity, suite)
        return self._checkpoints[entity]

    def run(
        self,
        entity: str,
        typed: pd.DataFrame,
        drop_dates: pd.Series,
        known: dict[str, np.ndarray],
        run_name: str,
        expected_rows: tuple[int, int] | None = None,
    ) -> SuiteRun:
        """Validate one batch; its result is stored, its Data Docs page waits for finish."""
        frame = gx_frame(entity, typed, drop_dates, known)
        low, high = expected_rows if expected_rows is not None else (0, None)
        parameters = {ROW_COUNT_PARAMS[0]: low, ROW_COUNT_PARAMS[1]: high}
        with _locked(self.gx_dir):
            result = self._checkpoint_for(entity).run(
                batch_parameters={"dataframe": frame},
                expectation_parameters=parameters,
                run_id=gx.RunIdentifier(run_name=run_name),
            )
        del frame
        ((result_id, validation),) = result.run_results.items()
        self._results.setdefault(entity, []).append(result_id)
        return _suite_run(entity, validation)

    def finish(self) -> str | None:
        """Prune each validated suite to ``keep`` results and build their Data Docs pages
        and the index once; returns the index's file:// URL."""
        if not self._results:
            return None
        with _locked(self.gx_dir):
            for entity, ids in self._results.items():
                source = suite_path(self.suites_dir, entity)
                _update_docs(self._context, self.gx_dir, ids, suite_name(entity), source, self.keep)
        self._results = {}
        index = data_docs_index(self.gx_dir)
        return index.as_uri() if index else None


def _suite_run(entity: str, validation) -> SuiteRun:
    helpers = {h: source for h, source in reference_helpers(entity).values()}
    helpers.update({h: source for h, source, _ in format_helpers(entity).values()})
    outcomes = [_outcome(r, helpers) for r in validation.results]
    failed = [o for o in outcomes if not o.success]
    return SuiteRun(
        entity=entity,
        suite=suite_name(entity),
        success=not failed,
        critical_failures=sum(o.severity == CRITICAL for o in failed),
        warnings=sum(o.severity == WARNING for o in failed),
        outcomes=outcomes,
        data_docs_index=None,
    )


def _outcome(result, helpers: Mapping[str, str]) -> ExpectationOutcome:
    config = result.expectation_config
    meta = config.meta or {}
    kwargs = config.kwargs
    column = kwargs.get("column")
    if column is None and "column_list" in kwargs:
        column = ",".join(kwargs["column_list"])
    elif column is None and "column_B" in kwargs:
        column = kwargs["column_B"]  # not_future: the checked column, not the helper
    column = helpers.get(column, column)  # _known__loan_id -> loan_id
    stats = result.result or {}
    percent = stats.get("unexpected_percent")
    severity = meta.get("severity") or str(getattr(config, "severity", CRITICAL))
    if result.exception_info and result.exception_info.get("raised_exception"):
        # a GX error is a failed check, never a silent pass; the message holds no values
        log.warning(
            "GX could not evaluate %s (%s): %s",
            meta.get("rule"),
            config.type,
            result.exception_info.get("exception_message"),
        )
    return ExpectationOutcome(
        rule=str(meta.get("rule", config.type)),
        expectation=config.type,
        column=column,
        severity=severity,
        success=bool(result.success),
        element_count=int(stats.get("element_count") or stats.get("observed_value") or 0),
        unexpected_count=int(stats.get("unexpected_count") or 0),
        unexpected_percent=0.0 if percent is None or math.isnan(percent) else float(percent),
    )
