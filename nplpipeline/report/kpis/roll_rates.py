"""Roll-rate (flow-rate) matrix between two month-end snapshots, and its summary rates.

Cell (i, j) of the matrix is the share of the balance that sat in bucket i a month
before (``previous`` snapshot) and sits in bucket j at month end (``current``):

    rate(i → j) = Σ previous balance of accounts in i then and in j now
                  ÷ Σ previous balance of accounts in i then

Each account is weighted by its balance *a month before* (default
``outstanding_principal``). Weighting the numerator by month-end balances instead, as a
literal reading of "balance in j at month end" suggests, mixes movement with
amortisation and repayment, and a row could then not sum to 1; with start weights the
matrix is a proper transition matrix and each row sums to exactly 1.

The population is the previous snapshot's on-book accounts (``on_book`` when present).
An account that has since **left the book** -- absent from ``current``, or there with
``on_book`` false (closed, written off, sold) -- goes to the ``closed`` column, so
nothing vanishes from a row. Loans new in ``current`` have no row (they were nowhere a
month before). Every (from, to) pair is listed, zeros included, in bucket order.

Beside the balance rate, ``count_rate`` weights every account 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from nplpipeline.report.kpis._frames import money, ratio, require_columns

CLOSED = "closed"
MATRIX_COLUMNS = (
    "from_bucket",
    "to_bucket",
    "accounts_from",
    "balance_from",
    "accounts",
    "balance",
    "rate",
    "count_rate",
)
SUMMARY_RATES = ("stay_rate", "roll_forward_rate", "roll_back_rate", "worse_rate", "closed_rate")


def _default_buckets() -> list[str]:
    from nplpipeline.config.policy import load_policy

    return load_policy().delinquency.bucket_names


def _on_book(frame: pd.DataFrame) -> pd.Series:
    if "on_book" not in frame:
        return pd.Series(True, index=frame.index)
    return frame["on_book"].fillna(False).astype(bool)


def roll_rate_matrix(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    buckets: Sequence[str] | None = None,
    balance: str = "outstanding_principal",
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """The full transition matrix as a tidy frame, one row per (``by``..., from, to).

    Inputs: ``previous`` with ``loan_id, bucket, <balance>`` (+ ``on_book``, + ``by``
    columns); ``current`` with ``loan_id, bucket`` (+ ``on_book``). ``buckets`` gives the
    order (default: the policy's buckets, current .. M6+).

    Output columns: the ``by`` columns, then ``from_bucket, to_bucket`` (ordered
    categoricals; ``to_bucket`` adds ``closed``), ``accounts_from, balance_from`` (the row
    totals), ``accounts, balance`` (moved, start-weighted), ``rate`` (balance share) and
    ``count_rate`` (account share). Rows of an empty from-bucket have NaN rates.
    """
    order = list(buckets) if buckets is not None else _default_buckets()
    by = list(by)
    require_columns(previous, ("loan_id", "bucket", balance, *by), "previous snapshot")
    require_columns(current, ("loan_id", "bucket"), "current snapshot")
    unknown = set(previous["bucket"].dropna()) | set(current["bucket"].dropna())
    unknown -= set(order)
    if unknown:
        raise ValueError(f"buckets {sorted(unknown)} are not in the bucket order {order}")

    prev = previous.loc[_on_book(previous), ["loan_id", "bucket", *by]].copy()
    prev["balance"] = money(previous.loc[prev.index, balance]).fillna(0.0)
    now = current.loc[_on_book(current)].drop_duplicates("loan_id", keep="last")
    to = prev["loan_id"].map(now.set_index("loan_id")["bucket"])
    prev["to_bucket"] = to.astype("object").where(to.notna(), CLOSED)
    prev["from_bucket"] = prev.pop("bucket")
    prev["accounts"] = 1.0

    from_type = pd.CategoricalDtype(order, ordered=True)
    to_type = pd.CategoricalDtype([*order, CLOSED], ordered=True)
    prev["from_bucket"] = prev["from_bucket"].astype(from_type)
    prev["to_bucket"] = prev["to_bucket"].astype(to_type)

    # every (by..., from, to) cell, zeros included
    groups = (
        prev[by].drop_duplicates().reset_index(drop=True)
        if by
        else pd.DataFrame(index=pd.RangeIndex(1))
    )
    cells = pd.MultiIndex.from_product(
        [pd.Categorical(order, dtype=from_type), pd.Categorical(to_type.categories, dtype=to_type)],
        names=["from_bucket", "to_bucket"],
    ).to_frame(index=False)
    grid = groups.merge(cells, how="cross")
    moved = prev.groupby([*by, "from_bucket", "to_bucket"], dropna=False, observed=True)[
        ["accounts", "balance"]
    ].sum()
    out = grid.merge(moved.reset_index(), on=[*by, "from_bucket", "to_bucket"], how="left")
    out[["accounts", "balance"]] = out[["accounts", "balance"]].fillna(0.0)
    totals = out.groupby([*by, "from_bucket"], dropna=False, observed=True)[
        ["accounts", "balance"]
    ].transform("sum")
    out["accounts_from"] = totals["accounts"].astype("int64")
    out["balance_from"] = totals["balance"]
    out["accounts"] = out["accounts"].astype("int64")
    out["rate"] = ratio(out["balance"], out["balance_from"])
    out["count_rate"] = ratio(out["accounts"], out["accounts_from"])
    return out[[*by, *MATRIX_COLUMNS]].sort_values(
        [*by, "from_bucket", "to_bucket"], ignore_index=True
    )


def roll_rates(
    matrix: pd.DataFrame, *, weight: Literal["balance", "count"] = "balance"
) -> pd.DataFrame:
    """Per from-bucket: stay, roll-forward (b→b+1), roll-back, worse and closed rates.

    Input: a ``roll_rate_matrix`` result (its ``by`` columns are kept). ``weight`` is
    ``"balance"`` (primary) or ``"count"``. Output columns: the ``by`` columns, then
    ``bucket, accounts, balance`` (in the bucket a month before), ``stay_rate`` (i→i),
    ``roll_forward_rate`` (i→i+1; NaN for the last bucket, which has no i+1),
    ``roll_back_rate`` (to any better bucket, cures included), ``worse_rate`` (to any
    worse bucket, i+1 included) and ``closed_rate`` (left the book). stay + back + worse
    + closed = 1 for every non-empty bucket; an empty bucket's rates are NaN.
    """
    if weight not in ("balance", "count"):
        raise ValueError(f"weight must be 'balance' or 'count', got {weight!r}")
    by = [c for c in matrix.columns if c not in MATRIX_COLUMNS]
    rate = {"balance": "rate", "count": "count_rate"}[weight]
    m = matrix.copy()
    order = list(m["from_bucket"].cat.categories)
    n = len(order)
    src = m["from_bucket"].cat.codes.to_numpy()
    dst = m["to_bucket"].cat.codes.to_numpy()  # n = closed
    closed = dst == n
    values = m[rate].to_numpy()
    for name, mask in (
        ("stay_rate", dst == src),
        ("roll_forward_rate", (dst == src + 1) & ~closed),
        ("roll_back_rate", dst < src),
        ("worse_rate", (dst > src) & ~closed),
        ("closed_rate", closed),
    ):
        m[name] = np.where(mask, values, 0.0)
        m.loc[np.isnan(values), name] = np.nan
    keys = [*by, "from_bucket"]
    grouped = m.groupby(keys, dropna=False, observed=True, sort=True)
    out = grouped[["accounts_from", "balance_from"]].first()
    out[list(SUMMARY_RATES)] = grouped[list(SUMMARY_RATES)].sum(min_count=1)
    out = out.reset_index().rename(
        columns={"from_bucket": "bucket", "accounts_from": "accounts", "balance_from": "balance"}
    )
    out.loc[out["bucket"] == order[-1], "roll_forward_rate"] = np.nan
    return out[[*by, "bucket", "accounts", "balance", *SUMMARY_RATES]]
