"""Settle each loan's net payments against its schedule, in closed form.

Paying a pot P oldest installment first leaves every installment whose running total
is <= P fully paid, the next one (row k) partly paid, and all later ones untouched. So
per loan one binary search over the running totals finds k; within row k the waterfall
is applied to what reaches it; everything after k is read off running sums. A snapshot
then costs a few operations per loan, not per installment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nplpipeline.delinquency.coerce import MISSING_DAY
from nplpipeline.delinquency.schedule import COMPONENTS, CUM_COLUMN, Schedule


@dataclass(frozen=True, slots=True)
class Arrears:
    """Per-segment (one per loan with a schedule) position on the as-of day."""

    # None unless ``allocate(detail=True)``: DPD and the outstanding balance need neither
    overdue_cents: dict[str, np.ndarray] | None  # fee / interest / principal, whole cents
    outstanding_principal_cents: np.ndarray
    installments_due: np.ndarray | None
    installments_overdue: np.ndarray | None
    oldest_overdue_day: np.ndarray  # MISSING_DAY when nothing is overdue


def allocate(
    schedule: Schedule,
    paid_cents: np.ndarray,
    as_of_day: int,
    waterfall: tuple[str, ...],
    tolerance_cents: int,
    detail: bool = True,
) -> Arrears:
    """Arrears per segment given the net cents paid per segment.

    An installment is unpaid when more than ``tolerance_cents`` of it is left; it is
    overdue when also due strictly before the as-of day (due today is not late).
    ``detail=False`` leaves out the overdue amounts and installment counts (``_detail``).
    """
    e = schedule.ends
    cum_total = schedule.cum_total
    base = schedule.seg_base
    pot = np.clip(paid_cents, 0, schedule.seg_total)  # overpayment beyond the schedule idles

    # k: first row not fully paid (e when the loan is fully paid).
    k = np.searchsorted(cum_total[1:], base + pot, side="right")
    np.minimum(k, e, out=k)
    has_k = k < e
    row = np.minimum(k, e - 1)  # a valid row to read even when has_k is False
    at_row = schedule.cum[row]
    on_row = schedule.cum[row + 1] - at_row  # amounts due on the row, per CUM_COLUMN
    left = np.clip(pot - (at_row[:, 0] - base), 0, on_row[:, 0])
    row_left: dict[str, np.ndarray] = {}
    for component in waterfall:
        amount = on_row[:, CUM_COLUMN[component]]
        settled = np.minimum(left, amount)
        left -= settled
        row_left[component] = np.where(has_k, amount - settled, 0.0)
    row_unpaid = (row_left["fee"] + row_left["interest"] + row_left["principal"]) > tolerance_cents

    # overdue_end: first row of each segment not due strictly before the as-of day.
    overdue_end = _first_row_due_on_or_after(schedule, as_of_day)

    # Overdue = row k if still unpaid, plus the untouched non-tiny rows in (k, overdue_end).
    row_overdue = has_k & (k < overdue_end) & row_unpaid
    lo = np.minimum(k + 1, e)
    hi = np.maximum(overdue_end, lo)
    first_later = lo if schedule.next_non_tiny is None else schedule.next_non_tiny.take(lo)
    has_later = first_later < hi
    last_row = max(schedule.n_rows - 1, 0)
    oldest = np.where(
        row_overdue,
        schedule.due_day.take(row),
        np.where(has_later, schedule.due_day.take(np.minimum(first_later, last_row)), MISSING_DAY),
    )
    principal = CUM_COLUMN["principal"]
    overdue_cents = installments_due = installments_overdue = None
    if detail:
        overdue_cents, installments_due, installments_overdue = _detail(
            schedule, as_of_day, overdue_end, row_overdue, row_left, lo, hi
        )
    return Arrears(
        overdue_cents=overdue_cents,
        outstanding_principal_cents=row_left["principal"]
        + (schedule.seg_principal_end - schedule.cum[lo, principal]),
        installments_due=installments_due,
        installments_overdue=installments_overdue,
        oldest_overdue_day=oldest,
    )


def _detail(
    schedule: Schedule,
    as_of_day: int,
    overdue_end: np.ndarray,
    row_overdue: np.ndarray,
    row_left: dict[str, np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Overdue cents per component, installments due and installments overdue."""
    s, e = schedule.starts, schedule.ends
    due_end = overdue_end.copy()  # then step over rows due exactly on the as-of day
    while True:
        on_day = due_end < e
        on_day[on_day] = schedule.due_day.take(due_end[on_day]) == as_of_day
        if not on_day.any():
            break
        due_end += on_day

    later_count = hi - lo
    if schedule.tiny_count is not None:
        later_count -= schedule.tiny_count.take(hi) - schedule.tiny_count.take(lo)
    later = schedule.cum[hi] - schedule.cum[lo]
    overdue_cents = {}
    for component in COMPONENTS:
        later_component = later[:, CUM_COLUMN[component]]
        if schedule.tiny_cum is not None:
            tiny = schedule.tiny_cum[component]
            later_component = later_component - (tiny.take(hi) - tiny.take(lo))
        overdue_cents[component] = np.where(row_overdue, row_left[component], 0.0) + later_component
    return overdue_cents, due_end - s, row_overdue + later_count


def _first_row_due_on_or_after(schedule: Schedule, day: int) -> np.ndarray:
    """Per segment, the first row with due_day >= day (the segment's end if none).

    One binary search over the globally sorted (segment, due day) key serves all loans.
    """
    offset = int(np.clip(day - schedule.day_min, 0, schedule.day_span - 1))
    return np.searchsorted(schedule.due_key, schedule.seg_key_base + offset)
