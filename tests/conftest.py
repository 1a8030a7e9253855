"""Shared fixtures: real warehouses (DuckDB file, throwaway PostgreSQL database) and a
migrated, test-local Airflow metadata DB.

Airflow reads its configuration on first import, so its environment is set here, at
import time, before any test module imports it.

Levels: tests that need PostgreSQL carry the ``postgres`` marker and tests that run
Airflow against its metadata DB the ``airflow`` marker. Files may say so themselves
(``pytestmark``); the hook below adds the marker to any test that uses the
``postgres`` warehouse or the ``airflow_db`` fixture, so ``-m "not postgres"`` is
right even when a file forgets. Helper modules (``raw_rows``, ``landing_fixtures``,
...) live in this folder and are importable from test files in any sub-folder
(``tests/unit``, ``tests/integration``, ``tests/airflow``) through ``TESTS_DIR`` on
``sys.path``.
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
import sqlalchemy as sa

from nplpipeline.warehouse.engine import opened

ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # helpers stay importable after tests move into levels
    sys.path.insert(0, str(TESTS_DIR))
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what a test really needs, whatever its file declares."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("warehouse_url") == "postgres"
        if on_postgres or "postgres_server_url" in fixtures:
            item.add_marker(pytest.mark.postgres)
        if "airflow_db" in fixtures:
            item.add_marker(pytest.mark.airflow)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same tests on both warehouses: embedded DuckDB and a throwaway PostgreSQL DB."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    else:
        yield from _throwaway_postgres(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[sa.Engine]:
    """An engine on this test's warehouse, disposed after the test."""
    with opened(warehouse_url) as engine:
        yield engine


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
