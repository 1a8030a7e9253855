"""Portfolio KPIs over a series of snapshots: NPL ratio trend and vintage curves.

**NPL ratio** (per snapshot date) = outstanding principal of on-book loans with
``is_npl`` (DPD above the policy's threshold, 90 by default) ÷ outstanding principal of
all on-book loans -- the query in ``docs/warehouse.md``, as a trend with the change
since the previous date (in ratio points). A count ratio is kept beside it.

**Vintage curve**: for each origination month (vintage) and month on book k, the
cumulative share of the vintage's loans that had reached ``dpd >= t`` on some month-end
snapshot at or before k, for each threshold t (30 and 90 by default, i.e. "30+" and
"90+"). Decisions:

* Balance means **original principal** (``principal_amount``), for the numerator and the
  denominator, so the curve is a share of what was lent, monotone in k and comparable
  across vintages; a count share is kept beside it.
* Month on book is counted in calendar months from the origination month to the
  snapshot's month (``2026-01-xx`` → ``2026-03-31`` is 2), the same for every loan of a
  vintage, rather than the per-loan ``months_on_book`` of the snapshot.
* The denominator is every loan of the vintage in ``loans``; a vintage appears at k only
  where a snapshot of that month exists (no extrapolation), from k = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from nplpipeline.report.kpis._frames import days, group_sum, money, ratio, require_columns

NPL_COLUMNS = (
    "as_of_date",
    "accounts",
    "npl_accounts",
    "outstanding",
    "npl_balance",
    "npl_ratio",
    "npl_ratio_count",
    "npl_ratio_change",
)
VINTAGE_COLUMNS = (
    "vintage",
    "months_on_book",
    "threshold_dpd",
    "loans",
    "principal",
    "loans_reached",
    "principal_reached",
    "share_balance",
    "share_count",
)


def npl_ratio_trend(snapshots: pd.DataFrame, *, by: Sequence[str] = ()) -> pd.DataFrame:
    """NPL ratio per snapshot date (and ``by`` group), with its change over time.

    Input: snapshot rows with ``as_of_date, is_npl, outstanding_principal`` (+ ``on_book``,
    + ``by`` columns). Output columns: the ``by`` columns, then ``as_of_date, accounts,
    npl_accounts, outstanding, npl_balance, npl_ratio, npl_ratio_count,
    npl_ratio_change`` (vs the group's previous date; NaN on its first).
    """
    by = list(by)
    require_columns(snapshots, ("as_of_date", "is_npl", "outstanding_principal", *by), "snapshots")
    frame = snapshots
    if "on_book" in frame:
        frame = frame.loc[frame["on_book"].fillna(False).astype(bool)]
    npl = frame["is_npl"].fillna(False).astype(bool)
    rows = pd.DataFrame(
        {
            "as_of_date": days(frame["as_of_date"]),
            "accounts": 1.0,
            "npl_accounts": npl.astype(float),
            "outstanding": money(frame["outstanding_principal"]).fillna(0.0),
        },
        index=frame.index,
    )
    rows["npl_balance"] = rows["outstanding"].where(npl, 0.0)
    for column in by:
        rows[column] = frame[column]
    keys = [*by, "as_of_date"]
    out = group_sum(rows, keys, ["accounts", "npl_accounts", "outstanding", "npl_balance"])
    out["npl_ratio"] = ratio(out["npl_balance"], out["outstanding"])
    out["npl_ratio_count"] = ratio(out["npl_accounts"], out["accounts"])
    out = out.sort_values(keys, ignore_index=True)
    if by:
        out["npl_ratio_change"] = out.groupby(by, dropna=False)["npl_ratio"].diff()
    else:
        out["npl_ratio_change"] = out["npl_ratio"].diff()
    out[["accounts", "npl_accounts"]] = out[["accounts", "npl_accounts"]].astype("int64")
    return out[[*by, *NPL_COLUMNS]]


def _month_index(values: pd.Series) -> pd.Series:
    ts = days(values)
    return ts.dt.year * 12 + ts.dt.month - 1


def vintage_curves(
    snapshots: pd.DataFrame,
    loans: pd.DataFrame,
    *,
    thresholds: Sequence[int] = (30, 90),
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Cumulative share of each vintage reaching each DPD threshold, by month on book.

    Inputs: ``snapshots`` (month-end rows of ``int_delinquency_snapshot``) with
    ``loan_id, as_of_date, dpd``; ``loans`` with ``loan_id, origination_date,
    principal_amount`` (+ ``by`` columns, e.g. ``product``). Output columns: the ``by``
    columns, then ``vintage`` (``YYYY-MM``), ``months_on_book, threshold_dpd, loans,
    principal`` (the vintage's), ``loans_reached, principal_reached`` (cumulative by
    then), ``share_balance, share_count``.
    """
    by = list(by)
    require_columns(snapshots, ("loan_id", "as_of_date", "dpd"), "snapshots")
    require_columns(loans, ("loan_id", "origination_date", "principal_amount", *by), "loans")
    latest = loans.drop_duplicates("loan_id", keep="last")
    book = latest[["loan_id", *by]].copy()
    book["_origin"] = _month_index(latest["origination_date"])
    book["principal"] = money(latest["principal_amount"]).fillna(0.0)
    book = book.loc[book["_origin"].notna()]  # origination_date is required by the contract
    book["loans"] = 1.0
    keys = [*by, "_origin"]
    vintages = group_sum(book, keys, ["loans", "principal"])

    obs = pd.DataFrame(
        {
            "loan_id": snapshots["loan_id"],
            "_month": _month_index(snapshots["as_of_date"]),
            "dpd": pd.to_numeric(snapshots["dpd"]),
        }
    ).merge(book[["loan_id", *keys, "principal"]], on="loan_id", how="inner")
    obs["months_on_book"] = obs["_month"] - obs["_origin"]
    obs = obs.loc[obs["months_on_book"] >= 0]
    grid = obs[[*keys, "months_on_book"]].drop_duplicates()

    parts = []
    for t in thresholds:  # a handful of thresholds, not rows
        hit = obs.loc[obs["dpd"] >= t]
        first = hit.groupby("loan_id", sort=False).agg(
            months_on_book=("months_on_book", "min"),
            **{c: (c, "first") for c in keys},
            principal_reached=("principal", "first"),
        )
        first["loans_reached"] = 1.0
        events = group_sum(first, [*keys, "months_on_book"], ["loans_reached", "principal_reached"])
        curve = pd.concat(
            [grid.assign(loans_reached=0.0, principal_reached=0.0), events], ignore_index=True
        )
        curve = group_sum(curve, [*keys, "months_on_book"], ["loans_reached", "principal_reached"])
        curve = curve.sort_values([*keys, "months_on_book"], ignore_index=True)
        curve[["loans_reached", "principal_reached"]] = curve.groupby(keys, dropna=False)[
            ["loans_reached", "principal_reached"]
        ].cumsum()
        parts.append(curve.merge(grid, on=[*keys, "months_on_book"]).assign(threshold_dpd=t))

    columns = [*keys, "months_on_book", "threshold_dpd", "loans_reached", "principal_reached"]
    curves = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    out = curves.merge(vintages, on=keys, how="left")
    out["share_balance"] = ratio(out["principal_reached"], out["principal"])
    out["share_count"] = ratio(out["loans_reached"], out["loans"])
    origin = out["_origin"].astype("int64")
    out["vintage"] = (origin // 12).astype(str) + "-" + (origin % 12 + 1).astype(str).str.zfill(2)
    for column in ("months_on_book", "threshold_dpd", "loans", "loans_reached"):
        out[column] = out[column].astype("int64")
    out = out.sort_values([*by, "vintage", "threshold_dpd", "months_on_book"], ignore_index=True)
    return out[[*by, *VINTAGE_COLUMNS]]
