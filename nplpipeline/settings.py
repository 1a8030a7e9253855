"""One settings layer for every stage.

Resolution order for each setting, first hit wins:
1. an ``NPL_*`` environment variable (``NPL_WAREHOUSE_URL``, ``NPL_LANDING_DIR``, ...);
2. for URLs of external systems, an Airflow connection (``npl_warehouse``,
   ``npl_source``), looked up only when running inside Airflow, so the package never
   needs Airflow to work;
3. the embedded default: everything under ``var/`` in the checkout (git-ignored) and the
   MLflow store under ``mlflow/``.

Nothing here reads secrets into code: URLs with passwords come from the environment or
the Airflow secrets backend, never from the repository.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from nplpipeline.config.policy import DEFAULT_POLICY_FILE, Policy, load_policy

ENV_PREFIX = "NPL_"
WAREHOUSE_CONN_ID = "npl_warehouse"
SOURCE_CONN_ID = "npl_source"
CRM_CONN_ID = "npl_crm"
MASK = "***"
# Query parameters that carry credentials in the URLs we see: libpq (password,
# sslpassword), cloud storage (SAS sig, tokens, keys), MLflow/HTTP tokens.
SECRET_PARAMS = re.compile(r"pass|pwd|secret|token|key|sig|credential|auth|session", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def project_root() -> Path:
    """The checkout the package runs from (or ``NPL_PROJECT_ROOT`` when installed elsewhere)."""
    explicit = os.environ.get(f"{ENV_PREFIX}PROJECT_ROOT")
    if explicit:
        return Path(explicit).resolve()
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def mask_url(url: str) -> str:
    """``url`` with its userinfo password and secret-looking query values replaced.

    Works for every URL a setting can hold (SQLAlchemy, MLflow tracking, fsspec outbox,
    HTTP); text that is not a URL (a local path) comes back unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # unparseable: say nothing rather than leak
    if not parts.scheme or "://" not in url:
        return url
    masked = url
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            masked = masked.replace(parts.netloc, f"{user}:{MASK}@{host}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        hidden = [(k, MASK if SECRET_PARAMS.search(k) and v else v) for k, v in pairs]
        if hidden != pairs:
            masked = masked.replace("?" + parts.query, "?" + urlencode(hidden, safe="*/:,"), 1)
    return masked  # rebuilt by replacement: urlunsplit would drop "////" of file URLs


def mask_text(text: str) -> str:
    """Every URL inside ``text`` masked (for error messages that quote a setting)."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)


def _env(name: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else None


def airflow_connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id``, when Airflow is there to ask; else None.

    Outside Airflow (no AIRFLOW_HOME and no AIRFLOW_CONN_* variable) it does not even
    import Airflow, so the package and its CLI run without it.
    """
    if not os.environ.get("AIRFLOW_HOME") and f"AIRFLOW_CONN_{conn_id.upper()}" not in os.environ:
        return None
    try:
        from airflow.sdk import Connection
    except ImportError:  # pragma: no cover - the package works without Airflow
        return None
    try:
        return Connection.get(conn_id)
    except Exception:  # not defined, or no metadata DB to ask
        return None


def _airflow_connection_uri(conn_id: str) -> str | None:
    """An Airflow connection's URI as a SQLAlchemy URL, when Airflow is there to ask."""
    conn = airflow_connection(conn_id)
    if conn is None:
        return None
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    uri = conn.get_uri()
    return uri.replace("postgres://", "postgresql+psycopg://", 1)


@dataclass(frozen=True)
class Settings:
    """Resolved locations of every system the pipeline talks to."""

    root: Path = field(default_factory=project_root)

    @cached_property
    def home(self) -> Path:
        """Working files (warehouse file, landing zone, outbox, Airflow home) by default."""
        return Path(_env("HOME") or self.root / "var")

    @cached_property
    def warehouse_url(self) -> str:
        return (
            _env("WAREHOUSE_URL")
            or _airflow_connection_uri(WAREHOUSE_CONN_ID)
            or f"duckdb:///{self.home / 'warehouse.duckdb'}"
        )

    @cached_property
    def source_url(self) -> str | None:
        """A source database to pull from instead of the landing zone, when set."""
        return _env("SOURCE_URL") or _airflow_connection_uri(SOURCE_CONN_ID)

    @cached_property
    def source_schema(self) -> str | None:
        """Schema of the source tables (named like the contract's entities)."""
        return _env("SOURCE_SCHEMA")

    @cached_property
    def source_lookback(self) -> dt.timedelta:
        """How far before the watermark each pull starts (late-committed rows)."""
        return dt.timedelta(minutes=float(_env("SOURCE_LOOKBACK_MINUTES") or 60))

    @cached_property
    def landing_dir(self) -> Path:
        return Path(_env("LANDING_DIR") or self.home / "landing")

    @cached_property
    def ground_truth_dir(self) -> Path:
        """Where the simulator writes its answers; the pipeline itself never reads it."""
        return Path(_env("GROUND_TRUTH_DIR") or self.home / "ground_truth")

    @cached_property
    def twin_dir(self) -> Path:
        """The lender twin's world state (dev/demo only); the pipeline never reads it."""
        return Path(_env("TWIN_DIR") or self.home / "twin")

    @cached_property
    def gx_dir(self) -> Path:
        """Great Expectations project folder; Data Docs are built under it."""
        return Path(_env("GX_DIR") or self.home / "gx")

    @cached_property
    def gx_keep_results(self) -> int:
        """Validation results (and Data Docs pages) kept per GX suite; older are pruned."""
        return int(_env("GX_KEEP_RESULTS") or 30)

    @cached_property
    def expectations_dir(self) -> Path:
        """The reviewed suites (one JSON file per entity) the checkpoints run."""
        return Path(_env("EXPECTATIONS_DIR") or self.root / "expectations")

    @cached_property
    def outbox_dir(self) -> str:
        return _env("OUTBOX_DIR") or str(self.home / "outbox")

    @cached_property
    def mlflow_tracking_uri(self) -> str:
        return _env("MLFLOW_TRACKING_URI") or f"sqlite:///{self.root / 'mlflow' / 'mlflow.db'}"

    @cached_property
    def mlflow_artifact_root(self) -> Path:
        return Path(_env("MLFLOW_ARTIFACT_ROOT") or self.root / "mlflow" / "artifacts")

    @cached_property
    def policy_file(self) -> Path:
        return Path(_env("POLICY_FILE") or DEFAULT_POLICY_FILE)

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.policy_file)

    @cached_property
    def source_encoding(self) -> str:
        """Text encoding of CSV drops: utf-8 (BOM or not), or gb18030 for GBK exports."""
        return _env("SOURCE_ENCODING") or "utf-8"

    @cached_property
    def ingest_max_bad_share(self) -> float:
        """A drop with a larger share of rows breaking value rules is rejected whole."""
        return float(_env("INGEST_MAX_BAD_SHARE") or 0.5)

    @cached_property
    def drop_wait_poke_seconds(self) -> float:
        """How often ``npl_ingest`` looks for the day's completed drop."""
        return float(_env("DROP_WAIT_POKE_SECONDS") or 300)

    @cached_property
    def drop_wait_timeout_seconds(self) -> float:
        """How long ``npl_ingest`` waits for the day's drop before failing the day."""
        return float(_env("DROP_WAIT_TIMEOUT_SECONDS") or 6 * 3600)

    @cached_property
    def ingest_chunk_rows(self) -> int:
        return int(_env("INGEST_CHUNK_ROWS") or 2_000_000)

    @cached_property
    def shards(self) -> int:
        """K: the per-account daily work runs as K mapped tasks, each on the loans whose
        stable hash falls in its shard (``warehouse/shards.py``); 1 = unsharded."""
        from nplpipeline.warehouse.shards import Shard

        count = int(_env("SHARDS") or 1)
        Shard(0, count)  # validates 1..MAX_SHARDS
        return count

    @cached_property
    def reduce_loans_per_part(self) -> int:
        """The whole-book steps (the KPIs' month-end snapshots, monitoring's features)
        read and compute this many loans at a time, one stable-hash shard after another
        in one process, so their memory stays bounded as the book grows."""
        return max(1, int(_env("REDUCE_LOANS_PER_PART") or 250_000))

    def reduce_parts(self, loans: int) -> int:
        """How many shards a whole-book step splits ``loans`` into (1..MAX_SHARDS)."""
        from nplpipeline.warehouse.shards import MAX_SHARDS

        return min(MAX_SHARDS, max(1, -(-loans // self.reduce_loans_per_part)))

    def describe(self) -> dict[str, str]:
        """Where everything points, every credential masked (safe to log and print).

        Every value goes through ``mask_url``: a password may sit in any of them --
        the warehouse and source URLs, the MLflow tracking URI (``https://u:p@...``),
        an fsspec outbox (``s3://key:secret@bucket``, ``?sig=`` SAS tokens) -- as
        userinfo or as a ``?password=`` query parameter.
        """
        values = {
            "warehouse": self.warehouse_url,
            "source": self.source_url or f"landing zone {self.landing_dir}",
            "mlflow": self.mlflow_tracking_uri,
            "outbox": self.outbox_dir,
            "policy": str(self.policy_file),
        }
        return {name: mask_url(value) for name, value in values.items()}


def get_settings() -> Settings:
    """Fresh settings each call: tests and tasks may change the environment between calls."""
    return Settings()
