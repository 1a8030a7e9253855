"""Ending placements, and the terms on which an account can be placed again.

A placement is recalled on its planned recall date (start + period), or earlier when
the account cures (DPD 0 on the as-of date) or the loan leaves the book (closed, sold,
written off: no longer in the snapshot's on-book set). A recalled account may go to a
*different* agency as its next placement (placement_no + 1), at the higher commission
the policy sets for later placements, up to ``max_placements_per_account``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from nplpipeline.act.placement.history import day
from nplpipeline.act.placement.tables import OFF_BOOK_REASON, STATUS_ACTIVE, STATUS_RECALLED
from nplpipeline.keys import isin

OFF_BOOK = OFF_BOOK_REASON
CURED = "cured"
PERIOD_END = "period_end"


def undo_day(placements: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The placements as they stood before ``as_of`` was run: placements started that
    day removed, recalls made that day reopened. Rerunning a date starts from here."""
    cutoff = pd.Timestamp(as_of)
    p = placements[day(placements["start_date"]) < cutoff].copy()
    reopened = (day(p["recalled_on"]) >= cutoff).to_numpy()
    p.loc[reopened, ["recalled_on", "recall_reason"]] = None
    p.loc[reopened, "status"] = STATUS_ACTIVE
    return p


def due_recalls(active: pd.DataFrame, snapshot: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """placement_id and recall_reason of the active placements to recall on ``as_of``.

    ``snapshot``: the as-of date's delinquency rows (loan_id, dpd, on_book). A loan
    missing from it is off the book. Off-book wins over cured, cured over period end.
    """
    snap = snapshot.drop_duplicates("loan_id").set_index("loan_id")
    dpd = active["loan_id"].map(snap["dpd"])
    on_book = active["loan_id"].map(snap["on_book"]).fillna(False).astype(bool)
    reason = np.select(
        [
            ~on_book.to_numpy(),
            (dpd == 0).to_numpy(dtype=bool, na_value=False),
            (day(active["recall_date"]) <= pd.Timestamp(as_of)).to_numpy(),
        ],
        [OFF_BOOK, CURED, PERIOD_END],
        default="",
    )
    due = reason != ""
    return pd.DataFrame(
        {"placement_id": active["placement_id"].to_numpy()[due], "recall_reason": reason[due]}
    )


def apply_recalls(placements: pd.DataFrame, recalls: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """``placements`` with the recalled rows closed on ``as_of``."""
    out = placements.copy()
    reason = out["placement_id"].map(recalls.set_index("placement_id")["recall_reason"])
    hit = reason.notna().to_numpy()
    out["recalled_on"] = pd.to_datetime(out["recalled_on"])
    out.loc[hit, "recalled_on"] = pd.Timestamp(as_of)
    out.loc[hit, "recall_reason"] = reason[hit]
    out.loc[hit, "status"] = STATUS_RECALLED
    return out


def placement_terms(
    history: pd.DataFrame, loan_ids: pd.Series, max_placements: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For candidate loans: (loan_id, placement_no) of those that may still be placed,
    and the (loan_id, agency_id) pairs they may not go to (earlier holders)."""
    loans = pd.Index(loan_ids.astype(str).unique())
    past = history[isin(history["loan_id"], loans)]
    count = past.groupby("loan_id").size().reindex(loans, fill_value=0)
    terms = pd.DataFrame({"loan_id": loans, "placement_no": count.to_numpy() + 1})
    terms = terms[terms["placement_no"] <= max_placements].reset_index(drop=True)
    excluded = past.loc[:, ["loan_id", "agency_id"]].drop_duplicates().reset_index(drop=True)
    return terms, excluded
