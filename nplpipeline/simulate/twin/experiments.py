"""Synthetic books and field experiments run on the twin's own mechanics.

What ``tests/unit/test_twin_parameters.py`` uses to show the twin reproduces the
published effects in ``parameters.py`` (and what calibrated ``reminder_weight``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.simulate.borrowers import draw_borrowers
from nplpipeline.simulate.config import DAY, MODEL
from nplpipeline.simulate.loans import PROD, draw_loans

from . import crm
from . import response as rs
from .agencies import AGENCY_MULT
from .parameters import PARAMS
from .state import BIG, WorldState
from .warmup import base_hazards

DAY0 = 20_600  # 2026-05-27: any day works, the book is built around it


def synthetic_book(n: int, dpd: int, seed: int, product: str = "credit_card") -> WorldState:
    """``n`` accounts of ``product`` that are ``dpd`` days past due on DAY0, never contacted."""
    rng = np.random.default_rng(seed)
    b = draw_borrowers(rng, n, 0, DAY0)
    ln = draw_loans(rng, b, n, 0, DAY0 - 400, DAY0 - 400, MODEL)
    ln.product[:] = PROD[product]
    k_miss = np.minimum(np.full(n, 3), ln.term)
    hb = base_hazards(b, ln, ln.cust, np.arange(n), k_miss)
    z = lambda v, t=np.int64: np.full(n, v, dtype=t)  # noqa: E731
    loans = {
        "cust": ln.cust,
        "d0": z(DAY0 - dpd),
        "cure_day": z(BIG),
        "status": z(0),
        "intensity": z(0.0, np.float64),
        "agency": z(-1),
        "placed_on": z(BIG),
        "period_end": z(BIG),
        "offer_day": z(BIG),
        "plan": z(0, np.int8),
        "visit_day": z(BIG),
        "ptp_until": z(-1),
        "ptp_kept": z(False, bool),
        "ptp_by": z(-1),
    }
    borrowers = {
        "income": b.income,
        "cust_no": np.arange(n),
        "dispute_open": z(False, bool),
        "dispute_since": z(BIG),
        "urumqi": b.urumqi,
    }
    schedule = {  # the missed instalment only: what a promise's amount is read from
        "loan": np.arange(n),
        "k": k_miss,
        "due_day": z(DAY0 - dpd),
        "principal": np.maximum(ln.principal // ln.term, 100),
        "interest": z(0),
        "fee": z(0),
        "paid_day": z(BIG),
        "plan_day": z(BIG),
    }
    return WorldState(
        meta={"seed": seed}, loans=loans, borrowers=borrowers, schedule=schedule, hb=hb
    )


def items(st: WorldState, loans: np.ndarray, channel: str, day: int = DAY0) -> pd.DataFrame:
    """Worklist items for ``loans`` on ``day`` (automated queue, 09:00-20:00 Beijing)."""
    start = pd.Timestamp(day * DAY + 3600, unit="s")  # 01:00 UTC = 09:00 local
    return pd.DataFrame(
        {
            "item_id": [f"x-{i}-{channel}" for i in loans],
            "loan_id": ["L" + str(i).zfill(9) for i in loans],
            "channel": channel,
            "queue": f"auto:{channel}",
            "assignee_id": None,
            "queue_rank": np.arange(1, len(loans) + 1),
            "timezone": "Asia/Shanghai",
            "window_start_utc": start,
            "window_end_utc": start + pd.Timedelta(hours=11),
            "offer_type": None,
            "offer_instalment_amount": None,
        }
    )


def cure_probability(st: WorldState, days: int, day0: int = DAY0) -> np.ndarray:
    """Each account's exact probability of curing within ``days`` after day0 (no draws),
    with intensity fading as in the daily step and no further contact."""
    intensity = st.loans["intensity"].copy()
    idx = np.arange(len(st.loans["d0"]))
    total = np.zeros(len(idx))
    for k in range(1, days + 1):
        st.loans["intensity"] *= np.exp(-1.0 / PARAMS.intensity_tau_days)
        total += rs.day_hazard(st, idx, day0 + k, AGENCY_MULT)
    st.loans["intensity"] = intensity
    return -np.expm1(-total)


def randomised_reminder(n: int, seed: int, dpd: int | None = None, days: int | None = None):
    """Half of a synthetic ``dpd`` book gets one SMS reminder on DAY0 through the CRM;
    cures are drawn day by day for ``days``. Returns (treated mask, cured mask)."""
    p = PARAMS
    dpd = p.reminder_study_dpd if dpd is None else dpd
    days = p.reminder_study_window_days if days is None else days
    st = synthetic_book(n, dpd, seed)
    rng = np.random.default_rng(seed + 1)
    treated = rng.random(n) < 0.5
    staff = _no_staff()
    crm.work_worklist(st, staff, items(st, np.flatnonzero(treated), "sms"), DAY0, rng)
    cured = np.zeros(n, dtype=bool)
    idx = np.arange(n)
    for k in range(1, days + 1):
        st.loans["intensity"] *= np.exp(-1.0 / p.intensity_tau_days)
        h = rs.day_hazard(st, idx, DAY0 + k, AGENCY_MULT)
        cured |= rng.random(n) < -np.expm1(-h)
    return treated, cured


def _no_staff():
    from nplpipeline.simulate.staff import build_staff

    return build_staff(np.random.default_rng(0), 1000, DAY0 - 400, 400)


__all__ = ["DAY0", "cure_probability", "items", "randomised_reminder", "synthetic_book"]
