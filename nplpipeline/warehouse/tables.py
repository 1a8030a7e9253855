"""Warehouse tables, declared once in SQLAlchemy Core for every dialect.

Layers follow dbt's convention: ``raw_*`` hold source entities as loaded (one row per
key, latest version: the *current view*); ``raw_*_history`` keep every version of the
entities whose rows change over time (loans, customers) as SCD type 2 with a validity
interval, so any stage can ask for the state "as of D"; ``ops_*`` hold the pipeline's
own bookkeeping (load audit, quarantine); ``int_*`` hold computed intermediate tables
partitioned by as-of date, declared beside their stage and collected by the registry
in ``nplpipeline.schema``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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

# Entities whose rows change in place at the source (a loan's status, a customer's
# flags): every version is kept beside the current row.
HISTORY_ENTITIES = ("loans", "customers")


def history_table_name(entity: str) -> str:
    return f"raw_{entity}_history"


def _history_table(entity: Entity) -> sa.Table:
    """Every loaded version of ``entity``: valid from its ``_version`` (updated_at) until the
    next version's, ordered by (_version, _drop_date, _source_file, _row_number) -- the same
    order the current view's upsert uses, so the open version is always the current row."""
    columns = [
        sa.Column(f.name, sql_type(f), primary_key=f.name in entity.key) for f in entity.fields
    ]
    columns += [
        sa.Column("_version", sa.DateTime(), primary_key=True),
        sa.Column("_drop_date", sa.Date(), primary_key=True),
        sa.Column("_source_file", sa.String(), primary_key=True),
        sa.Column("_row_number", sa.BigInteger(), primary_key=True),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("valid_to", sa.DateTime()),  # NULL: still the current version
    ]
    return sa.Table(history_table_name(entity.name), metadata, *columns)


HISTORY_TABLES: dict[str, sa.Table] = {
    name: _history_table(ENTITIES[name]) for name in HISTORY_ENTITIES
}

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

# Files of a history entity whose versions are in its history but not yet in its current
# view: a load defers the view to one refresh at its end (``warehouse.current_view``).
current_view_backlog = sa.Table(
    "ops_current_view_backlog",
    metadata,
    sa.Column("entity", sa.String(), primary_key=True),
    sa.Column("source_file", sa.String(), primary_key=True),
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

sa.Index("ix_raw_repayments_loan", RAW_TABLES["repayments"].c.loan_id)
sa.Index("ix_raw_loans_customer", RAW_TABLES["loans"].c.customer_id)
for _name, _hist in HISTORY_TABLES.items():
    sa.Index(
        f"ix_{_hist.name}_valid", *(_hist.c[k] for k in ENTITIES[_name].key), _hist.c.valid_from
    )
sa.Index("ix_quarantine_drop", quarantine.c.entity, quarantine.c.drop_date)


def ensure_schema(bind: sa.Engine | sa.Connection) -> None:
    """Create the tables registered so far that are missing, and add missing nullable
    columns to tables that exist; never drops, renames or retypes.

    Tables declared beside their stage register themselves on ``metadata`` when their
    module is imported; ``nplpipeline.schema.ensure_schema`` (the registry above the
    stages) imports every one of them first. This module imports no stage. The additive
    step lets a warehouse created by an earlier release take a release that adds an
    optional column (e.g. a new CRM payload field) without a hand-written migration.
    """
    metadata.create_all(bind, checkfirst=True)
    add_missing_columns(bind)


def add_missing_columns(bind: sa.Engine | sa.Connection) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN`` for each declared nullable column an existing table
    lacks (same statement on DuckDB and PostgreSQL); returns ``table.column`` added.

    A missing NOT NULL column cannot be added to a table with rows without a default:
    that is a real migration, so it fails loudly instead of guessing.
    """
    added: list[str] = []
    with _connection(bind) as conn:
        present = existing_columns(conn)
        for table in metadata.sorted_tables:
            if table.name not in present:
                continue
            for column in table.columns:
                if column.name in present[table.name]:
                    continue
                if not column.nullable:
                    raise RuntimeError(
                        f"{table.name}.{column.name} is NOT NULL and missing: migrate by hand"
                    )
                type_sql = column.type.compile(dialect=conn.dialect)
                name = conn.dialect.identifier_preparer.quote(column.name)
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {name} {type_sql}"))
                added.append(f"{table.name}.{column.name}")
    return added


def existing_columns(conn: sa.Connection) -> dict[str, set[str]]:
    """Columns per table of the current schema, from information_schema (which DuckDB
    and PostgreSQL both answer; duckdb-engine's inspector does not reflect columns)."""
    rows = conn.execute(
        sa.text(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
        )
    )
    present: dict[str, set[str]] = {}
    for table_name, column_name in rows:
        present.setdefault(table_name, set()).add(column_name)
    return present


@contextlib.contextmanager
def _connection(bind: sa.Engine | sa.Connection) -> Iterator[sa.Connection]:
    if isinstance(bind, sa.Connection):
        yield bind
        return
    with bind.begin() as conn:
        yield conn
