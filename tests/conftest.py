"""Shared fixtures: real warehouses (DuckDB file, throwaway PostgreSQL database) and a
migrated, test-local Airflow metadata DB.

Airflow reads its configuration on first import, so its environment is set here, at
import time, before any test module imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="npl-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "NPL_PROJECT_ROOT": str(ROOT),
    }
)

POSTGRES_ADMIN_URL = os.environ.get(
    "NPL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the test-local Airflow metadata DB once per session."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"], check=True, env=os.environ.copy(), capture_output=True
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The PostgreSQL server the tests use; they fail (not skip) if it is down."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    finally:
        engine.dispose()
    return POSTGRES_ADMIN_URL


def _throwaway_postgres(admin_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"npl_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(sa.engine.make_url(admin_url).set(database=name))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same tests on both warehouses: embedded DuckDB and a throwaway PostgreSQL DB."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    else:
        yield from _throwaway_postgres(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def npl_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, warehouse_url: str) -> dict[str, str]:
    """Point every NPL_* setting at this test's own folders and warehouse."""
    env = {
        "NPL_HOME": str(tmp_path / "var"),
        "NPL_WAREHOUSE_URL": warehouse_url,
        "NPL_LANDING_DIR": str(tmp_path / "landing"),
        "NPL_GROUND_TRUTH_DIR": str(tmp_path / "ground_truth"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
