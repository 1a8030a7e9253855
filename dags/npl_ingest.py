"""
### NPL ingest

Loads every pending landing-zone drop of the eight source entities dated on or before
the run's as-of date into the warehouse's `raw_*` tables: typed by the data contract,
upserted by key (latest `updated_at` wins), bad rows quarantined in `ops_quarantine`
with every rule they broke, and `rows in = loaded + quarantined` recorded per file in
`ops_load_audit`. A file that cannot be read fails its entity's task naming the file.

Parents load before children so referential checks see them. Each entity publishes an
Asset carrying the as-of date; `npl_delinquency` runs when loans, installments and
repayments are fresh.
"""

from __future__ import annotations

from airflow.sdk import Param, cross_downstream, dag, get_current_context, task

from nplpipeline.orchestration.assets import RAW_ASSETS
from nplpipeline.orchestration.defaults import START_DATE, default_args

# Parents first: each level's entities only reference entities of earlier levels.
LOAD_LEVELS: tuple[tuple[str, ...], ...] = (
    ("agencies", "collectors", "customers"),
    ("loans",),
    ("installments", "repayments", "collection_actions", "satisfaction"),
)


@dag(
    dag_id="npl_ingest",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["npl", "ingest"],
    doc_md=__doc__,
    params={"as_of": Param(None, type=["null", "string"], format="date")},
)
def npl_ingest() -> None:
    previous = None
    for level in LOAD_LEVELS:
        tasks = [_load_task(entity) for entity in level]
        if previous:
            cross_downstream(previous, tasks)
        previous = tasks


def _load_task(entity: str):
    @task(task_id=f"load_{entity}", outlets=[RAW_ASSETS[entity]])
    def load() -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from nplpipeline.ingest.loader import IngestError
        from nplpipeline.ingest.stage import run_ingest_entity
        from nplpipeline.orchestration.run_dates import resolve_as_of

        context = get_current_context()
        as_of = resolve_as_of(context)
        try:
            counts = run_ingest_entity(entity, as_of)
        except IngestError as exc:
            # A rejected drop will be rejected again: fail now, don't retry.
            raise AirflowFailException(str(exc)) from None
        context["outlet_events"][RAW_ASSETS[entity]].extra = {
            "as_of": as_of.isoformat(),
            "rows_loaded": counts["rows_loaded"],
        }
        return counts

    return load()


npl_ingest()
