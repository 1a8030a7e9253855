"""
### NPL delinquency snapshot

Computes, for every loan on the as-of date, DPD, bucket, regulatory grade, overdue
principal/interest/fees (payment waterfall from the policy file), outstanding
principal, last payment and months on book, and replaces that date's partition of
`int_delinquency_snapshot`. Runs when `npl_ingest` has refreshed loans, installments
and repayments; the as-of date comes from those asset events (or the `as_of` param).
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from nplpipeline.orchestration.assets import DELINQUENCY_SNAPSHOT, RAW_ASSETS
from nplpipeline.orchestration.defaults import START_DATE, default_args


@dag(
    dag_id="npl_delinquency",
    schedule=RAW_ASSETS["loans"] & RAW_ASSETS["installments"] & RAW_ASSETS["repayments"],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["npl", "delinquency"],
    doc_md=__doc__,
    params={"as_of": Param(None, type=["null", "string"], format="date")},
)
def npl_delinquency() -> None:
    @task(outlets=[DELINQUENCY_SNAPSHOT])
    def snapshot() -> dict[str, object]:
        from nplpipeline.delinquency.stage import run_delinquency_snapshot
        from nplpipeline.orchestration.run_dates import resolve_as_of

        context = get_current_context()
        as_of = resolve_as_of(context)
        counts = run_delinquency_snapshot(as_of)
        context["outlet_events"][DELINQUENCY_SNAPSHOT].extra = {"as_of": as_of.isoformat()}
        return counts

    snapshot()


npl_delinquency()
