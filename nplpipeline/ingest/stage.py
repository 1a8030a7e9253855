"""The ingest stage as one call, for the CLI and for Airflow tasks alike."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nplpipeline.contract import LOAD_ORDER
from nplpipeline.ingest.loader import (
    EntityLoad,
    IngestDatabaseError,
    IngestOptions,
    ingest_entity,
)
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import opened


def run_ingest_entity(
    entity: str, up_to: dt.date | None, settings: Settings | None = None
) -> dict[str, object]:
    """Load one entity's pending drops; returns counts (no row values: safe for XCom)."""
    settings = settings or get_settings()
    with opened(settings.warehouse_url) as engine:
        if settings.source_url and up_to is not None:
            try:
                _pull_from_source(settings, engine, entity, up_to)
            except sa.exc.SQLAlchemyError as exc:  # the driver's text may quote row values
                raise IngestDatabaseError(entity, ["source database pull"], exc) from None
        options = IngestOptions(
            encoding=settings.source_encoding,
            chunk_rows=settings.ingest_chunk_rows,
            max_bad_share=settings.ingest_max_bad_share,
            gx_dir=settings.gx_dir,
            suites_dir=settings.expectations_dir,
            gx_keep_results=settings.gx_keep_results,
        )
        result: EntityLoad = ingest_entity(engine, settings.landing_dir, entity, up_to, options)
    return dataclasses.asdict(result)


def _pull_from_source(settings: Settings, warehouse: Engine, entity: str, as_of: dt.date) -> None:
    """Land the source database's changes as a drop, so the file path loads them."""
    from nplpipeline.ingest.source_db import extract_to_landing

    with opened(settings.source_url) as source:
        extract_to_landing(
            source,
            warehouse,
            settings.landing_dir,
            entity,
            as_of,
            schema=settings.source_schema,
            lookback=settings.source_lookback,
        )


def run_ingest(
    up_to: dt.date | None, entities: tuple[str, ...] = LOAD_ORDER, settings: Settings | None = None
) -> list[dict[str, object]]:
    """Every entity in dependency order (parents first, so orphan checks see them)."""
    return [run_ingest_entity(entity, up_to, settings) for entity in entities]
