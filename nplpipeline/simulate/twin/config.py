"""What the twin continues: the portfolio the simulator builds up to ``start_date``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from nplpipeline.simulate.config import FileFormat, SimulationConfig, to_day
from nplpipeline.simulate.staff import Staff, build_staff


@dataclass(frozen=True)
class TwinConfig:
    """Same config (incl. seed) => byte-identical history, state and daily drops."""

    n_loans: int = 20_000
    seed: int = 42
    start_date: dt.date = dt.date(2026, 10, 31)  # last day of the warm-up history
    history_days: int = 730
    dirty_share: float = 0.005
    file_format: FileFormat = "csv"

    def simulation(self) -> SimulationConfig:
        return SimulationConfig(
            n_loans=self.n_loans,
            seed=self.seed,
            end_date=self.start_date,
            history_days=self.history_days,
            dirty_share=self.dirty_share,
            file_format=self.file_format,
        )


def staff_for(meta: dict) -> Staff:
    """The simulator's staff, rebuilt exactly as its first seed draws them."""
    seeds = np.random.SeedSequence(int(meta["seed"])).spawn(int(meta["n_chunks"]) + 1)
    return build_staff(
        np.random.default_rng(seeds[0]),
        int(meta["n_loans"]),
        int(meta["history_start_day"]),
        int(meta["history_days"]),
    )


def day_rng(meta: dict, day: int, stream: int) -> np.random.Generator:
    """Independent, reproducible random stream per (seed, day, purpose)."""
    return np.random.default_rng([int(meta["seed"]), 7_919, int(day), int(stream)])


def start_day(config: TwinConfig) -> int:
    return to_day(config.start_date)
