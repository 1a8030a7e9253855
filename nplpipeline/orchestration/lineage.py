"""What each task reads and writes, declared next to its wiring, for OpenLineage.

A DAG file names a task's datasets with these small specs; when the task finishes, the
DAG factory's operator turns them into OpenLineage datasets with schema, row-count and
version facets (``lineage_facets``), which the ``apache-airflow-providers-openlineage``
listener sends through ``get_openlineage_facets_on_complete``. Only the standard library
is imported here: DAG files import this module at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass

from nplpipeline.contract import LOAD_ORDER

MODEL_NAME = "npl_recovery_model"


@dataclass(frozen=True)
class Table:
    """A warehouse table; partitioned tables report their as-of partition's rows."""

    name: str


@dataclass(frozen=True)
class LandingDrops:
    """An entity's drops in the landing zone (``<landing>/<entity>/<date>/``)."""

    entity: str


@dataclass(frozen=True)
class Outbox:
    """A file bundle in the outbox: ``crm`` worklists or ``agencies`` exports."""

    kind: str


@dataclass(frozen=True)
class RegisteredModel:
    """The MLflow registered model; the version the task used or registered."""

    name: str = MODEL_NAME


DatasetSpec = Table | LandingDrops | Outbox | RegisteredModel


@dataclass(frozen=True)
class Lineage:
    """A task's inputs and outputs."""

    reads: tuple[DatasetSpec, ...] = ()
    writes: tuple[DatasetSpec, ...] = ()


def tables(*names: str) -> tuple[Table, ...]:
    return tuple(Table(n) for n in names)


def ingest_writes(entity: str) -> tuple[Table, ...]:
    """What loading ``entity`` writes: its raw table and the load's bookkeeping, and for an
    entity with SCD-2 history that history and the current view's backlog."""
    from nplpipeline.warehouse.tables import HISTORY_ENTITIES

    names = [f"raw_{entity}", "ops_load_audit", "ops_quarantine", "ops_dq_results"]
    if entity in HISTORY_ENTITIES:
        names += [f"raw_{entity}_history", "ops_current_view_backlog"]
    return tables(*names)


def landing_drops(*entities: str) -> tuple[LandingDrops, ...]:
    """The named entities' drops; every entity's, in the contract's load order, by default."""
    return tuple(LandingDrops(e) for e in entities or LOAD_ORDER)
