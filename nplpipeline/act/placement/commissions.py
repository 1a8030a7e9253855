"""Commissions: agencies are paid a share of what they collect while they hold a file.

A repayment counts for a placement when it is an agency repayment (``channel='agency'``)
by that agency, on that loan, paid between the start and the recall (both days
inclusive; an open placement up to the as-of date). Commission = amount × the
placement's commission rate. When such a repayment is reversed, the reversal gives a
negative clawback row of its own (keyed by the reversal's repayment_id), whenever it
is booked, so the ledger nets out without rewriting invoiced rows.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from nplpipeline.act.placement.history import agency_collections, attribute, day

COMMISSION = "commission"
CLAWBACK = "clawback"
COMMISSION_COLUMNS = (
    "repayment_id",
    "placement_id",
    "agency_id",
    "loan_id",
    "paid_on",
    "kind",
    "reversal_of",
    "amount",
    "commission_rate",
    "commission",
)


def compute_commissions(
    placements: pd.DataFrame, repayments: pd.DataFrame, as_of: dt.date
) -> pd.DataFrame:
    """One row per attributed agency repayment or reversal paid up to ``as_of``."""
    windows = pd.DataFrame(
        {
            "row_id": np.arange(len(placements)),
            "loan_id": placements["loan_id"].astype(str).to_numpy(),
            "agency_id": placements["agency_id"].astype(str).to_numpy(),
            "start_date": day(placements["start_date"]).to_numpy(),
            "end_date": day(placements["recalled_on"]).fillna(pd.Timestamp(as_of)).to_numpy(),
        }
    )
    got = attribute(agency_collections(repayments), windows, as_of)
    p = placements.reset_index(drop=True)
    rate = p["commission_rate"].to_numpy(float)[got["row_id"].to_numpy()]
    amount = got["amount"].to_numpy(float)
    out = pd.DataFrame(
        {
            "repayment_id": got["repayment_id"].astype(str),
            "placement_id": p["placement_id"].to_numpy()[got["row_id"].to_numpy()],
            "agency_id": got["agency_id"].astype(str),
            "loan_id": got["loan_id"].astype(str),
            "paid_on": got["paid_on"],
            "kind": np.where(got["reversal_of"].notna().to_numpy(), CLAWBACK, COMMISSION),
            "reversal_of": got["reversal_of"],
            "amount": np.round(amount, 2),
            "commission_rate": rate,
            "commission": np.round(amount * rate, 2),
        },
        columns=list(COMMISSION_COLUMNS),
    )
    return out.sort_values("repayment_id", kind="stable").reset_index(drop=True)
