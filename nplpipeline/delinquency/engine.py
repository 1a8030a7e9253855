"""The delinquency snapshot: prepare a portfolio once, then snapshot any as-of date.

Preparation (string keys to integer codes, sorting, date and money conversion) is most
of the cost and does not depend on the as-of date; monthly histories reuse it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from nplpipeline.config.policy import DelinquencyPolicy
from nplpipeline.delinquency.allocation import allocate
from nplpipeline.delinquency.buckets import bucket_categoricals
from nplpipeline.delinquency.coerce import MISSING_DAY, to_arrow_strings, to_epoch_days
from nplpipeline.delinquency.encode import KeyIndex
from nplpipeline.delinquency.payments import Payments
from nplpipeline.delinquency.schedule import Schedule
from nplpipeline.delinquency.schema import SNAPSHOT_COLUMNS

_EPOCH = dt.date(1970, 1, 1)
_LOAN_PASSTHROUGH = ("loan_id", "customer_id", "product", "status")
# The columns that need allocate(detail=True): overdue amounts and installment counts.
_DETAIL_COLUMNS = frozenset(
    {"overdue_principal", "overdue_interest", "overdue_fees", "overdue_amount",
     "installments_due", "installments_overdue"}
)  # fmt: skip


class DelinquencyEngine:
    """A portfolio prepared for snapshots; ``snapshot(as_of)`` is cheap to repeat."""

    def __init__(
        self,
        loans: pd.DataFrame,
        installments: pd.DataFrame,
        repayments: pd.DataFrame,
        policy: DelinquencyPolicy,
    ) -> None:
        self.policy = policy
        # Remaining integer cents > tolerance  <=>  > floor(tolerance in cents); round
        # first so that 0.29 * 100 = 28.999... does not become 28.
        self._tolerance_cents = int(np.floor(round(policy.paid_tolerance * 100, 6)))
        index = KeyIndex(to_arrow_strings(loans["loan_id"]))
        # Repayments and schedules are independent and mostly GIL-free Arrow/NumPy work:
        # prepare them side by side on the machine's cores.
        with ThreadPoolExecutor(max_workers=2) as pool:
            payments = pool.submit(Payments.build, repayments, index)
            index.check_unique("loans.loan_id")
            self._schedule = Schedule.build(installments, index, self._tolerance_cents)
            self._payments = payments.result()
        self._n_loans = len(loans)
        self._loans = loans[list(_LOAN_PASSTHROUGH)].reset_index(drop=True)
        self._origination_day = to_epoch_days(loans["origination_date"])
        self._on_book = loans["status"].isin(policy.on_book_statuses).to_numpy(dtype=bool)

    def snapshot(
        self,
        as_of: dt.date,
        columns: Sequence[str] = SNAPSHOT_COLUMNS,
        among: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """One row per loan originated on or before ``as_of`` (and in ``among``, a mask
        over the loans given, when set), ``columns`` of ``SNAPSHOT_COLUMNS`` only: a
        column not asked for is never computed (the KPI marts' restated month-ends need
        five of them, not the payment dates or money)."""
        wanted = [c for c in SNAPSHOT_COLUMNS if c in set(columns)]
        if len(wanted) != len(set(columns)):
            raise ValueError("snapshot columns must be among SNAPSHOT_COLUMNS")
        build = self._column_builders(as_of, bool(set(wanted) & _DETAIL_COLUMNS), among)
        return pd.DataFrame({c: build[c]() for c in wanted}, copy=False)[list(columns)]

    def rows(self, as_of: dt.date, among: np.ndarray | None = None) -> np.ndarray:
        """Positions (in the loans given) of the rows ``snapshot(as_of, among=among)``
        returns, in order."""
        kept = self._origination_day <= _epoch_day(as_of)
        return np.flatnonzero(kept if among is None else kept & among)

    def _column_builders(
        self, as_of: dt.date, detail: bool, among: np.ndarray | None
    ) -> dict[str, Callable[[], Any]]:
        """Each snapshot column as a call; shared intermediates are computed once."""
        day = _epoch_day(as_of)
        n = self._n_loans
        schedule, policy = self._schedule, self.policy

        net = self._payments.net_cents(day, n)
        seg_loan = schedule.seg_loan
        arrears = allocate(
            schedule, net[seg_loan], day, policy.waterfall, self._tolerance_cents, detail
        )

        kept = self._origination_day <= day
        if among is not None:
            kept &= among
        everyone = bool(kept.all())
        rows = slice(None) if everyone else np.flatnonzero(kept)
        count = n if everyone else len(rows)

        def per_loan(segment_values: np.ndarray, fill: int) -> np.ndarray:
            out = np.full(n, fill, dtype=segment_values.dtype)
            out[seg_loan] = segment_values
            return out[rows]

        def passthrough(column: str) -> Callable[[], pd.Series]:
            values = self._loans[column]
            return lambda: values if everyone else values.iloc[rows].reset_index(drop=True)

        @cache
        def overdue() -> dict[str, np.ndarray]:
            return {c: per_loan(v, 0) for c, v in arrears.overdue_cents.items()}

        @cache
        def oldest() -> np.ndarray:
            return per_loan(arrears.oldest_overdue_day, MISSING_DAY)

        @cache
        def dpd() -> np.ndarray:
            return np.where(oldest() != MISSING_DAY, day - oldest(), 0)

        @cache
        def buckets() -> tuple[pd.Categorical, pd.Categorical]:
            return bucket_categoricals(dpd(), policy)

        def overdue_money(component: str) -> Callable[[], np.ndarray]:
            return lambda: _money(overdue()[component])

        return {
            "as_of_date": lambda: np.full(count, np.datetime64(as_of, "D")).astype("datetime64[s]"),
            **{c: passthrough(c) for c in _LOAN_PASSTHROUGH},
            "dpd": dpd,
            "bucket": lambda: buckets()[0],
            "regulatory_grade": lambda: buckets()[1],
            "is_npl": lambda: dpd() >= policy.npl_min_dpd,
            "oldest_unpaid_due_date": lambda: _days_to_datetime(oldest()),
            "overdue_principal": overdue_money("principal"),
            "overdue_interest": overdue_money("interest"),
            "overdue_fees": overdue_money("fee"),
            "overdue_amount": lambda: _money(
                overdue()["principal"] + overdue()["interest"] + overdue()["fee"]
            ),
            "outstanding_principal": lambda: _money(
                per_loan(arrears.outstanding_principal_cents, 0)
            ),
            "total_paid": lambda: _money(net[rows]),
            "last_payment_date": lambda: _days_to_datetime(
                self._payments.last_payment_day(day, n)[rows]
            ),
            "installments_due": lambda: per_loan(arrears.installments_due, 0),
            "installments_overdue": lambda: per_loan(arrears.installments_overdue, 0),
            "months_on_book": lambda: _months_between(self._origination_day[rows], day),
            "on_book": lambda: self._on_book[rows],
        }

    @property
    def loan_ids(self) -> pd.Series:
        """The loans given, in their order: what the engine's positions refer to."""
        return self._loans["loan_id"]

    def snapshots(self, as_of_dates: Iterable[dt.date]) -> pd.DataFrame:
        """Snapshots for several dates stacked (e.g. month ends for roll rates)."""
        frames = [self.snapshot(d) for d in as_of_dates]
        if not frames:
            return self.snapshot(_EPOCH).iloc[:0]
        return pd.concat(frames, ignore_index=True)


