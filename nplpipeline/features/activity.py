"""Payment and contact behaviour over lookback windows ending on the as-of date.

A window of w days ending on day a is (a - w, a]: the as-of day counts, as it does for
DPD. Payments count net of reversals *made by the as-of date*: a payment reversed a
week later still counted on the as-of date, because nobody could know yet.
"""

from __future__ import annotations

import numpy as np

from nplpipeline.delinquency.coerce import MISSING_DAY
from nplpipeline.delinquency.payments import Payments
from nplpipeline.features.config import FeatureConfig
from nplpipeline.features.inputs import Actions, PaidByDay


def _count(loan: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(loan, weights=weights, minlength=n)


def standing_weights(payments: Payments, as_of_day: int) -> np.ndarray:
    """Cents of each payment row that stands on the as-of day (reversal rows count 0).

    Rows dated after the as-of day get weight 0 too, so nothing later can leak through.
    """
    standing = (payments.void_from > as_of_day) & (payments.day <= as_of_day)
    return np.where(standing, payments.signed_cents, 0.0)


def payment_features(
    payments: Payments, rows: np.ndarray, as_of_day: int, n_loans: int, config: FeatureConfig
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    end = int(np.searchsorted(payments.day, as_of_day, side="right"))
    for w in config.payment_windows_days:
        start = int(np.searchsorted(payments.day, as_of_day - w + 1, side="left"))
        loan = payments.loan[start:end]
        stands = payments.void_from[start:end] > as_of_day  # reversal rows are -1
        out[f"payment_count_{w}d"] = _count(loan[stands], n_loans)[rows].astype(np.int64)
        cents = _count(loan[stands], n_loans, payments.signed_cents[start:end][stands])
        out[f"payment_amount_{w}d"] = np.round(cents[rows] / 100.0, 2)
    return out


def contact_features(
    actions: Actions,
    payments: Payments,
    paid_by_day: PaidByDay,
    rows: np.ndarray,
    as_of_day: int,
    n_loans: int,
    config: FeatureConfig,
) -> dict[str, np.ndarray]:
    """Attempts, right-party contacts, promises, broken promises and complaints."""
    out: dict[str, np.ndarray] = {}
    end = actions.upto(as_of_day)
    broken = _broken_promises(actions, payments, paid_by_day, end, as_of_day, config)
    for w in config.contact_windows_days:
        start = actions.since(as_of_day - w + 1)
        loan = actions.loan[start:end]
        for name, flag in (
            ("attempts", actions.attempt),
            ("rpc", actions.rpc),
            ("ptp", actions.ptp),
            ("complaints", actions.complaint),
        ):
            hit = flag[start:end]
            out[f"{name}_{w}d"] = _count(loan[hit], n_loans)[rows].astype(np.int64)
        # Broken promises are dated by their promised day, which must lie in the window.
        due_in = (broken["day"] > as_of_day - w) & (broken["day"] < as_of_day)
        out[f"broken_ptp_{w}d"] = _count(broken["loan"][due_in], n_loans)[rows].astype(np.int64)

    # Promises made by the as-of date that fall due on or after it: still open.
    made = slice(0, end)
    open_ = actions.ptp[made] & (actions.ptp_day[made] >= as_of_day)
    open_[open_] &= actions.ptp_day[made][open_] != MISSING_DAY
    cents = _count(actions.loan[made][open_], n_loans, actions.ptp_cents[made][open_])
    out["open_ptp_amount"] = np.round(cents[rows] / 100.0, 2)

    rpc = actions.rpc[made]
    last = np.full(n_loans, -1, dtype=np.int64)
    np.maximum.at(last, actions.loan[made][rpc], actions.day[made][rpc])
    last = last[rows]
    out["days_since_last_rpc"] = np.where(last >= 0, as_of_day - last, np.nan).astype(np.float64)
    return out


def _broken_promises(
    actions: Actions,
    payments: Payments,
    paid_by_day: PaidByDay,
    end: int,
    as_of_day: int,
    config: FeatureConfig,
) -> dict[str, np.ndarray]:
    """Promises made and due before the as-of day without enough paid since the promise.

    Paid = payments dated from the promise day to the promised day that still stand on
    the as-of day; the promise is kept when that reaches ``ptp_kept_share`` of it.
    """
    ptp_day = actions.ptp_day[:end]
    due = actions.ptp[:end] & (ptp_day < as_of_day)
    idx = np.flatnonzero(due)
    loan, made_day, promised_day = actions.loan[idx], actions.day[idx], ptp_day[idx]
    running = paid_by_day.cumulative(standing_weights(payments, as_of_day))
    paid = paid_by_day.between(running, loan, made_day, promised_day)
    # Compare in whole cents with a half-cent margin against float noise.
    kept = paid + 0.5 >= np.round(config.ptp_kept_share * actions.ptp_cents[idx])
    return {"loan": loan[~kept], "day": promised_day[~kept]}
