"""Recovery labels: did the account recover within the horizon after the as-of date?

recovered(a) = the account's DPD is 0 on some day in (a, a + h], or its net repayments
dated in (a, a + h] reach ``recovery_share`` x its overdue amount on a.

The cure test is exact, not an end-of-horizon approximation: DPD can only fall to 0 on
a day money arrives, so it is checked after the last payment row of each (loan, day) in
the window: cured on day t when net paid by t >= everything due strictly before t
(less the policy's paid tolerance). Payments settle oldest first, so that is the
engine's DPD = 0 (up to schedules with sub-tolerance installments).
Net = payments minus reversals by their own dates, as the delinquency engine counts.

The label is unknown (NA) when a + h is after the data date (the latest drop loaded):
the window is not over in the data yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nplpipeline.config.policy import DelinquencyPolicy, Policy
from nplpipeline.delinquency.coerce import MISSING_DAY, to_arrow_strings, to_cents, to_epoch_days
from nplpipeline.delinquency.encode import KeyIndex
from nplpipeline.delinquency.payments import Payments
from nplpipeline.features.calendar import epoch_day
from nplpipeline.features.config import FeatureConfig
from nplpipeline.features.inputs import loan_index

_DATE_COLUMNS = {
    "repayments": "paid_at",
    "collection_actions": "action_at",
    "loans": "updated_at",
    "customers": "updated_at",
}


@dataclass(frozen=True, slots=True)
class DueSchedule:
    """Installment totals in (loan, due day) order with "due strictly before day t"."""

    key: np.ndarray
    cum: np.ndarray  # exclusive running sum of totals (cents), len rows + 1
    day_min: int
    span: int

    @classmethod
    def build(cls, installments: pd.DataFrame, index: KeyIndex) -> DueSchedule:
        loan = index.positions(to_arrow_strings(installments["loan_id"])).astype(np.int64)
        day = to_epoch_days(installments["due_date"])
        total = (
            to_cents(installments["principal_due"])
            + to_cents(installments["interest_due"])
            + to_cents(installments["fee_due"])
        )
        keep = (loan >= 0) & (day != MISSING_DAY)
        loan, day, total = loan[keep], day[keep], total[keep]
        day_min = int(day.min()) if len(day) else 0
        span = (int(day.max()) - day_min + 2) if len(day) else 2
        key = loan * span + (day - day_min)
        order = np.argsort(key, kind="stable")
        cum = np.zeros(len(key) + 1)
        np.cumsum(total[order], out=cum[1:])
        return cls(key=key[order], cum=cum, day_min=day_min, span=span)

    def due_before(self, loan: np.ndarray, day: np.ndarray) -> np.ndarray:
        base = loan.astype(np.int64) * self.span
        offset = np.clip(day - self.day_min, 0, self.span - 1)
        hi = np.searchsorted(self.key, base + offset, side="left")
        lo = np.searchsorted(self.key, base, side="left")
        return self.cum[hi] - self.cum[lo]


def infer_data_date(frames: dict[str, pd.DataFrame]) -> dt.date | None:
    """Latest drop date in the frames (``_drop_date``), else latest event timestamp."""
    days: list[int] = []
    for name, frame in frames.items():
        column = "_drop_date" if "_drop_date" in frame else _DATE_COLUMNS.get(name)
        if column is None or column not in frame or frame.empty:
            continue
        d = to_epoch_days(frame[column])
        d = d[d != MISSING_DAY]
        if len(d):
            days.append(int(d.max()))
    if not days:
        return None
    return dt.date(1970, 1, 1) + dt.timedelta(days=max(days))


def label_accounts(
    features_frame: pd.DataFrame,
    frames: dict[str, pd.DataFrame],
    config: FeatureConfig | None = None,
    *,
    policy: Policy | DelinquencyPolicy | None = None,
    data_date: dt.date | None = None,
    builder: object | None = None,
) -> pd.Series:
    """Boolean label per feature row (pandas "boolean", NA when not yet observable).

    ``builder`` (a ``FeatureBuilder`` over the same frames) lends its prepared loan
    index and payments so they are not prepared twice.
    """
    config = config or FeatureConfig()
    if policy is None:
        from nplpipeline.config.policy import load_policy

        policy = load_policy()
    policy = policy.delinquency if isinstance(policy, Policy) else policy
    tolerance = int(np.floor(round(policy.paid_tolerance * 100, 6)))
    if data_date is None:
        data_date = infer_data_date(frames)
    index = getattr(builder, "index", None) or loan_index(frames["loans"].reset_index(drop=True))
    payments = getattr(builder, "payments", None) or Payments.build(frames["repayments"], index)
    schedule = DueSchedule.build(frames["installments"], index)
    n = len(index)

    out = pd.Series(pd.NA, index=features_frame.index, dtype="boolean")
    if features_frame.empty or data_date is None:
        return out
    pos = index.positions(to_arrow_strings(features_frame["loan_id"])).astype(np.int64)
    overdue = to_cents(features_frame["overdue_amount"])
    as_of_days = to_epoch_days(pd.to_datetime(features_frame["as_of_date"]))
    last_day = epoch_day(data_date)
    values = np.zeros(len(features_frame), dtype=bool)
    known = np.zeros(len(features_frame), dtype=bool)
    for a in np.unique(as_of_days):
        rows = np.flatnonzero((as_of_days == a) & (pos >= 0))
        end = int(a) + config.horizon_days
        if end > last_day or not len(rows):
            continue
        loans = pos[rows]
        paid_before = payments.net_cents(int(a), n)
        paid_window = payments.net_cents(end, n) - paid_before
        repaid = paid_window[loans] + 0.5 >= np.round(config.recovery_share * overdue[rows])
        cured = _cured(payments, schedule, loans, paid_before, int(a), end, n, tolerance)
        values[rows] = repaid | cured[loans]
        known[rows] = True
    out[known] = values[known]
    return out


def _cured(
    payments: Payments,
    schedule: DueSchedule,
    loans: np.ndarray,
    paid_before: np.ndarray,
    start_day: int,
    end_day: int,
    n: int,
    tolerance_cents: int,
) -> np.ndarray:
    """Per loan position: DPD reached 0 on a payment day in (start_day, end_day]."""
    lo = int(np.searchsorted(payments.day, start_day, side="right"))
    hi = int(np.searchsorted(payments.day, end_day, side="right"))
    wanted = np.zeros(n, dtype=bool)
    wanted[loans] = True
    rows = lo + np.flatnonzero(wanted[payments.loan[lo:hi]])
    cured = np.zeros(n, dtype=bool)
    if not len(rows):
        return cured
    order = np.argsort(payments.loan[rows], kind="stable")  # rows are in day order already
    rows = rows[order]
    loan, day = payments.loan[rows].astype(np.int64), payments.day[rows]
    running = np.cumsum(payments.signed_cents[rows])
    first = np.r_[True, loan[1:] != loan[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(loan)), 0))
    before_group = np.r_[0.0, running][group_start]
    paid_by = paid_before[loan] + (running - before_group)
    last_of_day = np.r_[(loan[1:] != loan[:-1]) | (day[1:] != day[:-1]), True]
    owed = schedule.due_before(loan[last_of_day], day[last_of_day])
    zero_dpd = owed - paid_by[last_of_day] <= tolerance_cents
    cured[loan[last_of_day][zero_dpd]] = True
    return cured
