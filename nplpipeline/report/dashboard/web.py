"""The dashboard as a FastAPI app, for Airflow's API server (see ``plugins/npl_dashboard.py``).

Routes, relative to wherever the app is mounted:

* ``GET /`` -- the HTML dashboard, ``?as_of=YYYY-MM-DD`` optional (default: latest);
* ``GET /api/summary`` -- the same figures as JSON;
* ``GET /icon.svg`` -- the navigation icon.

Authentication is the caller's choice (``dependencies``): the Airflow plugin passes
Airflow's own login check, a test or a standalone run may pass none. Handlers are plain
``def`` so the blocking warehouse reads run in the server's thread pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from nplpipeline.report.dashboard import service

# The page is static HTML + inline SVG/CSS: forbid scripts, plugins and remote loads.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
    'stroke="currentColor" stroke-width="2" stroke-linecap="round">'
    '<path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/></svg>'
)


def create_app(*, dependencies: Sequence[Any] = ()) -> FastAPI:
    """A fresh app; ``dependencies`` (e.g. an auth check) apply to every route."""
    app = FastAPI(
        title="NPL collections dashboard",
        dependencies=list(dependencies),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/", response_class=HTMLResponse)
    def dashboard(as_of: str | None = None) -> HTMLResponse:
        page = service.dashboard_page(as_of)
        return HTMLResponse(page.html, status_code=page.status, headers=SECURITY_HEADERS)

    @app.get("/api/summary")
    def summary(as_of: str | None = None) -> JSONResponse:
        result = service.summary(as_of)
        return JSONResponse(
            result.data, status_code=result.status, headers={"Cache-Control": "no-store"}
        )

    @app.get("/icon.svg")
    def icon() -> Response:
        return Response(
            ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    return app
