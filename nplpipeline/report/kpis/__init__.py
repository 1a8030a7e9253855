"""The collections KPIs of ``domain.md`` ("Outcomes and KPIs") as pure pandas functions.

Each function takes plain frames whose columns are named as in the warehouse tables
(``raw_*``, ``int_delinquency_snapshot``, ``int_account_scores``, ``act_*``) and returns
a tidy frame: one row per group of the ``by`` dimension columns you pass (tier, product,
province, vintage, collector, team, agency, strategy_arm, ...). Amount-based rates are
primary, count-based ones sit beside them. A zero or missing denominator gives NaN,
never an exception; an empty input gives an overall row of zeros and NaN rates (or no
rows when grouped). Nothing here reads the warehouse or knows about Airflow.

| module | KPIs |
| --- | --- |
| ``repayments`` | repayments as signed flows, reversals netted (used by all below) |
| ``recovery`` | recovery rate, net recovery rate, share of accounts recovered |
| ``cure`` | cure rate by count and balance |
| ``roll_rates`` | roll-rate matrix, roll-forward / back / stay / closed rates |
| ``contact`` | RPC rate, PTP rate, PTP kept rate, complaint rate, satisfaction |
| ``agency`` | liquidation rate, commissions, cost to collect |
| ``portfolio`` | NPL ratio trend, vintage curves |
| ``plan`` | targets vs actuals, arm-vs-arm uplift with CI, ROI, payback |
| ``scorecards`` | collector / team / agency scorecards with a composite rank |
"""

from nplpipeline.report.kpis.agency import (
    agency_commissions,
    agency_liquidation,
    placement_collections,
)
from nplpipeline.report.kpis.contact import (
    collection_complaints,
    complaint_rate,
    contact_rates,
    customer_satisfaction,
    promise_outcomes,
    ptp_kept_rate,
)
from nplpipeline.report.kpis.cure import cure_rates
from nplpipeline.report.kpis.plan import (
    PlanTargets,
    economics_vs_plan,
    incremental_recovery,
    load_plan,
    plan_vs_actual,
    roi_payback,
)
from nplpipeline.report.kpis.portfolio import npl_ratio_trend, vintage_curves
from nplpipeline.report.kpis.recovery import (
    account_recoveries,
    recovery_rates,
    snapshot_cohort,
    summarise_recoveries,
)
from nplpipeline.report.kpis.repayments import repayment_flows
from nplpipeline.report.kpis.roll_rates import roll_rate_matrix, roll_rates
from nplpipeline.report.kpis.scorecards import (
    ScorecardWeights,
    agency_scorecard,
    collector_scorecard,
    composite_rank,
    performer_metrics,
)

__all__ = [
    "PlanTargets",
    "ScorecardWeights",
    "account_recoveries",
    "agency_commissions",
    "agency_liquidation",
    "agency_scorecard",
    "collection_complaints",
    "collector_scorecard",
    "complaint_rate",
    "composite_rank",
    "contact_rates",
    "cure_rates",
    "customer_satisfaction",
    "economics_vs_plan",
    "incremental_recovery",
    "load_plan",
    "npl_ratio_trend",
    "performer_metrics",
    "placement_collections",
    "plan_vs_actual",
    "promise_outcomes",
    "ptp_kept_rate",
    "recovery_rates",
    "repayment_flows",
    "roi_payback",
    "roll_rate_matrix",
    "roll_rates",
    "snapshot_cohort",
    "summarise_recoveries",
    "vintage_curves",
]
