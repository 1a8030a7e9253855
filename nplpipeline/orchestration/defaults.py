"""What every NPL DAG shares: owner, retry policy, start date."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

OWNER = "collections-data"
START_DATE = datetime(2024, 1, 1)


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
    """Retries absorb transient failures (a locked warehouse, a flaky source); data
    errors raise AirflowFailException in the task and skip them."""
    return {"owner": OWNER, "retries": retries, "retry_delay": retry_delay}


def drop_wait_args() -> dict[str, Any]:
    """The ``wait_for_drop`` sensor's timing (``NPL_DROP_WAIT_*``): reschedule mode frees
    the worker slot between looks; after the timeout the day fails, never skipped."""
    from nplpipeline.settings import get_settings

    settings = get_settings()
    return {
        "mode": "reschedule",
        "poke_interval": settings.drop_wait_poke_seconds,
        "timeout": settings.drop_wait_timeout_seconds,
        "soft_fail": False,  # a missing day must show red, not skipped
        "retries": 0,  # the timeout is the whole wait; a retry would restart it
    }
