"""
### NPL KPIs, performance review and the management report

After each day's worklists: rebuilds the star schema (`dim_*`, `fact_account_day`,
`fact_action`) and the KPI marts (`mart_kpi` long-form KPIs with numerators and
denominators, `mart_plan_tracking` recovery by tier against the plan's targets,
`mart_roll_rates`, `mart_npl_trend`, `mart_vintage_curves`, collector / team and agency
scorecards, `mart_experiment_uplift` with confidence intervals, `mart_roi`), then
writes the monthly management report (HTML with charts) to `var/reports/` on month ends,
or whenever asked (`report` param). The Collections dashboard in the Airflow UI reads
the same marts. Every table is replaced for its date: reruns and backfills are safe.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from nplpipeline.orchestration.assets import KPI_MARTS, WORKLISTS
from nplpipeline.orchestration.defaults import START_DATE, default_args


def _as_of():
    from nplpipeline.orchestration.run_dates import resolve_as_of

    return resolve_as_of(get_current_context())


@dag(
    dag_id="npl_kpis",
    schedule=WORKLISTS,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["npl", "report"],
    doc_md=__doc__,
    params={
        "as_of": Param(None, type=["null", "string"], format="date"),
        "report": Param(False, type="boolean", description="write the report on any day"),
    },
)
def npl_kpis() -> None:
    @task(inlets=[WORKLISTS], outlets=[KPI_MARTS])
    def build_kpis() -> dict[str, object]:
        from nplpipeline.report.marts.stage import run_kpis

        return run_kpis(_as_of())

    @task(inlets=[KPI_MARTS])
    def management_report() -> str | None:
        import calendar

        from nplpipeline.report.dashboard.report import write_monthly_report
        from nplpipeline.settings import get_settings

        as_of = _as_of()
        month_end = as_of.day == calendar.monthrange(as_of.year, as_of.month)[1]
        if not (month_end or get_current_context()["params"].get("report")):
            return None
        folder = get_settings().home / "reports"
        return str(write_monthly_report(as_of, folder / f"npl-management-{as_of:%Y-%m}.html"))

    build_kpis() >> management_report()


npl_kpis()
