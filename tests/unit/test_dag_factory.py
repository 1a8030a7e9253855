"""The DAG factory's operator: the as-of date reaches the task function, permanent
errors fail fast (no retries) in one place, transient ones stay retryable, and outlet
events carry the date. Runs the operator's ``execute`` directly: no metadata DB."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk import DAG, Asset
from airflow.sdk.exceptions import AirflowFailException

from nplpipeline.orchestration.errors import PermanentStageError
from nplpipeline.orchestration.factory import npl_task

OUT = Asset(name="t_out", uri="npl://warehouse/t_out")


class _Event:
    extra: dict | None = None


def _operator(function, **kwargs):
    with DAG("factory_probe", schedule=None):
        return npl_task(**kwargs)(function)().operator


def _context(events: dict | None = None) -> dict:
    return {"params": {"as_of": "2026-10-31"}, "outlet_events": events or {}}


def test_as_of_is_passed_and_stamped_on_outlet_events() -> None:
    def stage(as_of: dt.date) -> dict:
        return {"seen": as_of.isoformat(), "rows_loaded": 7}

    op = _operator(stage, outlets=[OUT], event_extra=("rows_loaded",))
    event = _Event()
    assert op.execute(_context({OUT: event})) == {"seen": "2026-10-31", "rows_loaded": 7}
    assert event.extra == {"as_of": "2026-10-31", "rows_loaded": 7}


def test_permanent_errors_fail_fast_and_transient_ones_stay_retryable() -> None:
    from nplpipeline.ingest.loader import IngestError

    def rejected(as_of: dt.date) -> None:
        raise IngestError("loans", {"loans/2026-10-31/x.csv": "missing column"})

    def alert() -> None:
        raise PermanentStageError("drift alert")

    def locked(as_of: dt.date) -> None:
        raise ConnectionError("warehouse locked")

    for function in (rejected, alert):
        with pytest.raises(AirflowFailException):
            _operator(function).execute(_context())
    with pytest.raises(ConnectionError):
        _operator(locked).execute(_context())


def test_a_task_keeps_its_own_arguments() -> None:
    def deliver() -> None:
        return None

    op = _operator(deliver, retries=5, execution_timeout=dt.timedelta(minutes=30))
    assert op.retries == 5 and op.execution_timeout == dt.timedelta(minutes=30)
