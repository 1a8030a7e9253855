"""Keep the validation store and Data Docs from growing without bound.

Every ingest batch adds a Great Expectations validation result and a Data Docs page per
suite. GX never deletes them, and Data Docs slow down badly past a few thousand
validations, so a task keeps the newest ``keep`` results of each suite (the
``NPL_GX_KEEP_RESULTS`` setting), deletes the older results through the GX store and
their Data Docs pages, and rebuilds the docs index. The warehouse's ``ops_dq_results``
keeps every run's outcomes: only GX's own copies are pruned.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class PruneResult:
    """Counts per suite (no values): what was kept and what was deleted."""

    keep: int
    kept: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    pages_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_time(key: Any) -> Any:
    return key.run_id.run_time


def _docs_page(gx_dir: Path, site: str, key: Any) -> Path:
    """The Data Docs page GX renders for one validation result (same key layout)."""
    suite, run_name, run_time, batch = key.to_tuple()
    folder = gx_dir / "uncommitted" / "data_docs" / site / "validations"
    return folder / suite / run_name / run_time / f"{batch}.html"


def _remove_page(page: Path) -> bool:
    if not page.is_file():
        return False
    page.unlink()
    for parent in (page.parent, page.parent.parent):  # empty run_time / run_name folders
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    return True


def prune_suite(context: Any, gx_dir: Path, keys: list[Any], keep: int) -> tuple[int, int]:
    """Delete all but the newest ``keep`` of one suite's result ``keys`` and their pages
    (the caller holds the GX lock); returns (results deleted, pages deleted)."""
    from nplpipeline.validate.gx_runner import DOCS_SITE

    store = context.validation_results_store
    old = sorted(keys, key=_run_time, reverse=True)[keep:]
    pages = 0
    for key in old:
        store.remove_key(key)
        pages += _remove_page(_docs_page(gx_dir, DOCS_SITE, key))
    return len(old), pages


def suite_keys(context: Any) -> dict[str, list[Any]]:
    """Every stored validation result key, by suite name."""
    by_suite: dict[str, list[Any]] = defaultdict(list)
    for key in context.validation_results_store.list_keys():
        by_suite[key.expectation_suite_identifier.name].append(key)
    return by_suite


def rebuild_index(context: Any, newest: Any) -> None:
    """Re-render the Data Docs index (and one page), not every kept page: GX renders a
    page per result when given no resources, which grows with the retention window."""
    from nplpipeline.validate.gx_runner import DOCS_SITE

    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[newest])


def prune_validations(gx_dir: Path, keep: int) -> PruneResult:
    """Delete all but the newest ``keep`` validation results (and pages) of each suite."""
    from nplpipeline.validate.gx_runner import gx_context

    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    result = PruneResult(keep=keep)
    gx_dir = Path(gx_dir).resolve()
    if not (gx_dir / "great_expectations.yml").is_file():
        return result  # no GX project yet: nothing to prune, and none is created
    with gx_context(gx_dir) as context:
        by_suite = suite_keys(context)
        for suite, keys in sorted(by_suite.items()):
            deleted, pages = prune_suite(context, gx_dir, keys, keep)
            result.kept[suite] = len(keys) - deleted
            result.deleted[suite] = deleted
            result.pages_deleted += pages
        if any(result.deleted.values()):  # the index still lists the deleted pages
            newest = max((k for keys in by_suite.values() for k in keys), key=_run_time)
            rebuild_index(context, newest)
    log.info("GX retention in %s: %s", gx_dir, result.as_dict())
    return result


def run_validation_retention(settings: Any | None = None) -> dict[str, Any]:
    """The pruning task: ``NPL_GX_KEEP_RESULTS`` newest results per suite in ``NPL_GX_DIR``."""
    from nplpipeline.settings import get_settings

    settings = settings or get_settings()
    return prune_validations(settings.gx_dir, settings.gx_keep_results).as_dict()
