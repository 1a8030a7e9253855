"""Cure rate: delinquent accounts at window start that are back to DPD 0 at window end.

    cure rate (count)   = accounts cured ÷ accounts delinquent at start
    cure rate (balance) = start balance of the cured ÷ start balance of the delinquent

Both come from two delinquency snapshots (``int_delinquency_snapshot`` rows at the
window's start and end dates). "Delinquent" is ``dpd >= min_dpd`` (default 1) on the
start snapshot, on-book rows only when an ``on_book`` column is present. "Cured" is
``dpd == 0`` on the end snapshot, whatever the loan's status there: a loan repaid and
closed is cured. An account missing from the end snapshot is not cured (its outcome is
unknown) but stays in the denominator, so missing data never flatters the rate.

The balance is ``outstanding_principal`` at the start by default (the balance the NPL
ratio and roll rates use); both numerator and denominator use start balances, so the
balance rate is a share between 0 and 1. Dimension columns (``by``) come from the start
snapshot: merge tier, collector, ... onto it first.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from nplpipeline.report.kpis._frames import group_sum, money, ratio, require_columns

OUTPUT_COLUMNS = (
    "accounts_delinquent",
    "balance_delinquent",
    "accounts_cured",
    "balance_cured",
    "cure_rate_count",
    "cure_rate_balance",
)


def cure_rates(
    start: pd.DataFrame,
    end: pd.DataFrame,
    *,
    by: Sequence[str] = (),
    balance: str = "outstanding_principal",
    min_dpd: int = 1,
) -> pd.DataFrame:
    """Cure rates by count and by balance per ``by`` group.

    Inputs: ``start`` with ``loan_id, dpd, <balance>`` (+ ``on_book``, + ``by`` columns);
    ``end`` with ``loan_id, dpd``. Output columns: the ``by`` columns, then
    ``accounts_delinquent, balance_delinquent, accounts_cured, balance_cured,
    cure_rate_count, cure_rate_balance`` (NaN when nothing was delinquent).
    """
    require_columns(start, ("loan_id", "dpd", balance, *by), "start snapshot")
    require_columns(end, ("loan_id", "dpd"), "end snapshot")
    delinquent = pd.to_numeric(start["dpd"]) >= min_dpd
    if "on_book" in start:
        delinquent &= start["on_book"].fillna(False).astype(bool)
    base = start.loc[delinquent, ["loan_id", *by]].copy()
    base["balance_delinquent"] = money(start.loc[delinquent, balance]).fillna(0.0)

    end_dpd = end.drop_duplicates("loan_id", keep="last").set_index("loan_id")["dpd"]
    cured = base["loan_id"].map(pd.to_numeric(end_dpd)).eq(0)
    base["accounts_delinquent"] = 1.0
    base["accounts_cured"] = cured.astype(float)
    base["balance_cured"] = base["balance_delinquent"].where(cured, 0.0)

    sums = group_sum(
        base, by, ["accounts_delinquent", "balance_delinquent", "accounts_cured", "balance_cured"]
    )
    sums["cure_rate_count"] = ratio(sums["accounts_cured"], sums["accounts_delinquent"])
    sums["cure_rate_balance"] = ratio(sums["balance_cured"], sums["balance_delinquent"])
    counts = ["accounts_delinquent", "accounts_cured"]
    sums[counts] = sums[counts].astype("int64")
    return sums[[*by, *OUTPUT_COLUMNS]]
