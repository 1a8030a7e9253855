"""
### NPL collections: plan, place, worklists, CRM

After each day's scoring:

0. **train_uplift**: every `train_every_days` (uplift policy), the next-best-action
   learners are refitted on the randomised decisions whose horizon has closed, gated
   and kept as a version with its training date; too little data is a logged skip.
1. **plan_treatments**: each scored account gets its experiment arm (champion /
   challenger / control, stable per loan), its strategy step by DPD, an offer
   (flexible plan or hardship route) and legal readiness -- `act_treatment_plan`.
   Accounts of the nba policy arm get the strategy the learned policy trained by that
   date chooses (`act_nba_decisions`); the others the static tier table's.
   One mapped task per shard (`NPL_SHARDS`), each planning only its accounts;
   `publish_plan` checks every shard reported and that the day has a plan.
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

Steps 2-4 need the whole book (agency capacity, caps per phone number across debtors,
collectors' capacity): they run once, after the shards.

Every task replaces its as-of date's rows: rerunning a date changes nothing.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from datetime import timedelta

from nplpipeline.orchestration.assets import (
    ACCOUNT_SCORES,
    AGENCY_PLACEMENTS,
    CRM_DELIVERY,
    TREATMENT_PLAN,
    WORKLISTS,
)
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import Outbox, tables


@npl_dag("npl_collections", schedule=ACCOUNT_SCORES, tags=["act"], doc_md=__doc__)
def npl_collections() -> None:
    @npl_task
    def shards() -> list[dict[str, int]]:
        from nplpipeline.orchestration.sharding import shard_plan

        return shard_plan()

    @npl_task(
        inlets=[ACCOUNT_SCORES],
        reads=tables(
            "act_treatment_plan",
            "act_experiment_arms",
            "act_nba_decisions",
            "int_features",
            "raw_repayments",
            "raw_collection_actions",
            "act_agency_commissions",
        ),
    )
    def train_uplift(as_of) -> dict[str, object]:
        from nplpipeline.uplift.stage import run_scheduled_training

        return run_scheduled_training(as_of)

    @npl_task(
        inlets=[ACCOUNT_SCORES],
        reads=tables("int_account_scores", "int_delinquency_snapshot", "int_features"),
        writes=tables("act_treatment_plan", "act_experiment_arms", "act_nba_decisions"),
    )
    def plan_treatments(as_of, shard: dict[str, int]) -> dict[str, object]:
        from nplpipeline.act.stage import run_treatment_plan
        from nplpipeline.warehouse.shards import Shard

        return run_treatment_plan(as_of, shard=Shard.parse(shard))

    @npl_task(outlets=[TREATMENT_PLAN])
    def publish_plan(as_of, results) -> dict[str, object]:
        from nplpipeline.orchestration.sharding import gather

        return gather(as_of, results, ("accounts", "legal_ready"), require="accounts")

    @npl_task(
        inlets=[TREATMENT_PLAN],
        outlets=[AGENCY_PLACEMENTS],
        reads=tables("act_treatment_plan", "raw_agencies"),
        writes=(*tables("act_agency_placements", "act_agency_commissions"), Outbox("agencies")),
    )
    def place_with_agencies(as_of) -> dict[str, object]:
        from nplpipeline.act.placement.stage import run_placements

        return run_placements(as_of)

    @npl_task(
        inlets=[TREATMENT_PLAN, AGENCY_PLACEMENTS],
        outlets=[WORKLISTS],
        reads=tables(
            "act_treatment_plan",
            "act_agency_placements",
            "raw_collection_actions",
            "raw_collectors",
        ),
        writes=tables("act_worklist", "act_suppression_log", "act_compliance_report"),
    )
    def build_worklists(as_of) -> dict[str, object]:
        from nplpipeline.act.stage import run_worklists

        return run_worklists(as_of)

    # More, slower retries than the default: a CRM outage should heal without a human,
    # and the delivery ledger makes every retry send only what is still unacknowledged.
    # Items the CRM refuses (400/413/422) are isolated in act_crm_rejections and the rest
    # is delivered; an auth or routing refusal (401/403/404) fails at once.
    @npl_task(
        inlets=[WORKLISTS],
        outlets=[CRM_DELIVERY],
        retries=5,
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        execution_timeout=timedelta(hours=1),  # a hung CRM must not hold a worker slot
        reads=tables("act_worklist"),
        writes=(Outbox("crm"), *tables("act_crm_delivery_ledger", "act_crm_rejections")),
    )
    def deliver_to_crm(as_of) -> dict[str, object]:
        from nplpipeline.act.delivery.stage import run_crm_delivery

        return run_crm_delivery(as_of)

    trained = train_uplift()
    planned = plan_treatments.expand(shard=shards())
    trained >> planned
    plan = publish_plan(planned)
    plan >> place_with_agencies() >> build_worklists() >> deliver_to_crm()


npl_collections()
