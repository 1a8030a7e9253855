"""Which model a date's scoring or monitoring uses: what was decided for that date.

A date that already has rows (any shard) keeps the model version recorded on them: a
rerun reproduces the date even after a later promotion. A date never run uses the
champion as of that date (``registry.champion_as_of``), never today's alias. The choice
is reported with ids and counts only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nplpipeline.model.registry import (
    DEFAULT_MODEL_NAME,
    LoadedModel,
    ModelIntegrityError,
    champion_as_of,
    load_version,
)
from nplpipeline.warehouse.engine import begin

RECORDED = "recorded_on_date"  # the date's rows name the version: a rerun keeps it
AS_OF = "champion_as_of_date"  # a date never run: the champion promoted for it


class AmbiguousModelError(ModelIntegrityError):
    """A date's rows name more than one model version: a rerun cannot tell which one was
    decided. Delete the date's rows to rescore it deliberately."""


@dataclass(frozen=True)
class ModelChoice:
    """The version a date uses and why; ``recorded_rows`` counts the rows naming it."""

    name: str
    version: str
    reason: str
    effective_as_of: str | None = None
    basis: str | None = None
    recorded_rows: int = 0

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)


def recorded_versions(
    engine: Engine, table: sa.Table, as_of: dt.date
) -> dict[tuple[str, str], int]:
    """(model name, version) -> rows of ``table`` on ``as_of``; empty when it never ran.
    A table without ``model_name`` holds the pipeline's model only."""
    c = table.c
    keys = [c.model_name, c.model_version] if "model_name" in c else [c.model_version]
    query = sa.select(*keys, sa.func.count()).where(c.as_of_date == as_of).group_by(*keys)
    with begin(engine) as conn:
        if not sa.inspect(conn).has_table(table.name):
            return {}
        rows = conn.execute(query).all()
    if len(keys) == 1:
        rows = [(DEFAULT_MODEL_NAME, *row) for row in rows]
    return {(str(n), str(v)): int(k) for n, v, k in rows}


def choose_model(
    tracking_uri: str,
    recorded: dict[tuple[str, str], int],
    as_of: dt.date,
    name: str = DEFAULT_MODEL_NAME,
) -> ModelChoice:
    """The recorded version when the date has rows, else the champion as of the date."""
    if len(recorded) > 1:
        ids = ", ".join(f"{n} v{v}" for n, v in sorted(recorded))
        raise AmbiguousModelError(
            f"the rows of {as_of} name {len(recorded)} model versions ({ids}); delete the"
            " date's rows to rescore it deliberately"
        )
    if recorded:
        ((recorded_name, version), rows) = next(iter(recorded.items()))
        return ModelChoice(recorded_name, version, RECORDED, recorded_rows=rows)
    promotion = champion_as_of(tracking_uri, name, as_of)
    return ModelChoice(
        name, promotion.version, AS_OF, promotion.effective.isoformat(), promotion.basis
    )


def pinned_model(
    engine: Engine, table: sa.Table, as_of: dt.date, tracking_uri: str
) -> tuple[LoadedModel, ModelChoice]:
    """The model ``as_of`` uses (verified like every champion), and why."""
    choice = choose_model(tracking_uri, recorded_versions(engine, table, as_of), as_of)
    return load_version(tracking_uri, choice.name, choice.version), choice
