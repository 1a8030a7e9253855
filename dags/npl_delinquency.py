"""
### NPL delinquency snapshot

Computes, for every loan on the as-of date, DPD, bucket, regulatory grade, overdue
principal/interest/fees (payment waterfall from the policy file), outstanding
principal, last payment and months on book, and replaces that date's partition of
`int_delinquency_snapshot`. Runs when `npl_ingest` has refreshed loans, installments
and repayments; the as-of date comes from those asset events (or the `as_of` param).

Sharded: `snapshot` is one mapped task per shard (`NPL_SHARDS`, a stable hash of
`loan_id`), each reading and replacing only its loans' rows; `publish_snapshot` checks
that every shard reported and publishes the asset once.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from nplpipeline.orchestration.assets import DELINQUENCY_SNAPSHOT, RAW_ASSETS
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import tables


@npl_dag(
    "npl_delinquency",
    schedule=RAW_ASSETS["loans"] & RAW_ASSETS["installments"] & RAW_ASSETS["repayments"],
    tags=["delinquency"],
    doc_md=__doc__,
)
def npl_delinquency() -> None:
    @npl_task
    def shards() -> list[dict[str, int]]:
        from nplpipeline.orchestration.sharding import shard_plan

        return shard_plan()

    @npl_task(
        reads=tables("raw_loans", "raw_installments", "raw_repayments"),
        writes=tables("int_delinquency_snapshot"),
    )
    def snapshot(as_of, shard: dict[str, int]) -> dict[str, object]:
        from nplpipeline.delinquency.stage import run_delinquency_snapshot
        from nplpipeline.warehouse.shards import Shard

        return run_delinquency_snapshot(as_of, shard=Shard.parse(shard))

    @npl_task(outlets=[DELINQUENCY_SNAPSHOT])
    def publish_snapshot(as_of, results) -> dict[str, object]:
        from nplpipeline.orchestration.sharding import gather

        return gather(as_of, results, ("loans", "delinquent", "npl"))

    publish_snapshot(snapshot.expand(shard=shards()))


npl_delinquency()
