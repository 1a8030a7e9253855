"""Warehouse tables, declared once in SQLAlchemy Core for every dialect.

Layers follow dbt's convention: ``raw_*`` hold source entities as loaded (one row per
key, latest version), ``ops_*`` hold the pipeline's own bookkeeping (load audit,
quarantine), ``int_*`` hold computed intermediate tables partitioned by as-of date.
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.contract import ENTITIES, Entity, Field

metadata = sa.MetaData()

MONEY = sa.Numeric(18, 2)
RATE = sa.Numeric(9, 6)
_RATE_COLUMNS = {"annual_interest_rate", "commission_rate"}

# Columns the ingest adds to every raw row: where it came from and its version.
LINEAGE_COLUMNS = ("_version", "_drop_date", "_source_file", "_row_number")


def sql_type(field: Field) -> sa.types.TypeEngine:
    if field.type == "decimal":
        return RATE if field.name in _RATE_COLUMNS else MONEY
    return {
        "string": sa.String(),
        "int": sa.BigInteger(),
        "bool": sa.Boolean(),
        "date": sa.Date(),
        "timestamp": sa.DateTime(),
    }[field.type]


def raw_table_name(entity: str) -> str:
    return f"raw_{entity}"


def _raw_table(entity: Entity) -> sa.Table:
    columns = [
        sa.Column(f.name, sql_type(f), primary_key=f.name in entity.key) for f in entity.fields
    ]
    columns += [
        sa.Column("_version", sa.DateTime(), nullable=False),
        sa.Column("_drop_date", sa.Date(), nullable=False),
        sa.Column("_source_file", sa.String(), nullable=False),
        sa.Column("_row_number", sa.BigInteger(), nullable=False),
    ]
    return sa.Table(raw_table_name(entity.name), metadata, *columns)


RAW_TABLES: dict[str, sa.Table] = {name: _raw_table(e) for name, e in ENTITIES.items()}

load_audit = sa.Table(
    "ops_load_audit",
    metadata,
    sa.Column("entity", sa.String(), primary_key=True),
    sa.Column("source_file", sa.String(), primary_key=True),
    sa.Column("checksum", sa.String(), nullable=False),
    sa.Column("drop_date", sa.Date(), nullable=False),
    sa.Column("rows_in", sa.BigInteger(), nullable=False),
    sa.Column("rows_loaded", sa.BigInteger(), nullable=False),
    sa.Column("rows_quarantined", sa.BigInteger(), nullable=False),
    sa.Column("rows_superseded", sa.BigInteger(), nullable=False),
    sa.Column("loaded_at", sa.DateTime(), nullable=False),
    sa.CheckConstraint("rows_in = rows_loaded + rows_quarantined", name="ck_rows_conserved"),
)

dq_results = sa.Table(
    "ops_dq_results",
    metadata,
    sa.Column("run_id", sa.String(), primary_key=True),  # one GX checkpoint run
    sa.Column("entity", sa.String(), primary_key=True),
    sa.Column("rule", sa.String(), primary_key=True),
    sa.Column("suite", sa.String(), nullable=False),
    sa.Column("expectation", sa.String(), nullable=False),
    sa.Column("column_name", sa.String()),
    sa.Column("severity", sa.String(), nullable=False),  # critical | warning
    sa.Column("success", sa.Boolean(), nullable=False),
    sa.Column("element_count", sa.BigInteger(), nullable=False),
    sa.Column("unexpected_count", sa.BigInteger(), nullable=False),
    sa.Column("unexpected_percent", sa.Double(), nullable=False),
    sa.Column("drop_dates", sa.String(), nullable=False),  # first..last drop in the batch
    sa.Column("validated_at", sa.DateTime(), nullable=False),
)

watermarks = sa.Table(
    "ops_source_watermark",
    metadata,
    sa.Column("entity", sa.String(), primary_key=True),
    sa.Column("watermark", sa.DateTime(), nullable=False),  # newest change pulled
    sa.Column("as_of_date", sa.Date(), nullable=False),  # the run that moved it
)

quarantine = sa.Table(
    "ops_quarantine",
    metadata,
    sa.Column("entity", sa.String(), primary_key=True),
    sa.Column("source_file", sa.String(), primary_key=True),
    sa.Column("row_number", sa.BigInteger(), primary_key=True),
    sa.Column("drop_date", sa.Date(), nullable=False),
    sa.Column("record_key", sa.String()),
    sa.Column("rules", sa.String(), nullable=False),  # every rule the row broke, ';'-joined
    sa.Column("raw_values", sa.String(), nullable=False),  # JSON, PII masked
)

delinquency_snapshot = sa.Table(
    "int_delinquency_snapshot",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),
    sa.Column("loan_id", sa.String(), primary_key=True),
    sa.Column("customer_id", sa.String()),
    sa.Column("product", sa.String()),
    sa.Column("status", sa.String()),
    sa.Column("dpd", sa.Integer(), nullable=False),
    sa.Column("bucket", sa.String(), nullable=False),
    sa.Column("regulatory_grade", sa.String(), nullable=False),
    sa.Column("is_npl", sa.Boolean(), nullable=False),
    sa.Column("oldest_unpaid_due_date", sa.Date()),
    sa.Column("overdue_principal", MONEY, nullable=False),
    sa.Column("overdue_interest", MONEY, nullable=False),
    sa.Column("overdue_fees", MONEY, nullable=False),
    sa.Column("overdue_amount", MONEY, nullable=False),
    sa.Column("outstanding_principal", MONEY, nullable=False),
    sa.Column("total_paid", MONEY, nullable=False),
    sa.Column("last_payment_date", sa.Date()),
    sa.Column("installments_due", sa.Integer(), nullable=False),
    sa.Column("installments_overdue", sa.Integer(), nullable=False),
    sa.Column("months_on_book", sa.Integer(), nullable=False),
    sa.Column("on_book", sa.Boolean(), nullable=False),
)

sa.Index("ix_raw_repayments_loan", RAW_TABLES["repayments"].c.loan_id)
sa.Index("ix_raw_loans_customer", RAW_TABLES["loans"].c.customer_id)
sa.Index("ix_quarantine_drop", quarantine.c.entity, quarantine.c.drop_date)


def ensure_schema(bind: sa.Engine | sa.Connection) -> None:
    """Create what is missing; never drops or alters (migrations are explicit)."""
    # tables declared beside their stage register themselves on the shared metadata
    import nplpipeline.act.delivery.tables
    import nplpipeline.act.placement.tables
    import nplpipeline.act.tables
    import nplpipeline.features.tables
    import nplpipeline.model.tables
    import nplpipeline.report.marts.tables
    import nplpipeline.score.tables  # noqa: F401

    metadata.create_all(bind, checkfirst=True)
