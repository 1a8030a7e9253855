"""Past placements, from what exists: our own table plus the lender's agency history.

The lender's source systems carry no placement entity, only its traces: collection
actions with ``channel='agency'`` (``performed_by`` = agency_id) and repayments with
``channel='agency'`` and the agency's id. From them:

* a placement starts on the first agency action per (loan, agency);
* it ends after the placement period, or the day before another agency (or one of our
  own placements) starts on the same loan, whichever is earlier;
* its balance placed is what the borrower owed at the start (all principal, plus
  interest and fees fallen due, less repayments net of reversals before that day);
* the amount collected is the agency's repayments on the loan within the window, less
  any reversal of them booked up to the as-of date.

Our own placements carry their own balance; their collections are measured the same
way. A traced placement of a (loan, agency) pair that we placed ourselves is ours (the
agency working our file), so it is dropped unless it started earlier.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from nplpipeline.act.placement.tables import OFF_BOOK_REASON, STATUS_RECALLED

_EPOCH = pd.Timestamp("1970-01-01")
AGENCY_CHANNEL = "agency"  # the channel of an agency's actions and repayments
HISTORY_COLUMNS = (
    "placement_id",
    "loan_id",
    "customer_id",
    "agency_id",
    "source",  # own | lender
    "start_date",
    "end_date",  # inclusive; planned end while still running
    "completed",
    "measured",  # counts toward the agency's liquidation rate
    "balance_placed",
    "collected",
)


def day(values: pd.Series | pd.Index) -> pd.Series:
    """Calendar day (midnight) of dates or timestamps, as datetime64."""
    return pd.Series(pd.to_datetime(values), copy=False).dt.normalize()


def epoch_days(values: pd.Series) -> np.ndarray:
    """Whole days since 1970-01-01 (for sorted-key arithmetic)."""
    return ((day(values) - _EPOCH).dt.days).to_numpy(dtype=np.int64)


def _blank(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype("string").str.strip() == "")


def lender_placements(
    actions: pd.DataFrame, own: pd.DataFrame, as_of: dt.date, period_days: int
) -> pd.DataFrame:
    """Placements traced from agency actions: loan_id, customer_id, agency_id, start/end."""
    a = actions[(actions["channel"] == AGENCY_CHANNEL) & ~_blank(actions["performed_by"])]
    a = a.assign(start_date=day(a["action_at"]), agency_id=a["performed_by"].astype(str))
    a = a[a["start_date"] <= pd.Timestamp(as_of)]
    first = (
        a.sort_values(["loan_id", "agency_id", "start_date"], kind="stable")
        .drop_duplicates(["loan_id", "agency_id"], keep="first")
        .loc[:, ["loan_id", "customer_id", "agency_id", "start_date"]]
    )
    if not own.empty:
        own_start = own.groupby(["loan_id", "agency_id"], as_index=False)["start_date"].min()
        m = first.merge(own_start, on=["loan_id", "agency_id"], how="left", suffixes=("", "_own"))
        first = first[~(m["start_date"] >= day(m["start_date_own"])).to_numpy()]
    # Cut each window the day before the next start on the same loan, by anyone (lender
    # or us); agencies starting the same day share it (collections are matched by agency).
    starts = (
        pd.concat(
            [
                first[["loan_id", "start_date"]],
                own[["loan_id"]].assign(start_date=day(own["start_date"])),
            ],
            ignore_index=True,
        )
        .drop_duplicates()
        .sort_values(["loan_id", "start_date"], kind="stable")
    )
    starts["next_start"] = starts.groupby("loan_id")["start_date"].shift(-1)
    first = first.merge(starts, on=["loan_id", "start_date"], how="left")
    planned = first["start_date"] + pd.Timedelta(days=period_days)
    cut = first["next_start"] - pd.Timedelta(days=1)
    first["end_date"] = planned.where(cut.isna() | (planned <= cut), cut)
    return first.drop(columns="next_start").reset_index(drop=True)


def _prefix_at(
    codes: np.ndarray, days: np.ndarray, values: np.ndarray, q_codes: np.ndarray, q_days: np.ndarray
) -> np.ndarray:
    """Per query, the sum of ``values`` of the same code with day <= the query day."""
    out = np.zeros(len(q_codes), dtype=float)
    if len(codes) == 0 or len(q_codes) == 0:
        return out
    shift = np.int64(1) << np.int64(32)
    key = codes.astype(np.int64) * shift + days.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key, cum = key[order], np.concatenate([[0.0], np.cumsum(values[order], dtype=float)])
    q = q_codes.astype(np.int64) * shift
    hi = np.searchsorted(key, q + q_days.astype(np.int64), side="right")
    lo = np.searchsorted(key, q, side="left")  # days are >= 0 after 1970
    return cum[hi] - cum[lo]


def signed_repayments(repayments: pd.DataFrame) -> np.ndarray:
    """Amounts with reversals negative (a reversal counts on its own day)."""
    sign = np.where(_blank(repayments["reversal_of"]).to_numpy(), 1.0, -1.0)
    return repayments["amount"].to_numpy(dtype=float) * sign


def outstanding_before(
    installments: pd.DataFrame, repayments: pd.DataFrame, loan_ids: pd.Series, on: pd.Series
) -> np.ndarray:
    """What each loan owed at the start of a day: all principal, plus interest and fees
    due on or before it, less net repayments before it (floored at 0)."""
    codes, uniques = pd.factorize(
        pd.concat([loan_ids.astype(str), installments["loan_id"].astype(str)], ignore_index=True)
    )
    idx = pd.Index(uniques)
    q_codes, q_days = codes[: len(loan_ids)], epoch_days(on.reset_index(drop=True))
    i_codes = codes[len(loan_ids) :]
    i_days = epoch_days(installments["due_date"].reset_index(drop=True))
    principal = np.bincount(
        i_codes, weights=installments["principal_due"].to_numpy(float), minlength=len(idx)
    )
    charges = installments["interest_due"].to_numpy(float) + installments["fee_due"].to_numpy(float)
    owed = principal[q_codes] + _prefix_at(i_codes, i_days, charges, q_codes, q_days)
    r_codes = idx.get_indexer(repayments["loan_id"].astype(str))
    known = r_codes >= 0
    r_days = epoch_days(repayments["paid_at"].reset_index(drop=True))[known]
    paid = _prefix_at(
        r_codes[known], r_days, signed_repayments(repayments)[known], q_codes, q_days - 1
    )
    return np.maximum(np.round(owed - paid, 2), 0.0)


def agency_collections(repayments: pd.DataFrame) -> pd.DataFrame:
    """Agency repayments and their reversals: repayment_id, loan_id, agency_id, paid_on,
    amount (signed), reversal_of, and the original's paid_on for a reversal."""
    r = repayments
    is_rev = ~_blank(r["reversal_of"])
    direct = r[~is_rev & (r["channel"] == AGENCY_CHANNEL) & ~_blank(r["agency_id"])]
    direct = pd.DataFrame(
        {
            "repayment_id": direct["repayment_id"].astype(str),
            "loan_id": direct["loan_id"].astype(str),
            "agency_id": direct["agency_id"].astype(str),
            "paid_on": day(direct["paid_at"]).to_numpy(),
            "amount": direct["amount"].to_numpy(float),
            "reversal_of": pd.Series(pd.NA, index=direct.index, dtype="string").to_numpy(),
        }
    )
    direct["window_day"] = direct["paid_on"]
    rev = r[is_rev]
    rev = pd.DataFrame(
        {
            "repayment_id": rev["repayment_id"].astype(str),
            "reversal_of": rev["reversal_of"].astype(str),
            "paid_on": day(rev["paid_at"]).to_numpy(),
            "amount": -rev["amount"].to_numpy(float),
        }
    ).merge(
        direct[["repayment_id", "loan_id", "agency_id", "window_day"]].rename(
            columns={"repayment_id": "reversal_of"}
        ),
        on="reversal_of",
        how="inner",
    )
    out = pd.concat([direct, rev[direct.columns]], ignore_index=True)
    return out.astype({"reversal_of": "string"})


