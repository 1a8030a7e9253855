"""Recovery rate and net recovery rate of a cohort of delinquent accounts.

    recovery rate     = Σ repaid in [entry, entry + window) ÷ Σ overdue balance at entry
    net recovery rate = (Σ repaid − Σ commissions − Σ direct collection cost) ÷ same

"Repaid" is net of reversals (see ``repayments``: a reversal is a negative flow on its
own day, attributed like the repayment it cancels), so an account's window can even net
to less than zero when a payment from before the window bounces inside it. Rates are
ratios of sums (amount-weighted), never means of per-account rates.

Beside the amounts, a count-based rate: the share of cohort accounts *recovered*, i.e.
whose net repayments in the window reach ``recovered_share`` (default 1.0 = the whole
overdue balance at entry, less a 0.005 rounding tolerance). An account that entered with
nothing overdue counts as recovered (0 ≥ 0); a delinquent cohort has none.

Window days are calendar days of ``paid_at``. **Entry** is the first day of the window.
A cohort taken from an end-of-day snapshot on D (``int_delinquency_snapshot``,
``int_account_scores``) already has D's payments inside its overdue balance, so its
window must open on D + 1: ``snapshot_cohort`` does exactly that.

A cohort row is one (account, entry): the same loan in two monthly cohorts is two rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nplpipeline.report.kpis._frames import (
    days,
    group_sum,
    money,
    ratio,
    require_columns,
)
from nplpipeline.report.kpis.repayments import repayment_flows, sum_per_row

COHORT_COLUMNS = ("loan_id", "entry_date", "overdue_amount")
COST_COLUMNS = ("loan_id", "cost_date", "amount")
PAID_TOLERANCE = 0.005
SUMMARY_COLUMNS = (
    "accounts",
    "overdue_at_entry",
    "repaid",
    "commissions",
    "collection_cost",
    "net_repaid",
    "recovery_rate",
    "net_recovery_rate",
    "accounts_recovered",
    "account_recovery_rate",
)


def snapshot_cohort(snapshot: pd.DataFrame) -> pd.DataFrame:
    """A cohort from an end-of-day snapshot: ``entry_date = as_of_date + 1 day``.

    Input: ``as_of_date, loan_id, overdue_amount`` and any dimension columns (e.g. rows of
    ``int_account_scores`` with ``tier, product``). Output: the same rows and columns
    with ``entry_date`` added.
    """
    require_columns(snapshot, ("as_of_date", "loan_id", "overdue_amount"), "snapshot")
    cohort = snapshot.copy()
    cohort["entry_date"] = days(cohort["as_of_date"]) + pd.Timedelta(days=1)
    return cohort


def _costs_in_window(cohort: pd.DataFrame, costs: pd.DataFrame | None, what: str) -> pd.Series:
    if costs is None:
        return pd.Series(0.0, index=cohort.index)
    require_columns(costs, COST_COLUMNS, what)
    flows = pd.DataFrame(
        {
            "loan_id": costs["loan_id"],
            "paid_date": days(costs["cost_date"]),
            "amount": money(costs["amount"]).fillna(0.0),
        }
    )
    return sum_per_row(cohort, flows, start="_start", end="_end")


def account_recoveries(
    cohort: pd.DataFrame,
    repayments: pd.DataFrame,
    *,
    window_days: int,
    commissions: pd.DataFrame | None = None,
    collection_costs: pd.DataFrame | None = None,
    recovered_share: float = 1.0,
    cap_at_overdue: bool = False,
) -> pd.DataFrame:
    """Per cohort row: what its loan repaid, and cost, in ``[entry, entry + window_days)``.

    ``cap_at_overdue`` counts at most the overdue balance at entry per account: a mild
    account that clears its arrears and keeps paying the instalments that fall due next
    repays more than it owed at entry, and without the cap that ordinary servicing would
    be booked as "recovery" (rates above 100%). The plan's targets are about recovering
    the arrears, so the KPI stage caps; the uncapped figure stays available.

    Inputs: ``cohort`` with ``loan_id, entry_date, overdue_amount`` (+ any columns, kept);
    ``repayments`` as raw_repayments (``repayment_id, loan_id, paid_at, amount,
    reversal_of``); ``commissions`` and ``collection_costs`` (optional) with ``loan_id,
    cost_date, amount`` -- costs are counted in the same window as the repayments (e.g.
    ``agency.agency_commissions``; allocate pooled costs to loans before calling).

    Output: the cohort's columns plus ``window_end`` (exclusive), ``overdue_at_entry``,
    ``repaid``, ``commissions``, ``collection_cost``, ``net_repaid`` (repaid − both
    costs) and ``recovered`` (bool, see module docstring).
    """
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    require_columns(cohort, COHORT_COLUMNS, "cohort")
    out = cohort.reset_index(drop=True).copy()
    out["_start"] = days(out["entry_date"])
    out["_end"] = out["_start"] + pd.Timedelta(days=window_days)
    out["window_end"] = out["_end"]
    out["overdue_at_entry"] = money(out["overdue_amount"]).fillna(0.0)

    flows = repayment_flows(repayments)
    out["repaid"] = sum_per_row(out, flows, start="_start", end="_end")
    if cap_at_overdue:
        out["repaid"] = np.minimum(out["repaid"], out["overdue_at_entry"])
    out["commissions"] = _costs_in_window(out, commissions, "commissions")
    out["collection_cost"] = _costs_in_window(out, collection_costs, "collection_costs")
    out["net_repaid"] = out["repaid"] - out["commissions"] - out["collection_cost"]
    out["recovered"] = out["repaid"] >= recovered_share * out["overdue_at_entry"] - PAID_TOLERANCE
    return out.drop(columns=["_start", "_end"])


def summarise_recoveries(accounts: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Recovery rates per group from ``account_recoveries`` rows.

    Output columns: the ``by`` columns, then ``accounts, overdue_at_entry, repaid,
    commissions, collection_cost, net_repaid, recovery_rate, net_recovery_rate,
    accounts_recovered, account_recovery_rate``. Rates are NaN when the group's overdue
    at entry (or account count) is zero.
    """
    frame = accounts.assign(accounts=1.0, accounts_recovered=accounts["recovered"].astype(float))
    sums = group_sum(
        frame,
        by,
        [
            "accounts",
            "overdue_at_entry",
            "repaid",
            "commissions",
            "collection_cost",
            "net_repaid",
            "accounts_recovered",
        ],
    )
    sums["recovery_rate"] = ratio(sums["repaid"], sums["overdue_at_entry"])
    sums["net_recovery_rate"] = ratio(sums["net_repaid"], sums["overdue_at_entry"])
    sums["account_recovery_rate"] = ratio(sums["accounts_recovered"], sums["accounts"])
    sums[["accounts", "accounts_recovered"]] = sums[["accounts", "accounts_recovered"]].astype(
        "int64"
    )
    return sums[[*by, *SUMMARY_COLUMNS]]


def recovery_rates(
    cohort: pd.DataFrame,
    repayments: pd.DataFrame,
    *,
    window_days: int,
    by: Sequence[str] = (),
    commissions: pd.DataFrame | None = None,
    collection_costs: pd.DataFrame | None = None,
    recovered_share: float = 1.0,
) -> pd.DataFrame:
    """``account_recoveries`` then ``summarise_recoveries``: one row per ``by`` group.

    ``by`` names cohort columns (tier, product, province, vintage, collector, team,
    agency, strategy_arm, ...). Output columns as ``summarise_recoveries``.
    """
    require_columns(cohort, by, "cohort")
    accounts = account_recoveries(
        cohort,
        repayments,
        window_days=window_days,
        commissions=commissions,
        collection_costs=collection_costs,
        recovered_share=recovered_share,
    )
    return summarise_recoveries(accounts, by)
