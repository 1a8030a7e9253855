"""Repayment schedules prepared once: ordered per loan, in cents, as running totals.

Everything here is independent of the as-of date, so a monthly history pays for the
ordering and the cumulative sums only once. Keeping running totals (rather than
per-installment amounts) is what lets a snapshot settle every loan with a few
binary searches instead of a pass over every installment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nplpipeline.delinquency.coerce import (
    MISSING_DAY,
    to_arrow_strings,
    to_cents,
    to_epoch_days,
    to_int,
)
from nplpipeline.delinquency.encode import KeyIndex

COMPONENT_COLUMNS = {"fee": "fee_due", "interest": "interest_due", "principal": "principal_due"}
COMPONENTS = tuple(COMPONENT_COLUMNS)
# Column of each running sum in Schedule.cum: one row holds all four, so a snapshot
# reads a loan's running sums at a row with a single memory access instead of four.
CUM_COLUMN = {"total": 0, "fee": 1, "interest": 2, "principal": 3}
_PACK_LIMIT = 2**62


@dataclass(frozen=True, slots=True)
class Schedule:
    """Installments of known loans as contiguous row segments, one segment per loan.

    Rows are in settlement order: by loan, then due date, then installment_no. Ordering
    by due date first guarantees the oldest installment is settled first even when a
    source schedule numbers installments out of date order, and makes due dates
    non-decreasing within a segment, which the snapshot's binary searches rely on.
    """

    seg_loan: np.ndarray  # loan position of each segment
    starts: np.ndarray  # first row of each segment
    ends: np.ndarray  # one past the last row
    due_day: np.ndarray  # epoch day of each row
    # Exclusive running sums over all rows, shape (rows + 1, 4) with columns CUM_COLUMN:
    # cum[i, c] = sum of component c over rows < i (whole cents, float64).
    cum: np.ndarray
    cum_total: np.ndarray  # contiguous copy of cum[:, 0] for binary search
    # Installments whose whole amount is within the paid tolerance never count as unpaid.
    # None when there are no such rows (the usual case with a sub-cent tolerance).
    tiny_count: np.ndarray | None  # running count of tiny rows, length rows + 1
    tiny_cum: dict[str, np.ndarray] | None  # running component sums over tiny rows
    next_non_tiny: np.ndarray | None  # first non-tiny row at or after i, length rows + 1
    # Globally sorted key segment * day_span + (due_day - day_min), to find per segment
    # how many installments fall due before a day with one vectorised binary search.
    due_key: np.ndarray
    day_min: int
    day_span: int
    # Per-segment constants every snapshot needs, gathered once.
    seg_key_base: np.ndarray  # segment * day_span
    seg_base: np.ndarray  # cum_total at the segment's first row
    seg_total: np.ndarray  # cents due over the whole segment
    seg_principal_end: np.ndarray  # cum["principal"] at the segment's end

    @property
    def n_rows(self) -> int:
        return len(self.due_day)

    @classmethod
    def build(cls, installments: pd.DataFrame, loans: KeyIndex, tolerance_cents: int) -> Schedule:
        loan = loans.positions(to_arrow_strings(installments["loan_id"]))
        known = loan >= 0
        if not known.all():  # rows of loans we were not given are ignored
            loan = loan[known]
            installments = installments.iloc[np.flatnonzero(known)]
        installment_no = to_int(installments["installment_no"], "installments.installment_no")
        due_day = to_epoch_days(installments["due_date"])
        if (due_day == MISSING_DAY).any():
            raise ValueError("installments.due_date has null values")
        amounts = {c: to_cents(installments[col]) for c, col in COMPONENT_COLUMNS.items()}

        same_loan = loan[1:] == loan[:-1]
        order = _settlement_order(loan, due_day, installment_no, same_loan, len(loans))
        if order is not None:
            loan, due_day = loan[order], due_day[order]
            amounts = {c: v[order] for c, v in amounts.items()}
            same_loan = loan[1:] == loan[:-1]
        del installment_no

        n_rows = len(loan)
        starts = np.flatnonzero(np.concatenate([[True], ~same_loan])) if n_rows else loan[:0]
        ends = np.append(starts[1:], n_rows).astype(np.int64)
        starts = starts.astype(np.int64)
        cum = np.zeros((n_rows + 1, len(CUM_COLUMN)), dtype=np.float64)
        for component in COMPONENTS:
            cum[1:, CUM_COLUMN[component]] = amounts[component]
        total = cum[1:, 0]
        total += cum[1:, 1]
        total += cum[1:, 2]
        total += cum[1:, 3]
        tiny = total <= tolerance_cents
        tiny_count = tiny_cum = next_non_tiny = None
        if tiny.any():
            tiny_count = _running_sum(tiny.astype(np.int64))
            if (total[tiny] > 0).any():
                tiny_cum = {c: _running_sum(np.where(tiny, v, 0.0)) for c, v in amounts.items()}
            rows = np.where(tiny, n_rows, np.arange(n_rows))
            next_non_tiny = np.minimum.accumulate(np.append(rows, n_rows)[::-1])[::-1].copy()

        day_min = int(due_day.min()) if n_rows else 0
        day_span = (int(due_day.max()) - day_min + 2) if n_rows else 2
        if len(starts) * day_span >= _PACK_LIMIT:
            raise ValueError("due dates span too wide to index")
        # due_key = segment * day_span + (due_day - day_min), built in one allocation.
        seg_key_base = np.arange(len(starts), dtype=np.int64) * day_span
        due_key = np.repeat(seg_key_base - day_min, ends - starts)
        due_key += due_day
        del amounts, total
        np.cumsum(cum[1:], axis=0, out=cum[1:])
        cum_total = np.ascontiguousarray(cum[:, 0])
        seg_base = cum_total.take(starts)
        return cls(
            seg_loan=loan[starts],
            starts=starts,
            ends=ends,
            due_day=due_day,
            cum=cum,
            cum_total=cum_total,
            tiny_count=tiny_count,
            tiny_cum=tiny_cum,
            next_non_tiny=next_non_tiny,
            due_key=due_key,
            day_min=day_min,
            day_span=day_span,
            seg_key_base=seg_key_base,
            seg_base=seg_base,
            seg_total=cum_total.take(ends) - seg_base,
            seg_principal_end=cum[ends, CUM_COLUMN["principal"]],
        )


def _running_sum(values: np.ndarray) -> np.ndarray:
    """Exclusive running sum with a leading zero: sum of rows [i, j) = out[j] - out[i]."""
    out = np.zeros(len(values) + 1, dtype=values.dtype)
    np.cumsum(values, out=out[1:])
    return out


def _settlement_order(
    loan: np.ndarray,
    due_day: np.ndarray,
    installment_no: np.ndarray,
    same_loan: np.ndarray,
    n_loans: int,
) -> np.ndarray | None:
    """Permutation into settlement order, or None when rows already are in it.

    Warehouse extracts are usually grouped by loan and ordered by installment already;
    checking costs a pass or two, sorting 11M rows more than a second.
    """
    if len(loan) == 0:
        return None
    step = np.diff(due_day)
    in_order = not (same_loan & (step < 0)).any()
    if in_order:
        ties = np.flatnonzero(same_loan & (step == 0))
        in_order = bool((installment_no[ties + 1] >= installment_no[ties]).all())
    del step
    if in_order:
        first_rows = np.flatnonzero(~same_loan) + 1
        segment_loans = np.append(loan[first_rows], loan[0])
        if np.bincount(segment_loans, minlength=n_loans).max() <= 1:
            return None  # and each loan is one contiguous segment
    no = installment_no - installment_no.min()
    no_span = int(no.max()) + 1
    day = due_day - due_day.min()
    day_span = int(day.max()) + 1
    if n_loans * day_span * no_span < _PACK_LIMIT:
        key = loan.astype(np.int64) * (day_span * no_span)
        key += day * no_span
        key += no
        return np.argsort(key, kind="stable")
    return np.lexsort((installment_no, due_day, loan))
