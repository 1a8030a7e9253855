"""Point-in-time feature frame: one row per delinquent, on-book account per as-of date.

Every feature of as-of date a is computed from rows dated on or before a (the as-of
day counts as known; it is the end of that day):
- delinquency from the engine's snapshot at a (payments dated <= a, reversals dated
  <= a, installments due before a) and at the month-ends before a;
- payments and contacts from windows (a - w, a];
- loan terms that never change after origination;
- borrower attributes per ``borrowers.py``.

Two source tables are upserted, so their past values are gone; here is how each is kept
point-in-time:
- loans.status: with the warehouse's status history (``loan_status_history``, from
  ``staging.stg_loan_status_history``) a loan is in a's population when the status
  valid at the end of a is on book, and not at all before its first version was
  loaded. Without it (plain frames), a loan counts as on book on a when its row
  (updated_at <= a) says so, or when the row changed after a -- statuses only leave
  the book by a dated change, so a row changed later was still on book on a.
- the schedule (installments) has no timestamp: outstanding principal is the loan's
  principal_amount minus principal settled by a, so installments added or changed
  after a do not move it, and DPD only reads installments due before a. Limitation: a
  restructure that rewrites installments due *before* a rewrites a's DPD as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

from nplpipeline.config.policy import DelinquencyPolicy, Policy
from nplpipeline.delinquency import DelinquencyEngine
from nplpipeline.delinquency.coerce import to_cents
from nplpipeline.delinquency.payments import Payments
from nplpipeline.features.activity import contact_features, payment_features
from nplpipeline.features.borrowers import BorrowerAttributes
from nplpipeline.features.calendar import as_date, epoch_day
from nplpipeline.features.config import FeatureConfig
from nplpipeline.features.history import DpdHistory
from nplpipeline.features.inputs import (
    REQUIRED_INPUTS,
    Actions,
    PaidByDay,
    loan_index,
    loan_policy_known,
    schedule_principal,
)
from nplpipeline.features.schema import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    ID_COLUMNS,
    apply_dtypes,
    output_columns,
)
from nplpipeline.staging.entities import status_on

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURE_COLUMNS",
    "ID_COLUMNS",
    "FeatureBuilder",
    "build_features",
]


def delinquency_policy(policy: Policy | DelinquencyPolicy) -> DelinquencyPolicy:
    return policy.delinquency if isinstance(policy, Policy) else policy


class FeatureBuilder:
    """A portfolio prepared once (keys, days, cents, sort orders); ``build(as_of)`` is cheap."""

    def __init__(
        self,
        frames: dict[str, pd.DataFrame],
        policy: Policy | DelinquencyPolicy,
        config: FeatureConfig,
    ) -> None:
        missing = [name for name in REQUIRED_INPUTS if name not in frames]
        if missing:
            raise ValueError(f"build_features needs frames {missing}")
        self.policy = delinquency_policy(policy)
        self.config = config
        loans = frames["loans"].reset_index(drop=True)
        self.loans = loans
        self.index = loan_index(loans)
        self.n = len(loans)
        self.engine = DelinquencyEngine(
            loans, frames["installments"], frames["repayments"], self.policy
        )
        self.history = DpdHistory(self.engine, self.index)
        self.payments = Payments.build(frames["repayments"], self.index)
        self.paid_by_day = PaidByDay.build(self.payments)
        self.actions = Actions.build(
            frames.get("collection_actions"),
            self.index,
            config.attempt_channels,
            config.right_party_outcomes,
        )
        self.borrowers = BorrowerAttributes(frames.get("customers"), loans, config)
        self.updated_day, self.on_book_now = loan_policy_known(loans, self.policy)
        self.status_timeline = frames.get("loan_status_history")
        self.principal_cents = to_cents(loans["principal_amount"])
        self.scheduled_principal_cents = schedule_principal(
            frames["installments"], self.index, self.n
        )

    def build(self, as_of: dt.date) -> pd.DataFrame:
        as_of = as_date(as_of)
        day = epoch_day(as_of)
        snap, pos = self.history.snapshot(as_of)
        dpd = snap["dpd"].to_numpy()
        on_book = self._on_book(as_of, pos, day)
        keep = np.flatnonzero((dpd > 0) & on_book)
        snap = snap.iloc[keep].reset_index(drop=True)
        rows = pos[keep]
        dpd = dpd[keep]

        paid = snap["total_paid"].to_numpy(dtype=np.float64)
        overdue = snap["overdue_amount"].to_numpy(dtype=np.float64)
        settled = self.scheduled_principal_cents[rows] - np.rint(
            snap["outstanding_principal"].to_numpy(dtype=np.float64) * 100
        )
        outstanding = np.maximum(self.principal_cents[rows] - settled, 0) / 100.0
        last_paid = snap["last_payment_date"].to_numpy(dtype="datetime64[D]")
        since_paid = (np.datetime64(as_of, "D") - last_paid).astype("timedelta64[D]")
        loans = self.loans

        columns: dict[str, object] = {
            "loan_id": snap["loan_id"].to_numpy(dtype=object),
            "customer_id": snap["customer_id"].to_numpy(dtype=object),
            "as_of_date": np.full(len(keep), np.datetime64(as_of, "s")),
            "dpd": dpd,
            "bucket": snap["bucket"].to_numpy(dtype=object),
            **self.history.path_features(as_of, rows, dpd, self.config),
            "overdue_principal": snap["overdue_principal"].to_numpy(dtype=np.float64),
            "overdue_interest": snap["overdue_interest"].to_numpy(dtype=np.float64),
            "overdue_fees": snap["overdue_fees"].to_numpy(dtype=np.float64),
            "overdue_amount": overdue,
            "installments_overdue": snap["installments_overdue"].to_numpy(),
            "outstanding_principal": np.round(outstanding, 2),
            "principal_amount": self.principal_cents[rows] / 100.0,
            "total_paid": paid,
            "paid_share_of_due": np.where(paid + overdue > 0, paid / (paid + overdue), 0.0),
            **payment_features(self.payments, rows, day, self.n, self.config),
            "days_since_last_payment": np.where(
                np.isnat(since_paid), np.nan, since_paid.astype(np.float64)
            ),
            "months_on_book": snap["months_on_book"].to_numpy(),
            "term_months": pd.to_numeric(loans["term_months"]).to_numpy()[rows],
            "annual_interest_rate": pd.to_numeric(loans["annual_interest_rate"]).to_numpy(
                dtype=np.float64
            )[rows],
            "product": snap["product"].to_numpy(dtype=object),
            **contact_features(
                self.actions, self.payments, self.paid_by_day, rows, day, self.n, self.config
            ),
            **self.borrowers.frame(rows, day),
        }
        frame = pd.DataFrame(columns)
        frame = apply_dtypes(frame, self.config, self.policy)[output_columns(self.config)]
        return frame.sort_values("loan_id", kind="stable").reset_index(drop=True)

    def _on_book(self, as_of: dt.date, pos: np.ndarray, day: int) -> np.ndarray:
        """Whether each snapshot loan was on book at the end of ``as_of``."""
        if self.status_timeline is None:
            return (self.updated_day[pos] > day) | self.on_book_now[pos]
        status = self.loans["loan_id"].map(status_on(self.status_timeline, as_of))
        on_book = status.isin(self.policy.on_book_statuses).to_numpy(dtype=bool)
        return on_book[pos]

    def build_many(self, as_of_dates: Iterable[dt.date]) -> pd.DataFrame:
        # Oldest first: earlier dates' snapshots are the later dates' lags (cache hits).
        dates = sorted({as_date(d) for d in as_of_dates})
        frames = [self.build(d) for d in dates]
        if not frames:
            return apply_dtypes(
                pd.DataFrame(columns=output_columns(self.config)), self.config, self.policy
            )[output_columns(self.config)]
        out = pd.concat(frames, ignore_index=True)
        return apply_dtypes(out, self.config, self.policy)[output_columns(self.config)]


def build_features(
    frames: dict[str, pd.DataFrame],
    as_of_dates: list[dt.date],
    policy: Policy | DelinquencyPolicy,
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """Features of every delinquent (dpd > 0), on-book account on each as-of date.

    ``frames`` holds raw tables by entity name (``inputs.INPUT_COLUMNS`` lists what is
    read); loans, installments and repayments are required, collection_actions and
    customers optional (their features are then zero / missing).
    """
    return FeatureBuilder(frames, policy, config or FeatureConfig()).build_many(as_of_dates)
