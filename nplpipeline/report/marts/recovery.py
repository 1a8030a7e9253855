"""Recovery marts of the finished cohort: plan tracking, recovery KPIs, arm uplift, ROI.

The experiment arm of each account is the one recorded in ``act_treatment_plan`` on
the cohort's date -- what was decided then -- never re-derived from today's policy, so
changing the arm shares later does not re-credit the past to other arms.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nplpipeline.report import kpis as k
from nplpipeline.report.marts.rows import kpi_rows

RECOVERY_WINDOW_DAYS = 90
TRACKING_COLUMNS = [
    "tier", "target_recovery_rate", "actual_recovery_rate", "overdue_at_entry", "repaid",
    "accounts",
]  # fmt: skip
ARM_PAIRS = (("champion", "control"), ("challenger", "champion"))


@dataclass(frozen=True)
class RecoveryMarts:
    plan_tracking: pd.DataFrame
    uplift: pd.DataFrame  # empty without a cohort
    roi: pd.DataFrame
    kpi: list[pd.DataFrame]


def cohort_accounts(cohort: pd.DataFrame, repayments: pd.DataFrame) -> pd.DataFrame:
    """Per account of the cohort: what it repaid in the window, with its recorded arm
    (``strategy_arm`` carried from the cohort frame; NA when no plan was recorded)."""
    entering = k.snapshot_cohort(cohort)
    return k.account_recoveries(
        entering, repayments, window_days=RECOVERY_WINDOW_DAYS, cap_at_overdue=True
    )


def _recovery_kpis(as_of: dt.date, frames: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    rows = []
    for dim, frame in frames.items():
        rows.append(
            kpi_rows(
                frame,
                as_of,
                "month",
                "recovery_rate",
                "repaid",
                "overdue_at_entry",
                "recovery_rate",
                "ratio",
                dim,
            )
        )
        rows.append(
            kpi_rows(
                frame,
                as_of,
                "month",
                "net_recovery_rate",
                "net_repaid",
                "overdue_at_entry",
                "net_recovery_rate",
                "ratio",
                dim,
            )
        )
    return rows  # fmt: skip


def _roi(as_of: dt.date, uplift: pd.DataFrame, plan) -> pd.DataFrame:
    """Economics: extra recovery measured as champion-over-control uplift, per month."""
    extra = 0.0
    if not uplift.empty:
        extra = float(np.nansum(uplift.loc[uplift["arm_a"] == "champion", "incremental_amount"]))
    monthly = extra / (RECOVERY_WINDOW_DAYS / 30.0)
    econ = plan.economics
    roi = k.roi_payback(econ.investment, monthly, econ.monthly_running_cost)
    return pd.DataFrame(
        {
            "as_of_date": [as_of],
            "investment": [econ.investment],
            "extra_recovery_to_date": [extra],
            "monthly_extra_recovery": [monthly],
            "monthly_cost": [econ.monthly_running_cost],
            "payback_months": roi["payback_months"].to_numpy()[:1],
            "target_payback_months": [econ.payback_months],
            "target_extra_recovery": [econ.extra_recovery],
        }
    )


def build_recovery(
    as_of: dt.date, cohort: pd.DataFrame, repayments: pd.DataFrame, plan
) -> RecoveryMarts:
    """Pure: ``cohort`` is the scored cohort with its recorded ``strategy_arm``."""
    if cohort.empty:
        empty = pd.DataFrame(columns=TRACKING_COLUMNS)
        return RecoveryMarts(empty, pd.DataFrame(), _roi(as_of, pd.DataFrame(), plan), [])
    accounts = cohort_accounts(cohort, repayments)
    overall = k.summarise_recoveries(accounts)
    by_tier = k.summarise_recoveries(accounts, by=["tier"])
    by_product = k.summarise_recoveries(accounts, by=["product"])
    targets = {"overall": plan.recovery_rate.overall, **plan.recovery_rate.by_tier}
    tracking = pd.concat([overall.assign(tier="overall"), by_tier], ignore_index=True)
    tracking["target_recovery_rate"] = tracking["tier"].map(targets)
    tracking = tracking.rename(columns={"recovery_rate": "actual_recovery_rate"})
    armed = accounts[accounts["strategy_arm"].notna()]
    uplift = pd.concat(
        [k.incremental_recovery(armed, arm_a=a, arm_b=b, by=["tier"]) for a, b in ARM_PAIRS],
        ignore_index=True,
    )
    frames = {"overall": overall, "tier": by_tier, "product": by_product}
    return RecoveryMarts(tracking, uplift, _roi(as_of, uplift, plan), _recovery_kpis(as_of, frames))
