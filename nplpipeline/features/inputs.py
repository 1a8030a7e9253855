"""Which raw columns the features and labels read, and their preparation into arrays.

Everything independent of the as-of date (key lookups, day numbers, cents, sort
orders) is done once here, so building twelve month-ends costs little more than one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from nplpipeline.config.policy import DelinquencyPolicy
from nplpipeline.delinquency.coerce import MISSING_DAY, to_arrow_strings, to_cents, to_epoch_days
from nplpipeline.delinquency.encode import KeyIndex
from nplpipeline.delinquency.payments import Payments

# Raw columns each input needs (no PII: names, ids and phones are never read).
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "loans": (
        "loan_id", "customer_id", "product", "origination_date", "principal_amount",
        "annual_interest_rate", "term_months", "status", "updated_at",
    ),
    "installments": (
        "loan_id", "installment_no", "due_date", "principal_due", "interest_due", "fee_due",
    ),
    "repayments": ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of"),
    "collection_actions": (
        "loan_id", "action_at", "channel", "outcome", "ptp_amount", "ptp_date",
    ),
    "customers": (
        "customer_id", "birth_date", "province", "monthly_income", "employment_type",
        "updated_at",
    ),
}  # fmt: skip
REQUIRED_INPUTS = ("loans", "installments", "repayments")


def loan_index(loans: pd.DataFrame) -> KeyIndex:
    index = KeyIndex(to_arrow_strings(loans["loan_id"]))
    index.check_unique("loans.loan_id")
    return index


def codes(values: pd.Series, vocabulary: tuple[str, ...] | list[str]) -> np.ndarray:
    """Position of each value in ``vocabulary`` (int8), -1 when absent or null."""
    arr = to_arrow_strings(values)
    pos = pc.index_in(arr, value_set=to_arrow_strings(pd.Series(list(vocabulary), dtype=object)))
    return pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int8)


@dataclass(frozen=True, slots=True)
class PaidByDay:
    """Payments in (loan, day) order with a lookup for "cents paid by loan L up to day D".

    Used for promises (paid since the promise) and for cures (paid by a day in the
    horizon). Rows are the standing-or-not payments of ``Payments``; callers pass the
    per-row weights they want counted (so standing-as-of filters need no re-sort).
    """

    order: np.ndarray  # permutation of Payments rows into (loan, day) order
    key: np.ndarray  # loan * span + (day - day_min), sorted
    day_min: int
    span: int

    @classmethod
    def build(cls, payments: Payments) -> PaidByDay:
        day = payments.day
        if len(day):
            present = day != MISSING_DAY
            day_min = int(day[present].min()) if present.any() else 0
            span = (int(day[present].max()) - day_min + 3) if present.any() else 3
        else:
            day_min, span = 0, 3
        local = np.clip(day - day_min, -1, span - 2) + 1  # 0 = before any payment
        key = payments.loan.astype(np.int64) * span + local
        order = np.argsort(key, kind="stable")
        return cls(order=order, key=key[order], day_min=day_min, span=span)

    def lookup_key(self, loan: np.ndarray, day: np.ndarray) -> np.ndarray:
        local = np.clip(np.asarray(day, dtype=np.int64) - self.day_min, -1, self.span - 2) + 1
        return loan.astype(np.int64) * self.span + local

    def cumulative(self, weights: np.ndarray) -> np.ndarray:
        """Exclusive running sum of ``weights`` (in Payments row order) in (loan, day) order."""
        out = np.zeros(len(self.order) + 1)
        np.cumsum(weights[self.order], out=out[1:])
        return out

    def between(
        self, running: np.ndarray, loan: np.ndarray, first_day: np.ndarray, last_day: np.ndarray
    ) -> np.ndarray:
        """Sum of the weights behind ``running`` for each loan over days [first, last]."""
        hi = np.searchsorted(self.key, self.lookup_key(loan, last_day), side="right")
        lo = np.searchsorted(self.key, self.lookup_key(loan, first_day), side="left")
        return running[hi] - running[lo]


@dataclass(frozen=True, slots=True)
class Actions:
    """Contact history rows of known loans, in day order."""

    loan: np.ndarray
    day: np.ndarray
    attempt: np.ndarray
    rpc: np.ndarray
    ptp: np.ndarray
    complaint: np.ndarray
    ptp_cents: np.ndarray
    ptp_day: np.ndarray  # MISSING_DAY when not a promise (or no date)

    @classmethod
    def build(
        cls,
        actions: pd.DataFrame | None,
        index: KeyIndex,
        attempt_channels: tuple[str, ...],
        rpc_outcomes: tuple[str, ...],
    ) -> Actions:
        if actions is None or actions.empty:
            e = np.zeros(0, dtype=np.int64)
            b = np.zeros(0, dtype=bool)
            return cls(e, e, b, b, b, b, np.zeros(0), e)
        loan = index.positions(to_arrow_strings(actions["loan_id"]))
        day = to_epoch_days(actions["action_at"])
        keep = (loan >= 0) & (day != MISSING_DAY)
        outcome = codes(actions["outcome"], ("promise_to_pay", "complaint"))
        channel = codes(actions["channel"], attempt_channels)
        ptp = outcome == 0
        ptp_day = to_epoch_days(actions["ptp_date"])
        ptp_cents = to_cents(actions["ptp_amount"])
        frame = {
            "loan": loan.astype(np.int64),
            "day": day,
            "attempt": channel >= 0,
            "rpc": codes(actions["outcome"], rpc_outcomes) >= 0,
            "ptp": ptp,
            "complaint": outcome == 1,
            "ptp_cents": ptp_cents,
            "ptp_day": np.where(ptp, ptp_day, MISSING_DAY),
        }
        rows = np.flatnonzero(keep)
        order = rows[np.argsort(day[rows], kind="stable")]
        return cls(**{k: v[order] for k, v in frame.items()})

    def upto(self, day: int) -> int:
        """Rows dated on or before ``day`` (a prefix: rows are in day order)."""
        return int(np.searchsorted(self.day, day, side="right"))

    def since(self, day: int) -> int:
        """First row dated on or after ``day``."""
        return int(np.searchsorted(self.day, day, side="left"))


def schedule_principal(installments: pd.DataFrame, index: KeyIndex, n_loans: int) -> np.ndarray:
    """Scheduled principal per loan (cents): the whole schedule as the warehouse has it."""
    loan = index.positions(to_arrow_strings(installments["loan_id"]))
    known = loan >= 0
    cents = to_cents(installments["principal_due"])
    return np.bincount(loan[known], weights=cents[known], minlength=n_loans)


def loan_policy_known(
    loans: pd.DataFrame, policy: DelinquencyPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """(day the loan row was last changed, whether its current status is on book)."""
    updated = to_epoch_days(loans["updated_at"])
    on_book = loans["status"].isin(policy.on_book_statuses).to_numpy(dtype=bool)
    return updated, on_book