def compute_snapshot(
    loans: pd.DataFrame,
    installments: pd.DataFrame,
    repayments: pd.DataFrame,
    as_of: dt.date,
    policy: DelinquencyPolicy,
) -> pd.DataFrame:
    """Delinquency snapshot of every loan originated on or before ``as_of``."""
    return DelinquencyEngine(loans, installments, repayments, policy).snapshot(as_of)


def _epoch_day(as_of: dt.date) -> int:
    if isinstance(as_of, pd.Timestamp | dt.datetime):
        as_of = as_of.date()
    return (as_of - _EPOCH).days


def _money(cents: np.ndarray) -> np.ndarray:
    return np.round(cents / 100.0, 2)


def _days_to_datetime(days: np.ndarray) -> np.ndarray:
    """Epoch days to datetime64[s]; MISSING_DAY becomes NaT."""
    out = days.astype("datetime64[D]").astype("datetime64[s]")
    out[days == MISSING_DAY] = np.datetime64("NaT")
    return out


def _months_between(start_days: np.ndarray, end_day: int) -> np.ndarray:
    """Whole months from each start to the end day, as dateutil's relativedelta counts them.

    A month is complete on the same day-of-month, or on the month's last day when that day
    does not exist (Jan 31 -> Feb 29 is one month).
    """
    start = start_days.astype("datetime64[D]")
    end = np.datetime64(end_day, "D")
    start_month = start.astype("datetime64[M]")
    end_month = end.astype("datetime64[M]")
    start_dom = (start - start_month.astype("datetime64[D]")).astype(np.int64) + 1
    end_dom = int((end - end_month.astype("datetime64[D]")).astype(np.int64)) + 1
    days_in_end_month = int(
        ((end_month + 1).astype("datetime64[D]") - end_month.astype("datetime64[D]")).astype(
            np.int64
        )
    )
    months = (end_month - start_month).astype(np.int64)
    anniversary = np.minimum(start_dom, days_in_end_month)
    return months - (end_dom < anniversary)
