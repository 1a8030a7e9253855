"""Airflow Assets for what the pipeline publishes, so downstream DAGs run on fresh data."""

from __future__ import annotations

from airflow.sdk import Asset

from nplpipeline.contract import ENTITIES
from nplpipeline.warehouse.tables import raw_table_name


def _table_asset(table_name: str) -> Asset:
    # plain str: SQLAlchemy's quoted_name (a str subclass) cannot cross Airflow's msgpack
    # channel between the DAG processor and its parser
    name = str.__str__(table_name)
    return Asset(name=name, uri=f"npl://warehouse/{name}")


RAW_ASSETS: dict[str, Asset] = {entity: _table_asset(raw_table_name(entity)) for entity in ENTITIES}

# Names as literals: importing a stage's table module would load its package (numpy,
# pandas) while the DAG processor parses a file.
DELINQUENCY_SNAPSHOT = _table_asset("int_delinquency_snapshot")

FEATURES = _table_asset("int_features")

# The registered model: its `champion` alias is what scoring loads.
RECOVERY_MODEL = Asset(name="npl_recovery_model", uri="npl://mlflow/npl_recovery_model")

ACCOUNT_SCORES = _table_asset("int_account_scores")

# What the act stage decides each day: plans, agency placements, worklists, CRM delivery.
TREATMENT_PLAN = _table_asset("act_treatment_plan")
AGENCY_PLACEMENTS = _table_asset("act_agency_placements")
WORKLISTS = _table_asset("act_worklist")
CRM_DELIVERY = Asset(name="npl_crm_delivery", uri="npl://crm/worklist-batches")

# The KPI star schema and marts BI tools and the dashboard read.
KPI_MARTS = _table_asset("mart_kpi")
