"""The simulation as a stage: writes into the configured landing zone and truth folder."""

from __future__ import annotations

import dataclasses
import datetime as dt

from nplpipeline.settings import Settings, get_settings


def run_simulation(
    loans: int,
    seed: int = 42,
    end_date: str | dt.date = "2026-10-31",
    dirty_share: float = 0.005,
    file_format: str = "csv",
    settings: Settings | None = None,
    progress: bool = False,
) -> dict[str, object]:
    """Simulate ``loans`` loans; returns the summary (counts only, no PII)."""
    from nplpipeline.simulate import SimulationConfig, simulate_portfolio

    settings = settings or get_settings()
    end = end_date if isinstance(end_date, dt.date) else dt.date.fromisoformat(end_date)
    config = SimulationConfig(
        n_loans=loans,
        seed=seed,
        end_date=end,
        dirty_share=dirty_share,
        file_format=file_format,  # type: ignore[arg-type]
    )
    summary = simulate_portfolio(
        config, settings.landing_dir, settings.ground_truth_dir, progress=progress
    )
    return dataclasses.asdict(summary)
