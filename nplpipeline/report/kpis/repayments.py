"""Repayments as signed cash flows: the one place reversals are netted for every KPI.

A reversal arrives as its own row with ``reversal_of`` set and a *positive* amount; it
cancels (part of) the repayment it names. Here it becomes a negative flow

* **on its own day** -- the delinquency engine's convention (``int_delinquency_snapshot``
  ``total_paid``) and the model's recovery label's, so KPIs reconcile with both, and a
  closed window's figure does not change when a later reversal arrives;
* **attributed like the repayment it reverses**: the original's ``loan_id``,
  ``channel``, ``agency_id`` and ``collector_id``, so a bounced agency payment is taken
  back from that agency and that collector, not from nobody.

Summing flows over a window therefore gives "repaid net of reversals" in that window.
A reversal whose original is not in the frame keeps its own attributes; a reversal of a
reversal is treated like any other reversal (it is rare and the contract forbids
nothing else). Pass the repayments known on your as-of date, *not* pre-filtered to the
window, so reversals can find their originals; the KPI functions filter by day.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nplpipeline.delinquency.coerce import is_blank
from nplpipeline.report.kpis._frames import days, money, require_columns

REQUIRED = ("repayment_id", "loan_id", "paid_at", "amount")
_ATTRIBUTES = ("loan_id", "channel", "agency_id", "collector_id")
FLOW_COLUMNS = (
    "repayment_id",
    "loan_id",
    "paid_date",
    "amount",
    "is_reversal",
    "channel",
    "agency_id",
    "collector_id",
)


def repayment_flows(repayments: pd.DataFrame) -> pd.DataFrame:
    """One signed flow per repayment row.

    Input columns: ``repayment_id, loan_id, paid_at, amount`` and optionally
    ``reversal_of, channel, agency_id, collector_id`` (raw_repayments).
    Output columns: ``repayment_id, loan_id, paid_date`` (midnight of ``paid_at``),
    ``amount`` (positive for a payment, negative for a reversal), ``is_reversal``,
    ``channel, agency_id, collector_id`` (a reversal's taken from its original).
    """
    require_columns(repayments, REQUIRED, "repayments")
    frame = repayments.reset_index(drop=True)
    columns = {c: frame[c] for c in ("repayment_id", *_ATTRIBUTES) if c in frame}
    out = pd.DataFrame(columns, index=frame.index)
    for column in _ATTRIBUTES:
        if column not in out:
            out[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
    has_target = "reversal_of" in frame  # the delinquency engine's test for a reversal
    reversal = pd.Series(
        ~is_blank(frame["reversal_of"]) if has_target else False, index=frame.index, dtype=bool
    )
    out["is_reversal"] = reversal
    out["paid_date"] = days(frame["paid_at"])
    amount = money(frame["amount"]).fillna(0.0)
    out["amount"] = amount.where(~reversal, -amount)

    if reversal.any():  # reversals are few: only their rows are touched
        source = _attribute_source(out, frame.loc[reversal, "reversal_of"], reversal)
        for column in _ATTRIBUTES:
            if not (pd.api.types.is_string_dtype(out[column]) or out[column].dtype == object):
                out[column] = out[column].astype("object")  # e.g. an all-null float column
            # one gather per column: setting a few rows of an Arrow string column by
            # label (.loc) rebuilt the whole column, seconds per KPI run at 1M loans
            out[column] = pd.Series(out[column].array.take(source), index=out.index)
    return out[list(FLOW_COLUMNS)]


def _attribute_source(out: pd.DataFrame, targets: pd.Series, reversal: pd.Series) -> np.ndarray:
    """Per row, the row whose attributes it carries: a reversal its original's (the first
    non-reversal row with the id it names, when there is one), every other row its own."""
    originals = out.loc[~reversal & out["repayment_id"].isin(targets), ["repayment_id"]]
    originals = originals.drop_duplicates("repayment_id")
    row_of = pd.Series(np.arange(len(out))[originals.index], index=originals["repayment_id"])
    found = row_of.reindex(targets.to_numpy())
    hit = found.notna().to_numpy()
    source = np.arange(len(out))
    source[out.index.get_indexer(targets.index[hit])] = found.to_numpy()[hit].astype(np.int64)
    return source


def flows_in_windows(
    rows: pd.DataFrame,
    flows: pd.DataFrame,
    *,
    start: str,
    end: str,
    on: str = "loan_id",
    carry: Sequence[str] = (),
) -> pd.DataFrame:
    """Each row of ``rows`` joined to the flows of its ``on`` key dated in ``[start, end)``.

    ``start`` and ``end`` name midnight-timestamp columns of ``rows`` (``end`` exclusive;
    NaT ``end`` = open). The result has ``_row`` (``rows``' index, so callers can sum
    back per row with ``groupby('_row')``), ``on, start, end, paid_date, amount`` and the
    flow columns named in ``carry``; rows without flows are absent.
    """
    left = rows[[on, start, end]].copy()
    left["_row"] = rows.index
    joined = left.merge(flows[[on, "paid_date", "amount", *carry]], on=on, how="inner")
    inside = (joined["paid_date"] >= joined[start]) & (
        joined[end].isna() | (joined["paid_date"] < joined[end])
    )
    return joined.loc[inside]


def sum_per_row(rows: pd.DataFrame, flows: pd.DataFrame, *, start: str, end: str) -> pd.Series:
    """Net flow of each row's loan in its ``[start, end)`` window (0 where none)."""
    inside = flows_in_windows(rows, flows, start=start, end=end)
    sums = inside.groupby("_row")["amount"].sum()
    return sums.reindex(rows.index, fill_value=0.0).astype("float64")
