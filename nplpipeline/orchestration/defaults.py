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
