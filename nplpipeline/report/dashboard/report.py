"""The monthly management report: the dashboard's figures as one offline HTML file.

Management reads it away from Airflow (mail, a shared drive, print), so the file is
self-contained: inline CSS and SVG charts, no scripts, no fonts or libraries from the
internet. It takes the month's view of the data: NPL trend as month-end points and
suppressions over the month to date.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from nplpipeline.report.dashboard.load import read_dashboard
from nplpipeline.report.dashboard.render import NO_DATA, render_dashboard
from nplpipeline.settings import Settings


def write_monthly_report(
    as_of: dt.date, path: str | Path, settings: Settings | None = None
) -> Path:
    """Write the report for the month of ``as_of`` (figures as of that date) to ``path``.

    The file is replaced atomically, so a reader never sees half a report. Raises
    ``LookupError`` when there are no KPIs on or before ``as_of``: a scheduled report
    should fail visibly rather than mail an empty page.
    """
    dashboard = read_dashboard(as_of, period="month", settings=settings)
    if dashboard is None:
        raise LookupError(f"no KPI data on or before {as_of.isoformat()}. {NO_DATA}")
    generated = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    html = render_dashboard(dashboard, mode="report", generated_at=generated)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(html)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_report_if_due(as_of: dt.date, asked: bool = False) -> Path | None:
    """The monthly report of ``as_of`` into ``<home>/reports/`` when it is due (a month
    end, or asked): what ``npl_kpis`` runs after the marts, the live stage chain too."""
    from nplpipeline.orchestration.data_calendar import report_due
    from nplpipeline.settings import get_settings

    if not report_due(as_of, asked):
        return None
    folder = get_settings().home / "reports"
    return write_monthly_report(as_of, folder / f"npl-management-{as_of:%Y-%m}.html")
