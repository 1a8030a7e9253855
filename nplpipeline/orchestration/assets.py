"""Airflow Assets for what the pipeline publishes, so downstream DAGs run on fresh data."""

from __future__ import annotations

from airflow.sdk import Asset

from nplpipeline.contract import ENTITIES
from nplpipeline.warehouse.tables import delinquency_snapshot, raw_table_name


def _table_asset(table_name: str) -> Asset:
    # plain str: SQLAlchemy's quoted_name (a str subclass) cannot cross Airflow's msgpack
    # channel between the DAG processor and its parser
    name = str.__str__(table_name)
    return Asset(name=name, uri=f"npl://warehouse/{name}")


RAW_ASSETS: dict[str, Asset] = {entity: _table_asset(raw_table_name(entity)) for entity in ENTITIES}

DELINQUENCY_SNAPSHOT = _table_asset(delinquency_snapshot.name)

FEATURES = _table_asset("int_features")

# The registered model: its `champion` alias is what scoring loads.
RECOVERY_MODEL = Asset(name="npl_recovery_model", uri="npl://mlflow/npl_recovery_model")

ACCOUNT_SCORES = _table_asset("int_account_scores")
