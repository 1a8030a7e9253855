"""The DAG factory: what every NPL DAG and task shares, written once.

``npl_dag`` gives a DAG its owner, retries, start date, tags, ``doc_md``, one run at a
time and the ``as_of`` param. ``npl_task`` builds a ``StageOperator``, which

- resolves the run's as-of date (``run_dates.resolve_as_of``) and passes it to the task
  function when its first parameter is ``as_of``;
- fails fast (``AirflowFailException``, no retries) on permanent errors, as listed in
  ``errors.is_permanent``: one place instead of a try/except in each DAG file;
- stamps every outlet asset event with the as-of date, so downstream DAGs started by the
  event work on the same date;
- reports the task's declared reads and writes to OpenLineage with schema, row-count and
  version facets (``get_openlineage_facets_on_complete``).

Any other keyword (``retries``, ``execution_timeout``, ``map_index_template``, ...) goes
to the operator unchanged, so a task keeps its own arguments over the DAG's defaults.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk import Param, dag, get_current_context
from airflow.sdk.bases.decorator import task_decorator_factory
from airflow.sdk.exceptions import AirflowFailException

from nplpipeline.orchestration.defaults import START_DATE, default_args
from nplpipeline.orchestration.lineage import Lineage

AS_OF_PARAM = Param(
    None,
    type=["null", "string"],
    format="date",
    description="Work on this date (default: the triggering asset event's, else the run's)",
)


def npl_dag(
    dag_id: str,
    *,
    schedule: Any,
    doc_md: str | None,
    tags: Iterable[str],
    params: dict[str, Any] | None = None,
    as_of_param: bool = True,
    retries: int = 2,
    **dag_kwargs: Any,
) -> Callable[[Callable[..., None]], Callable[..., Any]]:
    """``@dag`` with the project's conventions; extra keywords override them."""
    all_params = {"as_of": AS_OF_PARAM} if as_of_param else {}
    all_params.update(params or {})
    options: dict[str, Any] = {
        "dag_id": dag_id,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(retries=retries),
        "tags": ["npl", *tags],
        "doc_md": doc_md,
        "params": all_params,
    }
    options.update(dag_kwargs)
    return dag(schedule=schedule, **options)


# Set by StageOperator.execute for the task function it runs (one task per process).
_RUNNING_AS_OF: ContextVar[dt.date] = ContextVar("npl_running_as_of")


def current_as_of() -> dt.date:
    """The as-of date of the running stage task (resolved once, in ``execute``)."""
    try:
        return _RUNNING_AS_OF.get()
    except LookupError:
        from nplpipeline.orchestration.run_dates import resolve_as_of

        return resolve_as_of(get_current_context())


def _inject_as_of(function: Callable[..., Any]) -> Callable[..., Any]:
    """Hide a leading ``as_of`` parameter from Airflow and fill it in at run time."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].name != "as_of":
        return function

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        return function(current_as_of(), *args, **kwargs)

    call.__signature__ = signature.replace(parameters=parameters[1:])  # type: ignore[attr-defined]
    return call


class StageOperator(_PythonDecoratedOperator):
    """A TaskFlow task that runs one pipeline stage (see the module docstring)."""

    custom_operator_name = "@npl_task"

    def __init__(
        self,
        *,
        lineage: Lineage | None = None,
        event_extra: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.npl_lineage = lineage or Lineage()
        self.npl_event_extra = tuple(event_extra)
        self.npl_as_of: dt.date | None = None
        self.npl_result: Any = None

    def execute(self, context: Any) -> Any:
        from nplpipeline.orchestration.errors import is_permanent
        from nplpipeline.orchestration.run_dates import resolve_as_of

        self.npl_as_of = resolve_as_of(context)
        token = _RUNNING_AS_OF.set(self.npl_as_of)
        try:
            result = super().execute(context)
        except AirflowFailException:
            raise
        except Exception as exc:
            if is_permanent(exc):  # the same inputs would fail the same way: no retries
                raise AirflowFailException(str(exc)) from None
            raise
        finally:
            _RUNNING_AS_OF.reset(token)
        self.npl_result = result
        self._stamp_outlet_events(context, result)
        return result

    def _stamp_outlet_events(self, context: Any, result: Any) -> None:
        extra: dict[str, Any] = {"as_of": self.npl_as_of.isoformat()}
        if isinstance(result, dict):
            extra.update({k: result[k] for k in self.npl_event_extra if k in result})
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = extra

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What the task read and wrote, with schema, row counts and versions."""
        from nplpipeline.orchestration.lineage_facets import operator_lineage

        return operator_lineage(self.npl_lineage, self.npl_as_of, self.npl_result)


def npl_task(
    python_callable: Callable[..., Any] | None = None,
    *,
    reads: Iterable[Any] = (),
    writes: Iterable[Any] = (),
    **kwargs: Any,
) -> Any:
    """``@task`` for a pipeline stage: ``@npl_task(reads=..., writes=..., outlets=...)``."""
    lineage = Lineage(reads=tuple(reads), writes=tuple(writes))

    def decorate(function: Callable[..., Any]) -> Any:
        return task_decorator_factory(
            python_callable=_inject_as_of(function),
            decorated_operator_class=StageOperator,
            lineage=lineage,
            **kwargs,
        )

    return decorate(python_callable) if python_callable is not None else decorate
