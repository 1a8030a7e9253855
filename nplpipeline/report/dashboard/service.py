"""Request handling without a web framework: a query string in, a status and body out.

Kept apart from FastAPI so the decisions (bad date -> 400, no KPIs yet -> an
explanation, warehouse busy or down -> 503) are plain functions, and a failure is a page
that says what to do, never a 500 with a stack trace. Error details are logged, not
shown: a driver message can carry host names.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import duckdb
import psycopg
import sqlalchemy as sa

from nplpipeline.report.dashboard.load import WarehouseUnavailableError, read_dashboard
from nplpipeline.report.dashboard.model import Dashboard
from nplpipeline.report.dashboard.render import NO_DATA, render_dashboard, render_message
from nplpipeline.settings import Settings

log = logging.getLogger(__name__)

UNAVAILABLE = "The warehouse is busy or unreachable; try again in a minute."
# Errors a query can raise mid-read: through SQLAlchemy, or from the drivers' own bulk
# paths (frames read DuckDB and PostgreSQL natively, unwrapped by SQLAlchemy).
QUERY_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.SQLAlchemyError,
    duckdb.Error,
    psycopg.Error,
)


@dataclass(frozen=True)
class Page:
    status: int
    html: str


@dataclass(frozen=True)
class Summary:
    status: int
    data: dict[str, Any]


class BadRequestError(ValueError):
    pass


def parse_as_of(value: str | None) -> dt.date | None:
    """``YYYY-MM-DD`` or empty (= latest); anything else is a :class:`BadRequestError`."""
    if value is None or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise BadRequestError(f"as_of must be a date as YYYY-MM-DD, not {value[:40]!r}") from None


def _dashboard(as_of: str | None, settings: Settings | None) -> tuple[int, Dashboard | str]:
    try:
        day = parse_as_of(as_of)
    except BadRequestError as exc:
        return 400, str(exc)
    try:
        dashboard = read_dashboard(day, settings=settings)
    except WarehouseUnavailableError as exc:
        log.warning("dashboard: warehouse unavailable (%s)", exc, exc_info=True)
        return 503, UNAVAILABLE
    except QUERY_ERRORS as exc:  # any query-time failure: a page, not a 500
        log.warning("dashboard: warehouse query failed (%s)", type(exc).__name__, exc_info=True)
        return 503, UNAVAILABLE
    if dashboard is None:
        message = NO_DATA if day is None else f"No KPI data on or before {day.isoformat()}."
        return 404, message
    return 200, dashboard


def dashboard_page(as_of: str | None = None, settings: Settings | None = None) -> Page:
    """The dashboard page for ``?as_of=`` (latest when empty).

    "No data" is a normal page (200): an empty warehouse is the state before the first
    KPI run, not an error of the page.
    """
    status, result = _dashboard(as_of, settings)
    if isinstance(result, Dashboard):
        return Page(200, render_dashboard(result))
    titles = {400: "Bad date", 404: "No KPI data", 503: "Warehouse unavailable"}
    return Page(200 if status == 404 else status, render_message(titles[status], result))


def summary(as_of: str | None = None, settings: Settings | None = None) -> Summary:
    """The same figures as JSON; ``404`` with a ``detail`` when there are none."""
    status, result = _dashboard(as_of, settings)
    if isinstance(result, Dashboard):
        return Summary(200, result.to_json())
    return Summary(status, {"detail": result})
