"""Where the CRM lives and how hard to try: env ``NPL_CRM_*`` → Airflow connection → none.

Resolution, first hit wins (the same order as ``nplpipeline.settings``):

1. ``NPL_CRM_URL`` (+ optional ``NPL_CRM_TOKEN``): a URL without a path gets the default
   endpoint ``/api/v1/worklist-batches`` appended; a token embedded as the URL's password
   is moved out of the URL so it is never printed with it.
2. the Airflow connection ``npl_crm`` of type ``http``: host, schema (``http``/``https``,
   default ``https``), port, password = bearer token, extra ``{"endpoint", "batch_size",
   "timeout", "deadline", "max_attempts", "backoff_base", "backoff_max"}``. Looked up
   only when Airflow is there to ask, so the package never needs Airflow.
3. ``None``: no CRM configured -- the stage exports files only and says so.

``NPL_CRM_BATCH_SIZE``, ``NPL_CRM_TIMEOUT``, ``NPL_CRM_DEADLINE``, ``NPL_CRM_MAX_ATTEMPTS``,
``NPL_CRM_BACKOFF_BASE`` and ``NPL_CRM_BACKOFF_MAX`` override the tuning of either source.
The token is kept out of ``repr`` and ``describe``; nothing here logs it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nplpipeline.settings import CRM_CONN_ID, ENV_PREFIX, airflow_connection, mask_url

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "/api/v1/worklist-batches"
_TUNING: dict[str, type] = {
    "batch_size": int,
    "timeout": float,
    "max_attempts": int,
    "backoff_base": float,
    "backoff_max": float,
    "deadline": float,
}


@dataclass(frozen=True)
class CrmEndpoint:
    """A resolved CRM endpoint and its delivery tuning (safe to log via ``describe``)."""

    url: str
    token: str | None = field(default=None, repr=False)
    batch_size: int = 500
    timeout: float = 30.0  # seconds, per request (connect, read, write each)
    deadline: float = 120.0  # seconds, per request in total (a trickled answer ends here)
    max_attempts: int = 6  # per batch and task run, the first try included
    backoff_base: float = 0.5  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 30.0
    source: str = "explicit"

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("CRM URL must be an absolute http(s) URL")
        if parts.password or parts.username:
            raise ValueError("CRM URL must not carry credentials: use the token")
        if self.batch_size < 1 or self.max_attempts < 1:
            raise ValueError("CRM batch_size and max_attempts must be at least 1")
        if self.timeout <= 0 or self.deadline <= 0:
            raise ValueError("CRM timeout and deadline must be positive")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("CRM backoff must be non-negative")

    def describe(self) -> str:
        """Where deliveries go, for logs and task results (never the token)."""
        auth = "bearer token" if self.token else "no token"
        return f"{mask_url(self.url)} ({self.source}, {auth})"


def _env(name: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else None


def _with_endpoint(url: str, endpoint: str = DEFAULT_ENDPOINT) -> str:
    parts = urlsplit(url)
    path = parts.path if parts.path not in ("", "/") else "/" + endpoint.lstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _strip_credentials(url: str) -> tuple[str, str | None]:
    """The URL without userinfo, and the password it carried (treated as the token)."""
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, parts.password or None


def _tuning(source: dict[str, Any]) -> dict[str, Any]:
    """Tuning from a connection's extra, then ``NPL_CRM_<NAME>`` overrides."""
    out: dict[str, Any] = {}
    for name, cast in _TUNING.items():
        raw = _env(f"CRM_{name.upper()}") or source.get(name)
        if raw not in (None, ""):
            try:
                out[name] = cast(raw)
            except (TypeError, ValueError):
                raise ValueError(f"CRM setting {name} is not a valid {cast.__name__}") from None
    return out


def _from_env() -> CrmEndpoint | None:
    raw = _env("CRM_URL")
    if not raw:
        return None
    url, embedded = _strip_credentials(raw)
    return CrmEndpoint(
        url=_with_endpoint(url),
        token=_env("CRM_TOKEN") or embedded,
        source="env NPL_CRM_URL",
        **_tuning({}),
    )


def endpoint_from_connection(conn: Any) -> CrmEndpoint:
    """Build the endpoint from an Airflow ``http`` connection (never logs the password)."""
    conn_type = (conn.conn_type or "http").lower()
    if conn_type not in ("http", "https"):
        raise ValueError(f"Airflow connection {CRM_CONN_ID} has type {conn_type!r}, expected http")
    host = (conn.host or "").strip()
    if not host:
        raise ValueError(f"Airflow connection {CRM_CONN_ID} has no host")
    if "://" in host:
        scheme, host = host.split("://", 1)
    else:
        scheme = (conn.schema or "https").lower()  # secure unless told otherwise
    if scheme not in ("http", "https"):
        raise ValueError(f"Airflow connection {CRM_CONN_ID}: schema must be http or https")
    host = host.rstrip("/")
    netloc = f"{host}:{conn.port}" if conn.port else host
    extra = dict(conn.extra_dejson or {})
    url = _with_endpoint(f"{scheme}://{netloc}", str(extra.get("endpoint") or DEFAULT_ENDPOINT))
    return CrmEndpoint(
        url=url,
        token=conn.password or extra.get("token") or None,
        source=f"Airflow connection {CRM_CONN_ID}",
        **_tuning(extra),
    )


def resolve_crm_endpoint() -> CrmEndpoint | None:
    """The configured CRM, or ``None`` when there is none (export files only)."""
    endpoint = _from_env()
    if endpoint is None:
        conn = airflow_connection(CRM_CONN_ID)
        endpoint = endpoint_from_connection(conn) if conn is not None else None
    if endpoint is not None:
        log.info("CRM endpoint: %s", endpoint.describe())
    return endpoint


def with_tuning(endpoint: CrmEndpoint, **tuning: Any) -> CrmEndpoint:
    """A copy with other batch size / timeout / retry settings (tests, the demo)."""
    return replace(endpoint, **tuning)
