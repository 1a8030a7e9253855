"""The ``int_features`` warehouse table, declared on the shared metadata so
``ensure_schema`` creates it with the other tables.

One row per (as_of_date, loan_id); partitioned by as_of_date (replaced per date).
Columns follow ``schema.feature_dtypes`` of the default configuration; a configuration
with other lookback windows has other columns and needs its own table (see
``features_table``). ``ops_feature_builds`` stamps each (date, shard) a build wrote
with what it was built from (see ``builds``).
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.features.config import FeatureConfig
from nplpipeline.features.schema import (
    LABEL_COLUMN,
    LABEL_DATA_DATE_COLUMN,
    feature_dtypes,
)
from nplpipeline.warehouse.tables import metadata

TABLE_NAME = "int_features"
# Double, not Float: sa.Float is a 32-bit REAL in DuckDB and would round money.
_SQL_TYPES = {"int64": sa.BigInteger, "float64": sa.Double, "category": sa.String}


def _columns(config: FeatureConfig) -> list[sa.Column]:
    cols = [
        sa.Column("as_of_date", sa.Date(), primary_key=True),
        sa.Column("loan_id", sa.String(), primary_key=True),
        sa.Column("customer_id", sa.String()),
    ]
    for name, dtype in feature_dtypes(config).items():
        cols.append(sa.Column(name, _SQL_TYPES[dtype]()))
    cols.append(sa.Column(LABEL_COLUMN, sa.Boolean()))  # NULL: horizon not over yet
    cols.append(sa.Column(LABEL_DATA_DATE_COLUMN, sa.Date()))
    return cols


int_features = sa.Table(TABLE_NAME, metadata, *_columns(FeatureConfig()))


def features_table(config: FeatureConfig) -> sa.Table:
    """The table for ``config``: ``int_features`` unless the column set differs, in which
    case a sibling table named after the difference (never an altered int_features)."""
    wanted = [c.name for c in _columns(config)]
    if wanted == [c.name for c in int_features.columns]:
        return int_features
    suffix = "_".join(
        [
            "p" + "-".join(map(str, config.payment_windows_days)),
            "c" + "-".join(map(str, config.contact_windows_days)),
            f"l{config.dpd_lag_months}",
            f"r{config.roll_months}",
        ]
    )
    name = f"{TABLE_NAME}_{suffix}"
    if name in metadata.tables:
        return metadata.tables[name]
    return sa.Table(name, metadata, *_columns(config))


# One stamp per (as-of date, features table, shard) a build wrote, written in the
# transaction that replaced those rows: what they were built from (``features.builds``).
feature_builds = sa.Table(
    "ops_feature_builds",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("features_table", sa.String(), primary_key=True),
    sa.Column("shard_count", sa.Integer(), primary_key=True),
    sa.Column("shard_index", sa.Integer(), primary_key=True),
    sa.Column("build_key", sa.String(), nullable=False),  # feature code, config, policy
    sa.Column("inputs_key", sa.String(), nullable=False),  # the loads the raw rows came from
    sa.Column("data_date", sa.Date()),  # latest drop loaded: what the labels looked up to
    sa.Column("customers_as_of", sa.Date(), nullable=False),  # the customers' cut
    sa.Column("rows", sa.BigInteger(), nullable=False),
    sa.Column("built_at", sa.DateTime(), nullable=False),
)
