"""Turn a task's declared lineage into OpenLineage datasets with facets.

Runs once when a task completes (from ``StageOperator.get_openlineage_facets_on_complete``):
schema from the warehouse's own table definitions, row counts of the as-of partition (or
of the whole table where it is not partitioned by date), file counts and sizes from the
outbox manifests and landing drops, and the MLflow model version the task used. Only
counts and column names are reported, never row values.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    input_statistics_input_dataset,
    output_statistics_output_dataset,
    schema_dataset,
)
from sqlalchemy.engine import make_url

from nplpipeline.orchestration.lineage import (
    DatasetSpec,
    LandingDrops,
    Lineage,
    Outbox,
    RegisteredModel,
    Table,
)
from nplpipeline.settings import Settings, get_settings

PARTITION_COLUMN = "as_of_date"
# Every module that defines warehouse tables on the shared MetaData.
TABLE_MODULES = (
    "nplpipeline.warehouse.tables",
    "nplpipeline.features.tables",
    "nplpipeline.score.tables",
    "nplpipeline.model.tables",
    "nplpipeline.act.tables",
    "nplpipeline.act.placement.tables",
    "nplpipeline.act.delivery.tables",
    "nplpipeline.report.marts.tables",
)


class _Stats:
    """Row count, byte size and file count of one dataset for one run."""

    def __init__(self, rows: int | None = None, size: int | None = None, files: int | None = None):
        self.rows, self.size, self.files = rows, size, files


def warehouse_table(name: str) -> sa.Table:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    from nplpipeline.warehouse.tables import metadata

    return metadata.tables[name]


def warehouse_namespace(url: str) -> tuple[str, str]:
    """OpenLineage namespace and name prefix of the warehouse (no credentials)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
        return f"postgres://{host}", f"{parsed.database}.public"
    return f"{backend}://{Path(parsed.database or '').resolve()}", "main"


def _schema_facet(columns: list[tuple[str, str]]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in columns]
    )


def _table(spec: Table, as_of: dt.date, settings: Settings, engine: sa.Engine) -> tuple:
    table = warehouse_table(spec.name)
    query = sa.select(sa.func.count()).select_from(table)
    partitioned = PARTITION_COLUMN in table.c
    if partitioned:
        query = query.where(table.c[PARTITION_COLUMN] == as_of)
    with engine.connect() as conn:
        exists = sa.inspect(conn).has_table(table.name)
        rows = int(conn.execute(query).scalar_one()) if exists else 0
    namespace, prefix = warehouse_namespace(settings.warehouse_url)
    facets: dict[str, Any] = {"schema": _schema_facet([(c.name, str(c.type)) for c in table.c])}
    if partitioned:  # the partition is the version of the table the task read or wrote
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=as_of.isoformat()
        )
    return namespace, f"{prefix}.{table.name}", facets, _Stats(rows=rows)


def _landing(spec: LandingDrops, as_of: dt.date, settings: Settings, result: Any) -> tuple:
    from nplpipeline.contract import ENTITIES
    from nplpipeline.ingest.landing import list_drops

    drops = list_drops(settings.landing_dir, spec.entity, as_of)
    rows = None
    if isinstance(result, dict):  # ingest reports rows read, the simulator rows written
        rows = result.get("rows_in", (result.get("rows_written") or {}).get(spec.entity))
    entity = ENTITIES[spec.entity]
    facets = {"schema": _schema_facet([(f.name, str(f.type)) for f in entity.fields])}
    stats = _Stats(rows=rows, size=sum(d.path.stat().st_size for d in drops), files=len(drops))
    path = (settings.landing_dir / spec.entity).resolve()
    return "file", str(path), facets, stats


