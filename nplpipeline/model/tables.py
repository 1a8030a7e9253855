"""Warehouse tables the model stages write."""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import metadata

model_monitoring = sa.Table(
    "ops_model_monitoring",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("subject", sa.String(), primary_key=True),  # score, a feature, or auc
    sa.Column("metric", sa.String(), primary_key=True),  # psi | realised_auc
    sa.Column("model_version", sa.String(), nullable=False),
    sa.Column("value", sa.Double()),
    sa.Column("reference", sa.Double()),
    sa.Column("band", sa.String()),
    sa.Column("status", sa.String(), nullable=False),  # ok | watch | alert | n/a
    sa.Column("n", sa.BigInteger(), nullable=False),
)
