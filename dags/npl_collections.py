"""
### NPL collections: plan, place, worklists, CRM

After each day's scoring:

1. **plan_treatments**: each scored account gets its experiment arm (champion /
   challenger / control, stable per loan), its strategy step by DPD, an offer
   (flexible plan or hardship route) and legal readiness -- `act_treatment_plan`.
2. **place_with_agencies**: accounts routed to agencies are recalled / allocated across
   active agencies (expected net recovery after commission, capacity, provinces, a
   randomised share); one export per agency in the outbox; commissions on what they
   collected -- `act_agency_placements`, `act_agency_commissions`.
3. **build_worklists**: planned contacts pass the fair-collection guardrails against the
   contact history, cadence and collectors' capacity -- `act_worklist`, and every
   held-back contact with its reason in `act_suppression_log`; an independent re-count
   audits the scheduled worklist (`act_compliance_report`) and any breach fails the task
   at once, so nothing is delivered.
4. **deliver_to_crm**: worklist files (CSV with BOM + Parquet + manifest) to the outbox,
   then an idempotent batched push to the CRM (`npl_crm` HTTP connection) with a
   delivery ledger: a retry or rerun sends only what the CRM has not acknowledged.

Every task replaces its as-of date's rows: rerunning a date changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from nplpipeline.orchestration.assets import (
    ACCOUNT_SCORES,
    AGENCY_PLACEMENTS,
    CRM_DELIVERY,
    TREATMENT_PLAN,
    WORKLISTS,
)
from nplpipeline.orchestration.defaults import START_DATE, default_args


def _as_of():
    from nplpipeline.orchestration.run_dates import resolve_as_of

    return resolve_as_of(get_current_context())


@dag(
    dag_id="npl_collections",
    schedule=ACCOUNT_SCORES,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["npl", "act"],
    doc_md=__doc__,
    params={"as_of": Param(None, type=["null", "string"], format="date")},
)
def npl_collections() -> None:
    @task(inlets=[ACCOUNT_SCORES], outlets=[TREATMENT_PLAN])
    def plan_treatments() -> dict[str, object]:
        from nplpipeline.act.stage import run_treatment_plan

        return run_treatment_plan(_as_of())

    @task(inlets=[TREATMENT_PLAN], outlets=[AGENCY_PLACEMENTS])
    def place_with_agencies() -> dict[str, object]:
        from nplpipeline.act.placement.stage import run_placements

        return run_placements(_as_of())

    @task(inlets=[TREATMENT_PLAN, AGENCY_PLACEMENTS], outlets=[WORKLISTS])
    def build_worklists() -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from nplpipeline.act.guardrail_audit import GuardrailBreachError
        from nplpipeline.act.stage import run_worklists

        as_of = _as_of()
        try:
            summary = run_worklists(as_of)
        except GuardrailBreachError as exc:  # same inputs, same breach: never retry
            raise AirflowFailException(str(exc)) from None
        get_current_context()["outlet_events"][WORKLISTS].extra = {"as_of": as_of.isoformat()}
        return summary

    # More, slower retries than the default: a CRM outage should heal without a human,
    # and the delivery ledger makes every retry send only what is still unacknowledged.
    @task(
        inlets=[WORKLISTS],
        outlets=[CRM_DELIVERY],
        retries=5,
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        execution_timeout=timedelta(hours=1),  # a hung CRM must not hold a worker slot
    )
    def deliver_to_crm() -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from nplpipeline.act.delivery.stage import DeliveryIncompleteError, run_crm_delivery

        try:
            return run_crm_delivery(_as_of())
        except DeliveryIncompleteError as exc:
            if exc.permanent:  # the CRM rejected a batch (4xx): retrying cannot help
                raise AirflowFailException(str(exc)) from None
            raise

    plan_treatments() >> place_with_agencies() >> build_worklists() >> deliver_to_crm()


npl_collections()
