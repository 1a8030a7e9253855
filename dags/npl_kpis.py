"""
### NPL KPIs, performance review and the management report

After each day's worklists: rebuilds the star schema (`dim_*`, `fact_account_day`,
`fact_action`) and the KPI marts (`mart_kpi` long-form KPIs with numerators and
denominators, `mart_plan_tracking` recovery by tier against the plan's targets,
`mart_roll_rates`, `mart_npl_trend`, `mart_vintage_curves`, collector / team and agency
scorecards, `mart_experiment_uplift` with confidence intervals, `mart_roi`) and
`mart_nba_comparison` (the learned policy's arm against the static arm, with CIs), then
writes the monthly management report (HTML with charts) to `var/reports/` on month ends,
or whenever asked (`report` param). The Collections dashboard in the Airflow UI reads
the same marts. Every table is replaced for its date: reruns and backfills are safe.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from airflow.sdk import Param, get_current_context

from nplpipeline.orchestration.assets import KPI_MARTS, WORKLISTS
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import tables

MARTS = (
    "fact_account_day",
    "mart_kpi",
    "mart_plan_tracking",
    "mart_npl_trend",
    "mart_collector_scorecard",
    "mart_agency_scorecard",
    "mart_experiment_uplift",
    "mart_roi",
)


@npl_dag(
    "npl_kpis",
    schedule=WORKLISTS,
    tags=["report"],
    doc_md=__doc__,
    params={"report": Param(False, type="boolean", description="write the report on any day")},
)
def npl_kpis() -> None:
    @npl_task(
        inlets=[WORKLISTS],
        outlets=[KPI_MARTS],
        reads=tables(
            "int_delinquency_snapshot", "int_account_scores", "act_treatment_plan", "act_worklist"
        ),
        writes=tables(*MARTS),
    )
    def build_kpis(as_of) -> dict[str, object]:
        from nplpipeline.report.marts.stage import run_kpis

        return run_kpis(as_of)

    @npl_task(
        reads=tables(
            "act_treatment_plan", "raw_repayments", "raw_collection_actions", "raw_agencies",
            "act_agency_commissions",
        ),
        writes=tables("mart_nba_comparison"),
    )  # fmt: skip
    def build_nba_comparison(as_of) -> dict[str, object]:
        from nplpipeline.report.nba.stage import run_nba_comparison

        return run_nba_comparison(as_of)

    @npl_task(inlets=[KPI_MARTS], reads=tables("mart_kpi", "mart_plan_tracking"))
    def management_report(as_of) -> str | None:
        from nplpipeline.report.dashboard.report import write_report_if_due

        written = write_report_if_due(as_of, get_current_context()["params"].get("report"))
        return None if written is None else str(written)

    build_kpis() >> build_nba_comparison() >> management_report()


npl_kpis()
