"""``wait_for_drop``: the sensor that holds a day's ingest until its drop has arrived.

It asks ``ingest.arrival.drop_arrived`` for the run's as-of date (``run_dates``). In
reschedule mode it gives its worker slot back between looks; when the timeout passes
it fails (``AirflowSensorTimeout``, no retries, not soft-failed), so the day's load
tasks are ``upstream_failed`` and the run is red: a missing day is never skipped.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseSensorOperator


class DropArrivedSensor(BaseSensorOperator):
    """Succeeds once the completion marker of the run's as-of date is there."""

    def poke(self, context: Any) -> bool:
        from nplpipeline.ingest.arrival import drop_arrived
        from nplpipeline.orchestration.run_dates import resolve_as_of

        as_of = resolve_as_of(context)
        arrived = drop_arrived(as_of)
        self.log.info("drop of %s %s", as_of, "arrived" if arrived else "not there yet")
        return arrived


def day_loaded_gate(task_id: str = "day_loaded") -> Any:
    """A no-op leaf (no worker process) that succeeds only when all its upstreams did.

    A DAG run's state follows its leaves; with only an ``all_done`` cleanup as leaf, a
    day whose sensor timed out would end "success". This leaf makes it fail.
    """
    from airflow.providers.standard.operators.empty import EmptyOperator

    return EmptyOperator(task_id=task_id, trigger_rule="all_success")