def attribute(collections: pd.DataFrame, placements: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Collections falling in a placement window of the same (loan, agency).

    A repayment counts when it was paid within [start, end] (both inclusive); its
    reversal follows it, whenever booked up to ``as_of``. ``placements`` needs row_id,
    loan_id, agency_id, start_date, end_date; windows of one pair must not overlap.
    """
    cutoff = pd.Timestamp(as_of)
    c = collections[collections["paid_on"] <= cutoff]
    m = c.merge(
        placements[["row_id", "loan_id", "agency_id", "start_date", "end_date"]],
        on=["loan_id", "agency_id"],
        how="inner",
    )
    inside = (m["window_day"] >= day(m["start_date"])) & (m["window_day"] <= day(m["end_date"]))
    return m[inside.to_numpy()].reset_index(drop=True)


def placement_history(
    own: pd.DataFrame,
    actions: pd.DataFrame,
    installments: pd.DataFrame,
    repayments: pd.DataFrame,
    as_of: dt.date,
    period_days: int,
) -> pd.DataFrame:
    """Every known placement up to ``as_of`` with its balance and what was collected.

    ``completed`` marks placements whose window is over (recalled, or traced ones past
    their end). ``measured`` ones count toward liquidation rates: completed, so that a
    running window does not bias the rate down, and not cut short because the loan left
    the book (sold, written off), which says nothing about the agency.
    """
    cutoff = pd.Timestamp(as_of)
    own = own[day(own["start_date"]) <= cutoff] if not own.empty else own
    recalled_on = day(own["recalled_on"]) if not own.empty else pd.Series(dtype="datetime64[s]")
    mine = pd.DataFrame(
        {
            "placement_id": own["placement_id"].astype("string"),
            "loan_id": own["loan_id"].astype(str),
            "customer_id": own["customer_id"].astype(str),
            "agency_id": own["agency_id"].astype(str),
            "source": "own",
            "start_date": day(own["start_date"]).to_numpy(),
            "end_date": recalled_on.fillna(day(own["recall_date"])).to_numpy(),
            "completed": ((own["status"] == STATUS_RECALLED) & (recalled_on <= cutoff)).to_numpy(
                dtype=bool
            ),
            "measured": (
                (own["status"] == STATUS_RECALLED)
                & (recalled_on <= cutoff)
                & (own["recall_reason"] != OFF_BOOK_REASON)
            ).to_numpy(dtype=bool),
            "balance_placed": own["balance_placed"].to_numpy(float),
        }
    )
    traced = lender_placements(actions, own, as_of, period_days)
    theirs = pd.DataFrame(
        {
            "placement_id": pd.Series(pd.NA, index=traced.index, dtype="string"),
            "loan_id": traced["loan_id"].astype(str),
            "customer_id": traced["customer_id"].astype(str),
            "agency_id": traced["agency_id"].astype(str),
            "source": "lender",
            "start_date": traced["start_date"],
            "end_date": traced["end_date"],
            "completed": (traced["end_date"] <= cutoff).to_numpy(dtype=bool),
            "measured": (traced["end_date"] <= cutoff).to_numpy(dtype=bool),
            "balance_placed": outstanding_before(
                installments, repayments, traced["loan_id"], traced["start_date"]
            ),
        }
    )
    hist = pd.concat([mine, theirs], ignore_index=True)
    hist["row_id"] = np.arange(len(hist))
    got = attribute(agency_collections(repayments), hist, as_of)
    collected = got.groupby("row_id")["amount"].sum()
    hist["collected"] = np.round(collected.reindex(hist["row_id"]).fillna(0.0).to_numpy(), 2)
    return hist.loc[:, list(HISTORY_COLUMNS)]
