"""Repayments prepared once: loan codes, calendar days, signed amounts, reversal dates.

A reversal is a row of its own with a positive amount; it counts negatively on its own
day, so a payment reversed after the as-of date still counts on the as-of date. Rows
are kept in day order so an as-of date selects a prefix, not a mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nplpipeline.delinquency.coerce import (
    MISSING_DAY,
    is_blank,
    to_arrow_strings,
    to_cents,
    to_epoch_days,
)
from nplpipeline.delinquency.encode import KeyIndex


@dataclass(frozen=True, slots=True)
class Payments:
    """All rows of known loans, sorted by day."""

    loan: np.ndarray
    day: np.ndarray
    signed_cents: np.ndarray  # float64 whole cents (bincount weights); reversals negative
    # Day from which the row no longer stands as a payment: the day of the first reversal
    # pointing at it, MISSING_DAY if never reversed, and -1 for reversal rows themselves.
    # None when reversals came without ``repayment_id``: only last payment dates need it.
    void_from: np.ndarray | None

    @classmethod
    def build(cls, repayments: pd.DataFrame, loans: KeyIndex) -> Payments:
        loan = loans.positions(to_arrow_strings(repayments["loan_id"]))
        day = to_epoch_days(repayments["paid_at"])
        signed = to_cents(repayments["amount"])
        if "reversal_of" in repayments:
            reversal = ~is_blank(repayments["reversal_of"])
        else:
            reversal = np.zeros(len(repayments), dtype=bool)
        void_from = None  # without ids, reversals can't be matched to what they void
        if "repayment_id" in repayments or not reversal.any():
            void_from = _first_reversal_day(repayments, reversal, day)
            void_from[reversal] = -1
        signed[reversal] *= -1.0

        rows = _kept_rows(loan, day)
        if rows is not None:
            loan, day, signed = loan[rows], day[rows], signed[rows]
            void_from = None if void_from is None else void_from[rows]
        return cls(loan=loan, day=day, signed_cents=signed, void_from=void_from)

    def _counted(self, as_of_day: int) -> int:
        """Rows dated on or before the as-of day: a prefix, as rows are in day order."""
        return int(np.searchsorted(self.day, as_of_day, side="right"))

    def net_cents(self, as_of_day: int, n_loans: int) -> np.ndarray:
        """Payments minus reversals dated on or before the as-of day, per loan (whole cents)."""
        n = self._counted(as_of_day)
        net = np.bincount(self.loan[:n], weights=self.signed_cents[:n], minlength=n_loans)
        return np.rint(net)  # sums of whole cents are exact below 2**53; rint drops -0.0 noise

    def last_payment_day(self, as_of_day: int, n_loans: int) -> np.ndarray:
        """Latest payment day on or before as-of not reversed by then; MISSING_DAY if none."""
        if self.void_from is None:
            raise ValueError("last payment dates with reversals need repayment_id")
        n = self._counted(as_of_day)
        standing = self.void_from[:n] > as_of_day
        last = np.full(n_loans, -1, dtype=np.int64)
        np.maximum.at(last, self.loan[:n][standing], self.day[:n][standing])
        last[last < 0] = MISSING_DAY
        return last


def _kept_rows(loan: np.ndarray, day: np.ndarray) -> np.ndarray | None:
    """Rows of known loans in day order (None: all of them, already in order); rows of
    loans we were not given are ignored."""
    known = loan >= 0
    kept = None if known.all() else np.flatnonzero(known)
    order = _day_order(day if kept is None else day[kept])
    if order is None:
        return kept
    return order if kept is None else kept[order]


def _day_order(day: np.ndarray) -> np.ndarray | None:
    """Permutation sorting by day (None if sorted already, as time-ordered extracts are)."""
    if len(day) < 2 or bool((day[1:] >= day[:-1]).all()):
        return None
    present = day != MISSING_DAY
    low = int(day[present].min()) if present.any() else 0
    high = int(day[present].max()) if present.any() else 0
    if high - low < 2**16 - 1:  # small integers sort by radix, in linear time
        offsets = np.where(present, day - low, 2**16 - 1).astype(np.uint16)
        return np.argsort(offsets, kind="stable")
    return np.argsort(day, kind="stable")


def _first_reversal_day(
    repayments: pd.DataFrame, reversal: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """For every row, the earliest day of a reversal row pointing at it (MISSING_DAY if none).

    Reversals are few, so hash their targets and probe every repayment id against that
    small set rather than hashing all repayment ids.
    """
    first = np.full(len(repayments), MISSING_DAY, dtype=np.int64)
    if not reversal.any():
        return first
    targets = pc.dictionary_encode(
        to_arrow_strings(repayments["reversal_of"]).filter(pa.array(reversal))
    )
    target = targets.indices.to_numpy(zero_copy_only=False)
    earliest = np.full(len(targets.dictionary), MISSING_DAY, dtype=np.int64)
    np.minimum.at(earliest, target, day[reversal])
    hit = pc.index_in(to_arrow_strings(repayments["repayment_id"]), value_set=targets.dictionary)
    found = np.flatnonzero(hit.is_valid().to_numpy(zero_copy_only=False))
    first[found] = earliest[hit.drop_null().to_numpy(zero_copy_only=False)]
    return first
