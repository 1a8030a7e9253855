"""Which as-of date a task works on, whatever started its run.

A scheduled or backfilled run has a logical date; a run started by an asset event
carries the as-of date its producer wrote in the event's ``extra``; a manual run may
name one in its ``as_of`` param. Resolving it in one place keeps every task idempotent
for the same date however it was started.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


def _as_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def resolve_as_of(context: Mapping[str, Any]) -> dt.date:
    params = context.get("params") or {}
    explicit = _as_date(params.get("as_of"))
    if explicit:
        return explicit
    events = context.get("triggering_asset_events") or {}
    dates = [
        d
        for asset_events in events.values()
        for event in asset_events
        if (d := _as_date((event.extra or {}).get("as_of")))
    ]
    if dates:
        return max(dates)
    logical = _as_date(context.get("logical_date"))
    if logical:
        return logical
    dag_run = context.get("dag_run")
    run_after = _as_date(getattr(dag_run, "run_after", None))
    if run_after:
        return run_after
    raise ValueError("no as-of date: set the `as_of` param or run on a schedule")
