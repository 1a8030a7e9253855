"""
### NPL ingest

Loads every pending landing-zone drop of the eight source entities dated on or before
the run's as-of date into the warehouse's `raw_*` tables: typed by the data contract,
upserted by key (latest `updated_at` wins), bad rows quarantined in `ops_quarantine`
with every rule they broke, and `rows in = loaded + quarantined` recorded per file in
`ops_load_audit`. A file that cannot be read fails its entity's task naming the file.

First `wait_for_drop` waits (reschedule mode, `NPL_DROP_WAIT_POKE_SECONDS`, default
300 s) for the source system's completion marker of the day's drop
(`<landing>/_complete/<date>`); if it has not come within
`NPL_DROP_WAIT_TIMEOUT_SECONDS` (default 6 h) the sensor fails and with it the day's
run: a missing day shows red and is never skipped. Parents load before children so
referential checks see them. Each entity publishes an
Asset carrying the as-of date; `npl_delinquency` runs when loans, installments and
repayments are fresh. Afterwards `prune_validation_results` keeps the newest
`NPL_GX_KEEP_RESULTS` (default 30) GX validation results and Data Docs pages per suite.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from airflow.sdk import cross_downstream

from nplpipeline.orchestration.assets import RAW_ASSETS
from nplpipeline.orchestration.defaults import drop_wait_args
from nplpipeline.orchestration.drop_sensor import DropArrivedSensor, day_loaded_gate
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import LandingDrops, ingest_writes

# Parents first: each level's entities only reference entities of earlier levels.
LOAD_LEVELS: tuple[tuple[str, ...], ...] = (
    ("agencies", "collectors", "customers"),
    ("loans",),
    ("installments", "repayments", "collection_actions", "satisfaction"),
)


@npl_dag("npl_ingest", schedule="@daily", tags=["ingest"], doc_md=__doc__)
def npl_ingest() -> None:
    previous = [DropArrivedSensor(task_id="wait_for_drop", **drop_wait_args())]
    for level in LOAD_LEVELS:
        tasks = [_load_task(entity) for entity in level]
        if previous:
            cross_downstream(previous, tasks)
        previous = tasks

    # After every load, even a failed one: the GX store must not grow without bound.
    @npl_task(trigger_rule="all_done")
    def prune_validation_results() -> dict[str, object]:
        from nplpipeline.validate.retention import run_validation_retention

        return run_validation_retention()

    # A leaf that only succeeds when every load did: the run's state follows its leaves,
    # and the all_done prune alone would mark a day whose drop never came "success".
    day_loaded = day_loaded_gate()
    cross_downstream(previous, [prune_validation_results(), day_loaded])


def _load_task(entity: str):
    # A rejected drop (IngestError) will be rejected again: the factory fails it at once.
    @npl_task(
        task_id=f"load_{entity}",
        outlets=[RAW_ASSETS[entity]],
        event_extra=("rows_loaded",),
        reads=(LandingDrops(entity),),
        writes=ingest_writes(entity),
    )
    def load(as_of) -> dict[str, object]:
        from nplpipeline.ingest.stage import run_ingest_entity

        return run_ingest_entity(entity, as_of)

    return load()


npl_ingest()
