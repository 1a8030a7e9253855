"""Simulation configuration, summary and the calibrated model parameters.

Everything a reader may want to tune (rates, hazards, treatment effects) lives here so the
generating modules contain mechanics only.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

FileFormat = Literal["csv", "csv.gz", "parquet"]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Same config (incl. seed) => byte-identical output."""

    n_loans: int = 20_000
    seed: int = 42
    end_date: dt.date = dt.date(2026, 10, 31)  # last extract date; nothing after it is written
    history_days: int = 730  # originations spread over the 2 years before end_date
    dirty_share: float = 0.005  # share of rows made dirty (0 disables)
    file_format: FileFormat = "csv"
    chunk_loans: int = 250_000  # loans generated per chunk (bounded memory)

    def __post_init__(self) -> None:
        if self.n_loans <= 0 or self.chunk_loans <= 0:
            raise ValueError("n_loans and chunk_loans must be positive")
        if self.history_days < 60:
            raise ValueError("history_days must be at least 60")
        if not 0.0 <= self.dirty_share < 0.5:
            raise ValueError("dirty_share must be in [0, 0.5)")
        if self.file_format not in ("csv", "csv.gz", "parquet"):
            raise ValueError(f"unknown file_format {self.file_format!r}")

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n_loans / self.chunk_loans)


@dataclass(frozen=True)
class SimulationSummary:
    """Small, JSON-serialisable run summary (dataclasses.asdict). Holds no PII."""

    rows_written: dict[str, int]
    dirty_rows: dict[str, int]
    drop_dates: int
    landing_dir: str
    truth_dir: str
    npl_ratio_truth: float


EPOCH = dt.date(1970, 1, 1)
DAY = 86_400


def to_day(d: dt.date) -> int:
    """Days since 1970-01-01: the simulator's integer clock for dates."""
    return (d - EPOCH).days


