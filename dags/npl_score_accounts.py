"""
### NPL scoring and tiering

After each delinquency snapshot: builds the day's features, loads the `champion` model
by alias (no champion, or one that fails to load, fails the run: never a stale scoring
passed off as fresh), scores every delinquent account, attaches its top three reasons
in a collector's words and sets the plan's tier (mild 轻度 / severe 重度 / extremely
severe 极重度) by the policy file. Replaces the day's rows of `int_account_scores`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from nplpipeline.orchestration.assets import ACCOUNT_SCORES, DELINQUENCY_SNAPSHOT, RECOVERY_MODEL
from nplpipeline.orchestration.defaults import START_DATE, default_args


@dag(
    dag_id="npl_score_accounts",
    schedule=DELINQUENCY_SNAPSHOT,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["npl", "score"],
    doc_md=__doc__,
    params={"as_of": Param(None, type=["null", "string"], format="date")},
)
def npl_score_accounts() -> None:
    @task(inlets=[RECOVERY_MODEL, DELINQUENCY_SNAPSHOT], outlets=[ACCOUNT_SCORES])
    def score() -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from nplpipeline.model.registry import NoChampionError
        from nplpipeline.orchestration.run_dates import resolve_as_of
        from nplpipeline.score.stage import run_scoring

        context = get_current_context()
        as_of = resolve_as_of(context)
        try:
            summary = run_scoring(as_of)
        except NoChampionError as exc:
            raise AirflowFailException(str(exc)) from None
        context["outlet_events"][ACCOUNT_SCORES].extra = {"as_of": as_of.isoformat()}
        return summary

    score()


npl_score_accounts()
