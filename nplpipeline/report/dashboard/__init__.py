"""The collections dashboard: KPI tables -> typed records -> HTML with inline SVG charts.

One rendering serves two readers: the Airflow UI page (``plugins/npl_dashboard.py``
mounts :mod:`.web` in the API server) and the monthly management report file
(:func:`write_monthly_report`). Nothing here imports Airflow.

| module | job |
| --- | --- |
| ``model`` | the records a page shows (recovery by tier, NPL trend, roll rates, ...) |
| ``load`` | reads them from the marts, read-only and aggregated (no PII) |
| ``fmt``, ``charts``, ``render`` | formatting, inline SVG charts, the HTML document |
| ``service`` | request decisions: 400 / no data / 503 pages, JSON summary |
| ``web`` | the FastAPI app (imports FastAPI; loaded only where it is served) |
| ``report`` | the monthly report file |
"""

from nplpipeline.report.dashboard.load import (
    WarehouseUnavailableError,
    load_dashboard,
    read_dashboard,
)
from nplpipeline.report.dashboard.model import Dashboard
from nplpipeline.report.dashboard.render import render_dashboard, render_message
from nplpipeline.report.dashboard.report import write_monthly_report
from nplpipeline.report.dashboard.service import dashboard_page, summary

__all__ = [
    "Dashboard",
    "WarehouseUnavailableError",
    "dashboard_page",
    "load_dashboard",
    "read_dashboard",
    "render_dashboard",
    "render_message",
    "summary",
    "write_monthly_report",
]
