"""Which failures are permanent: retrying them cannot help, so the task fails at once.

One list, read by the DAG factory, instead of a try/except in every DAG file. A stage
marks its own permanent failures with a ``permanent`` attribute (True or False per
instance, e.g. a CRM 4xx versus a timeout); the stage errors below are permanent by
nature. Imports are lazy: DAG files are parsed without loading the stages.
"""

from __future__ import annotations


class PermanentStageError(Exception):
    """Raised by DAG wiring for a condition a retry cannot change (e.g. a drift alert)."""

    permanent = True


def _permanent_types() -> tuple[type[BaseException], ...]:
    from nplpipeline.act.guardrail_audit import GuardrailBreachError  # same inputs, same breach
    from nplpipeline.ingest.loader import IngestError  # a rejected drop stays rejected
    from nplpipeline.model.registry import (
        ModelIntegrityError,  # a tampered or unapproved champion stays refused
        NoChampionError,  # no champion until one is trained
    )

    return (GuardrailBreachError, IngestError, ModelIntegrityError, NoChampionError)


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the task with the same inputs would fail the same way."""
    flag = getattr(exc, "permanent", None)
    if flag is not None:
        return bool(flag)
    return isinstance(exc, _permanent_types())


class DriftAlertError(PermanentStageError):
    """Model monitoring found a subject in alert; the figures are already stored."""


def check_drift(summary: dict[str, object]) -> str:
    """The monitoring status, or DriftAlertError when anything is in alert."""
    if summary["status"] == "alert":
        alerts = summary.get("alert") or []
        raise DriftAlertError(
            f"model v{summary['model_version']} drift alert on {summary['as_of']}: "
            f"{', '.join(map(str, alerts))} (see ops_model_monitoring)"  # type: ignore[call-overload]
        )
    return str(summary["status"])
