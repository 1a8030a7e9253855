"""Contact marts, month to date: RPC, PTP, PTP kept, complaints and satisfaction.

Actions arrive from staging flagged with the contract's vocabulary, the same flags
``fact_action`` stores, so ``mart_kpi``'s right-party-contact rate is the rate a BI
tool gets from ``fact_action`` for the same slice.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from nplpipeline.report import kpis as k
from nplpipeline.report.marts.rows import kpi_rows, month_start

DIMENSIONS = ("overall", "tier", "product")


def with_segments(
    actions: pd.DataFrame, loans: pd.DataFrame, tiers_today: pd.DataFrame
) -> pd.DataFrame:
    """Actions with their loan's product and the tier recorded on the as-of date
    (``unscored`` if not delinquent then)."""
    product = loans.drop_duplicates("loan_id").set_index("loan_id")["product"]
    tier = tiers_today.drop_duplicates("loan_id").set_index("loan_id")["tier"]
    out = actions.copy()
    out["product"] = out["loan_id"].map(product).astype("string").fillna("unknown")
    out["tier"] = out["loan_id"].map(tier).astype("string").fillna("unscored")
    return out


def month_to_date(actions: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    at = pd.to_datetime(actions["action_at"])
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    return actions[(at >= month_start(as_of)) & (at < end)]


def _due_in(actions: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Promises falling due this month up to ``as_of``: the kept rate judges these."""
    due = pd.to_datetime(actions["ptp_date"])
    return actions[(due >= month_start(as_of)) & (due <= pd.Timestamp(as_of))]


def build_contact_kpis(
    as_of: dt.date,
    acts: pd.DataFrame,
    repayments: pd.DataFrame,
    satisfaction: pd.DataFrame,
    delinquent_customers: pd.DataFrame,
) -> list[pd.DataFrame]:
    """Pure: ``acts`` are the segmented actions known by ``as_of``."""
    mtd, due, rows = month_to_date(acts, as_of), _due_in(acts, as_of), []
    for dim in DIMENSIONS:
        by = () if dim == "overall" else (dim,)
        contact = k.contact_rates(mtd, by=by)
        for frame, kpi, num, den, val, unit in (
            (contact, "right_party_contact_rate", "right_party_contacts", "attempts",
             "rpc_rate", "ratio"),
            (contact, "ptp_rate", "promises", "right_party_contacts", "ptp_rate", "ratio"),
            (k.ptp_kept_rate(due, repayments, as_of=as_of, by=by), "ptp_kept_rate",
             "promises_kept", "promises_due", "ptp_kept_rate", "ratio"),
            (k.complaint_rate(mtd, satisfaction, by=by), "complaint_rate", "complaints",
             "accounts_contacted", "complaint_rate", "per_1000"),
        ):  # fmt: skip
            rows.append(kpi_rows(frame, as_of, "month", kpi, num, den, val, unit, dim))
    since = month_start(as_of) - pd.DateOffset(months=2)
    recent = satisfaction[pd.to_datetime(satisfaction["surveyed_at"]) >= since]
    csat = k.customer_satisfaction(recent, delinquent_customers)
    rows.append(
        kpi_rows(csat, as_of, "month", "customer_satisfaction", "score_sum", "surveys",
                 "mean_score", "score")
    )  # fmt: skip
    return rows
