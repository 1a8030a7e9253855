"""
### NPL scoring and tiering

After each delinquency snapshot: builds the day's features, loads the model decided
for the as-of date -- the version on the date's rows when it was scored before, else
the champion as of that date, never today's alias (none, or one that fails to load,
fails the run: never a stale scoring passed off as fresh) --, scores every delinquent
account, attaches its top three reasons in a collector's words and sets the plan's tier
(mild 轻度 / severe 重度 / extremely severe 极重度) by the policy file. Replaces the
day's rows of `int_account_scores`.

Sharded: `score` is one mapped task per shard (`NPL_SHARDS`), each building, scoring
and explaining only its accounts; `publish_scores` checks every shard reported, all
with one model version, and that the day has scored accounts, then publishes the asset
once.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from nplpipeline.orchestration.assets import ACCOUNT_SCORES, DELINQUENCY_SNAPSHOT, RECOVERY_MODEL
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import RegisteredModel, tables


@npl_dag("npl_score_accounts", schedule=DELINQUENCY_SNAPSHOT, tags=["score"], doc_md=__doc__)
def npl_score_accounts() -> None:
    # No champion (NoChampionError) fails at once: never a stale scoring passed off as fresh.
    @npl_task
    def shards() -> list[dict[str, int]]:
        from nplpipeline.orchestration.sharding import shard_plan

        return shard_plan()

    @npl_task(
        inlets=[RECOVERY_MODEL, DELINQUENCY_SNAPSHOT],
        reads=(RegisteredModel(), *tables("int_delinquency_snapshot")),
        writes=tables("int_features", "ops_feature_builds", "int_account_scores"),
    )
    def score(as_of, shard: dict[str, int]) -> dict[str, object]:
        from nplpipeline.score.stage import run_scoring
        from nplpipeline.warehouse.shards import Shard

        return run_scoring(as_of, shard=Shard.parse(shard))

    @npl_task(outlets=[ACCOUNT_SCORES])
    def publish_scores(as_of, results) -> dict[str, object]:
        from nplpipeline.score.stage import gather_scores

        return gather_scores(as_of, results)  # one model version for the date

    publish_scores(score.expand(shard=shards()))


npl_score_accounts()