def _outbox_manifests(settings: Settings, kind: str, as_of: dt.date) -> list[dict[str, Any]]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(settings.outbox_dir)
    pattern = f"{root}/crm/{as_of}" if kind == "crm" else f"{root}/{kind}/*/{as_of}"
    manifests = []
    for folder in sorted(fs.glob(pattern)):
        path = f"{folder}/manifest.json"
        if fs.exists(path):
            with fs.open(path, "r", encoding="utf-8") as handle:
                manifests.append(json.load(handle))
    return manifests


def _outbox(spec: Outbox, as_of: dt.date, settings: Settings) -> tuple:
    manifests = _outbox_manifests(settings, spec.kind, as_of)
    files = [f for m in manifests for f in m.get("files", [])]
    rows = sum(f["rows"] for f in files if str(f["name"]).endswith(".parquet"))
    stats = _Stats(rows=rows, size=sum(int(f["bytes"]) for f in files), files=len(files))
    facets = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(as_of))
    }
    outbox = settings.outbox_dir
    namespace, name = (
        ("file", str(Path(outbox).resolve()))
        if "://" not in outbox
        else (outbox.split("://", 1)[0], outbox.split("://", 1)[1])
    )
    return namespace, f"{name.rstrip('/')}/{spec.kind}", facets, stats


def _model(spec: RegisteredModel, settings: Settings, result: Any) -> tuple:
    version = None
    if isinstance(result, dict):
        version = result.get("model_version") or result.get("version")
    facets: dict[str, Any] = {}
    if version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(version)
        )
    uri = settings.mlflow_tracking_uri
    namespace = make_url(uri).render_as_string(hide_password=True) if "://" in uri else uri
    return namespace, f"registered_models/{spec.name}", facets, _Stats()


def _describe(spec: DatasetSpec, as_of: dt.date, result: Any, context: dict[str, Any]) -> tuple:
    settings: Settings = context["settings"]
    if isinstance(spec, Table):
        if "engine" not in context:
            from nplpipeline.warehouse.engine import create_warehouse_engine

            context["engine"] = create_warehouse_engine(settings.warehouse_url)
        return _table(spec, as_of, settings, context["engine"])
    if isinstance(spec, LandingDrops):
        return _landing(spec, as_of, settings, result)
    if isinstance(spec, Outbox):
        return _outbox(spec, as_of, settings)
    return _model(spec, settings, result)


def _result_as_of(result: Any, as_of: dt.date) -> dt.date:
    """A task that works on another date than its run's (a mapped month-end) says so."""
    if isinstance(result, dict) and result.get("as_of"):
        return dt.date.fromisoformat(str(result["as_of"])[:10])
    return as_of


def datasets(lineage: Lineage, as_of: dt.date, result: Any) -> tuple[list, list]:
    """OpenLineage input and output datasets of one finished task."""
    as_of = _result_as_of(result, as_of)
    context: dict[str, Any] = {"settings": get_settings()}
    inputs, outputs = [], []
    try:
        for spec in lineage.reads:
            namespace, name, facets, stats = _describe(spec, as_of, result, context)
            statistics = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=stats.rows, size=stats.size, fileCount=stats.files
            )
            inputs.append(
                InputDataset(
                    namespace, name, facets=facets, inputFacets={"inputStatistics": statistics}
                )
            )
        for spec in lineage.writes:
            namespace, name, facets, stats = _describe(spec, as_of, result, context)
            statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=stats.rows, size=stats.size, fileCount=stats.files
            )
            outputs.append(
                OutputDataset(
                    namespace, name, facets=facets, outputFacets={"outputStatistics": statistics}
                )
            )
    finally:
        if "engine" in context:
            context["engine"].dispose()
    return inputs, outputs


def operator_lineage(lineage: Lineage, as_of: dt.date | None, result: Any) -> Any:
    """The provider's ``OperatorLineage`` for a finished task (empty if it never ran)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    if as_of is None:
        return OperatorLineage()
    inputs, outputs = datasets(lineage, as_of, result)
    return OperatorLineage(inputs=inputs, outputs=outputs)
