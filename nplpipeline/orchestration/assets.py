"""Airflow Assets for what the pipeline publishes, so downstream DAGs run on fresh data."""

from __future__ import annotations

from airflow.sdk import Asset

from nplpipeline.contract import ENTITIES
from nplpipeline.warehouse.tables import delinquency_snapshot, raw_table_name

RAW_ASSETS: dict[str, Asset] = {
    entity: Asset(name=raw_table_name(entity), uri=f"npl://warehouse/{raw_table_name(entity)}")
    for entity in ENTITIES
}

DELINQUENCY_SNAPSHOT = Asset(
    name=delinquency_snapshot.name, uri=f"npl://warehouse/{delinquency_snapshot.name}"
)
