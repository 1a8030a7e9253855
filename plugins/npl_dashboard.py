"""The collections dashboard in the Airflow 3 UI.

Airflow 3 plugins extend the UI with FastAPI apps mounted in the API server
(``fastapi_apps``) and navigation entries that show a URL in an iframe
(``external_views``); Flask AppBuilder views are gone. This plugin mounts the dashboard
(``nplpipeline.report.dashboard.web``) at ``/npl-dashboard`` and adds a top-level
"Collections" entry to the navigation that shows it at ``/plugin/collections``.

Every request must carry the Airflow login (the UI's session cookie or a bearer
token): plugin apps are not protected by Airflow unless they ask, and the page shows
the portfolio's figures.

Every Airflow process imports plugins (scheduler, DAG processor, each task for its
macros), but only the API server serves this app, so it is built on its first request:
FastAPI, Airflow's security module and the warehouse code (seconds of imports) stay out
of the others.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    from fastapi import FastAPI

URL_PREFIX = "/npl-dashboard"
URL_ROUTE = "collections"


def create_app(*, require_login: bool = True) -> FastAPI:
    """The dashboard app; ``require_login=False`` only for tests and local previews."""
    from nplpipeline.report.dashboard.web import create_app as dashboard_app

    dependencies: list[Any] = []
    if require_login:
        from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
        from airflow.api_fastapi.core_api.security import requires_access_view
        from fastapi import Depends

        # the permission every Airflow UI user has (viewer and up)
        dependencies.append(Depends(requires_access_view(AccessView.WEBSITE)))
    return dashboard_app(dependencies=dependencies)


class LazyApp:
    """An ASGI app that builds the real one (``create_app()``) on its first request.

    The build (imports) runs in a worker thread so the API server's event loop keeps
    serving the rest of the UI meanwhile.
    """

    def __init__(self) -> None:
        self._app: FastAPI | None = None
        self._lock = threading.Lock()

    def build(self) -> FastAPI:
        with self._lock:
            if self._app is None:
                self._app = create_app()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self._app
        if app is None:
            import anyio.to_thread

            app = await anyio.to_thread.run_sync(self.build)
        await app(scope, receive, send)


class NplDashboardPlugin(AirflowPlugin):
    """Registers the dashboard app and its navigation entry."""

    name = "npl_dashboard"
    fastapi_apps = [  # noqa: RUF012 - the plugin interface is class attributes
        {"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "NPL collections dashboard"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Collections",
            # relative (no leading slash): resolved against the UI's base URL, so it also
            # works behind a reverse proxy with a path prefix
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "icon": f"{URL_PREFIX.lstrip('/')}/icon.svg",
            "url_route": URL_ROUTE,  # shown inside the UI at /plugin/collections
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
