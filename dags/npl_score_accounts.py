"""
### NPL scoring and tiering

After each delinquency snapshot: builds the day's features, loads the `champion` model
by alias (no champion, or one that fails to load, fails the run: never a stale scoring
passed off as fresh), scores every delinquent account, attaches its top three reasons
in a collector's words and sets the plan's tier (mild 轻度 / severe 重度 / extremely
severe 极重度) by the policy file. Replaces the day's rows of `int_account_scores`.
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
    @npl_task(
        inlets=[RECOVERY_MODEL, DELINQUENCY_SNAPSHOT],
        outlets=[ACCOUNT_SCORES],
        reads=(RegisteredModel(), *tables("int_delinquency_snapshot")),
        writes=tables("int_features", "int_account_scores"),
    )
    def score(as_of) -> dict[str, object]:
        from nplpipeline.score.stage import run_scoring

        return run_scoring(as_of)

    score()


npl_score_accounts()
