"""The twin as a stage: directories from settings, counts only in the result.

``run_twin_warm_up`` writes the history into the landing zone and truth folder and the
twin's state into ``settings.twin_dir``; ``run_twin_day(as_of)`` steps the twin through
``as_of``'s decisions -- the pipeline's (what the CRM and the agencies received) or the
status quo's -- and writes the drops dated ``as_of + 1``. Truth of the twin's days goes
to ``<ground_truth_dir>/<policy>/days/<date>/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from nplpipeline.settings import Settings, get_settings

Policy = Literal["pipeline", "status_quo"]
POLICIES = ("pipeline", "status_quo")


def _date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def run_twin_warm_up(
    loans: int = 20_000,
    seed: int = 42,
    start_date: str | dt.date = "2026-10-31",
    history_days: int = 730,
    dirty_share: float = 0.005,
    file_format: str = "csv",
    settings: Settings | None = None,
) -> dict[str, Any]:
    from nplpipeline.simulate.twin import TwinConfig, warm_up

    settings = settings or get_settings()
    config = TwinConfig(
        n_loans=loans,
        seed=seed,
        start_date=_date(start_date),
        history_days=history_days,
        dirty_share=dirty_share,
        file_format=file_format,  # type: ignore[arg-type]
    )
    return warm_up(config, settings.twin_dir, settings.landing_dir, settings.ground_truth_dir)


def run_twin_day(
    as_of: str | dt.date, policy: Policy = "pipeline", settings: Settings | None = None
) -> dict[str, Any]:
    """Step the twin through ``as_of``'s decisions; writes the drops dated ``as_of + 1``."""
    from nplpipeline.simulate.twin import (
        load_status_quo_policy,
        read_pipeline_decisions,
        status_quo_decisions,
        step_day,
    )

    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    settings = settings or get_settings()
    day = _date(as_of)
    if policy == "status_quo":
        decisions = status_quo_decisions(settings.twin_dir, day, load_status_quo_policy())
    else:
        decisions = read_pipeline_decisions(settings, day)
    summary = step_day(
        settings.twin_dir,
        day,
        decisions,
        settings.landing_dir,
        settings.ground_truth_dir / policy,
    )
    return {"policy": policy, **summary}
