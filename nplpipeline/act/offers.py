"""Offers: a flexible repayment plan a mild account can afford, else a hardship route.

The plan spreads the overdue amount over the fewest instalments that keep each one
within ``affordability_share`` of monthly income (at least ``min_instalments``, at most
``max_instalments``, no instalment below ``min_instalment_amount``). Where even the
longest plan is unaffordable, or income is zero, the honest offer is a hardship
assessment, not a plan the borrower will break. Missing income gets the longest plan:
the lowest burden we can offer without knowing.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from nplpipeline.config.strategy import FlexiblePlanOffer


def flexible_plans(
    overdue: pd.Series, monthly_income: pd.Series, run_date: dt.date, terms: FlexiblePlanOffer
) -> pd.DataFrame:
    """Offer type, instalment count and amount, first due date, per account."""
    arrears = overdue.astype(float).to_numpy()
    income = pd.to_numeric(monthly_income, errors="coerce").to_numpy(dtype=float)
    budget = terms.affordability_share * income
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.ceil(arrears / budget)
    n = np.clip(np.where(np.isnan(income), terms.max_instalments, needed), 1, None)
    n = np.maximum(n, terms.min_instalments)
    if terms.min_instalment_amount > 0:
        most = np.maximum(np.floor(arrears / terms.min_instalment_amount), 1)
        n = np.minimum(n, most)
    unaffordable = ~np.isnan(income) & ((income <= 0) | (needed > terms.max_instalments))
    n = np.minimum(n, terms.max_instalments).astype(int)
    amount = np.ceil(arrears / n * 100) / 100  # round up to the cent: n instalments cover it
    plan = pd.DataFrame(
        {
            "offer_type": np.where(unaffordable, "hardship_assessment", "flexible_plan"),
            "offer_instalments": pd.array(np.where(unaffordable, 0, n), dtype="Int64"),
            "offer_instalment_amount": np.where(unaffordable, np.nan, amount),
            "offer_first_due_date": run_date + dt.timedelta(days=terms.first_due_in_days),
        },
        index=overdue.index,
    )
    plan.loc[unaffordable, "offer_instalments"] = pd.NA
    plan.loc[unaffordable, "offer_first_due_date"] = pd.NaT
    return plan