def from_day(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


@dataclass(frozen=True)
class Model:
    """Calibrated parameters of the causal model (see behaviour.py for how they are used)."""

    # ---- first missed payment: logit of the per-installment miss probability ----
    default_intercept: float = -4.55
    age_effect: tuple[tuple[float, float], ...] = ((25, 0.95), (30, 0.65), (40, 0.15), (50, 0.0))
    age_effect_old: float = -0.1
    log_income_effect: float = -0.6  # per unit log(income / 6000)
    employment_effect: dict[str, float] = field(
        default_factory=lambda: {
            "salaried": 0.0,
            "self_employed": 0.25,
            "student": 0.5,
            "unemployed": 0.8,
            "retired": -0.1,
            "other": 0.3,
        }
    )
    product_effect: dict[str, float] = field(
        default_factory=lambda: {
            "cash_loan": 0.25,
            "installment": 0.0,
            "credit_card": 0.1,
            "bnpl": 0.35,
        }
    )
    term_effect: float = 0.012  # per month above 12
    dti_effect: float = 2.0
    rate_effect: float = 2.5  # per unit of annual rate above 0.18 (payment burden)
    frailty_sd: float = 0.6  # customer-level latent risk, shared by a customer's loans
    vulnerable_effect: float = 0.3

    # ---- self-curing late payments of otherwise good payers (M1 churn) ----
    late_prob: float = 0.045
    late_mean_days: float = 5.0

    # ---- cure hazard: piecewise-constant daily base over DPD segments, exponential decay ----
    # Base levels are calibrated together with the segment effects below so the portfolio
    # keeps its NPL ratio (~5.5% of balance at DPD > 90) and ~2/3 of episodes cure by DPD 90.
    breaks: tuple[float, ...] = (0, 7, 30, 45, 90, 120, 180, 365, math.inf)
    base_hazard: tuple[float, ...] = (0.044, 0.031, 0.0195, 0.018, 0.0098, 0.0076, 0.0038, 0.0015)
    weekly_decay: float = 0.01  # collectability falls ~1% a week
    cure_young: float = -0.35
    cure_frailty: float = -0.35
    cure_employment: dict[str, float] = field(
        default_factory=lambda: {
            "salaried": 0.0,
            "self_employed": -0.05,
            "student": -0.2,
            "unemployed": -0.45,
            "retired": 0.0,
            "other": -0.1,
        }
    )
    # ---- cure hazard: borrower effects that change with time in arrears (behaviour.py) ----
    # Ability to pay. Log-hazard += slope[employment] * weight[segment] * x, where
    # x = clip(log(income / 6000), -2, 2). What a stated income says about capacity depends
    # on where it comes from: a payroll or pension is stable and verified; a self-employed
    # or "other" figure is declared and volatile; a student's allowance or an unemployed
    # borrower's benefits say little about the means to clear arrears.
    cure_income_slope: dict[str, float] = field(
        default_factory=lambda: {
            "salaried": 0.6,
            "self_employed": 0.25,
            "student": 0.0,
            "unemployed": 0.05,
            "retired": 0.45,
            "other": 0.3,
        }
    )
    # ... and capacity matters most early: most early cures are liquidity cures (a missed
    # payday, a forgotten due date) that income settles; accounts still unpaid after
    # 90 days are mostly in structural distress, where late recoveries are settlements
    # driven by the collector or agency rather than by income. Weight per hazard segment.
    cure_income_weight: tuple[float, ...] = (1.0, 1.0, 0.8, 0.6, 0.35, 0.25, 0.15, 0.1)
    # Arrears burden. A cure means paying everything overdue at once, and arrears grow
    # by one instalment a month: log-hazard -= effect * min(instalment / income x
    # instalments due by the segment's midpoint (capped at those left on the loan), cap).
    # Nearly nothing early for a light instalment, a real barrier for a heavy one later.
    arrears_burden_effect: float = 0.45
    arrears_burden_cap: float = 3.0
    # Payment history before the first miss. A borrower who paid many instalments and then
    # missed one has usually hit a passing liquidity shock and cures fast, an advantage
    # that fades once arrears pass ~90 days; a first-payment default (nothing ever paid)
    # includes fraud and never-pay borrowers and cures less at every DPD.
    # Log-hazard += seasoning * weight[segment] * min(instalments paid, 12) / 12
    #             + first_payment_default * (nothing paid).
    cure_seasoning: float = 0.8
    cure_seasoning_weight: tuple[float, ...] = (1.0, 1.0, 0.7, 0.5, 0.25, 0.1, 0.0, 0.0)
    cure_first_payment_default: float = -0.5

    # ---- treatments (randomised, so their effects are causal) ----
    # Hazard x intensity**elasticity in the in-house stages. Contact matters more early in
    # arrears (a reminder or a call settles a forgotten or liquidity-short payment) than in
    # the mid stage, where the borrower already knows and is either unable or unwilling.
    contact_elasticity_early: float = 0.7  # DPD 0-30
    contact_elasticity_mid: float = 0.35  # DPD 30-90 (and 90-120 when placement is delayed)
    suppressed_contact_factor: float = 0.55  # no ordinary contact at all
    plan_share: float = 0.30  # flexible plan offered at DPD 5-6 to this share
    plan_effect: float = 1.4  # on segments [7, 90)
    visit_share: float = 0.35
    visit_effect: float = 1.35  # on segment [45, 90) (visits happen at DPD 31-44)
    delayed_placement_share: float = 0.3  # placed at DPD 120 instead of 90
    no_agency_factor: float = 0.6
    event_factor: float = 0.3  # deceased / bankrupt customers
    charge_off_dpd: int = 180
    write_off_dpd: int = 365
    horizon_days: int = 90

    @property
    def decay_rate(self) -> float:
        return -math.log(1.0 - self.weekly_decay) / 7.0

    def base_hazard_array(self) -> np.ndarray:
        return np.asarray(self.base_hazard, dtype=np.float64)


MODEL = Model()
