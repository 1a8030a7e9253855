"""A real, throwaway Airflow 3 deployment on localhost, for tests and benchmarks.

``airflow_cluster(tmp_dir, ...)`` creates a PostgreSQL metadata database, runs
``airflow db migrate``, and starts ``airflow api-server`` (which also serves the
Execution API that Airflow 3 task runners report to), ``airflow scheduler`` and
``airflow dag-processor`` -- plus ``airflow triggerer`` on request and, for the
CeleryExecutor, ``n_workers`` ``airflow celery worker`` processes (Redis broker, a
``db+postgresql`` result backend in the metadata database, a unique hostname per worker).
Leaving the ``with`` block -- normally or through an exception, e.g. a failed test
assertion -- kills every process group it started and drops the database.

Everything is private to one cluster, so two clusters (two pytest-xdist workers) never
collide: ports are ephemeral, ``AIRFLOW_HOME`` and logs live under ``tmp_dir``, the
database name is random, and Celery tasks go to a queue named after the cluster.

Wiring (Airflow 3.3 configuration reference and "JWT Token Authentication" docs):

* ``[core] execution_api_server_url`` = ``http://127.0.0.1:<port>/execution/`` so task
  runners (LocalExecutor subprocesses, Celery workers) reach this api-server;
* ``[api_auth] jwt_secret`` and ``[api] secret_key``: one random value shared by every
  process (if unset each process would draw its own and workers' tokens would be
  rejected);
* ``[core] simple_auth_manager_all_admins``: the REST API (v2) answers without a login;
  acceptable only because the server binds to 127.0.0.1 and lives for one test.

The helpers talk to the REST API v2 (``/api/v2``): wait for DAGs to be parsed, unpause,
trigger, create backfills (Airflow 3 backfills are run by the scheduler), list DAG runs
and task instances, wait for runs; ``diagnostics()`` gathers the process logs and the
logs of failed tasks for a failure message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
EXECUTORS = ("LocalExecutor", "CeleryExecutor")


class ClusterError(RuntimeError):
    """The deployment did not come up, or a wait timed out; carries diagnostics."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


@dataclass
class AirflowCluster:
    """A running deployment: its environment, REST client and processes."""

    home: Path
    env: dict[str, str]
    api_url: str
    metadata_url: str
    queue: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    client: httpx.Client | None = None

    # -- processes ------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        return self.home / "process-logs" / f"{name}.log"

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        path = self.log_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as out:
            self.processes[name] = subprocess.Popen(
                [_airflow_bin(), *args],
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: stop() kills its children too
                cwd=self.home,
            )

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise ClusterError(f"Airflow processes exited: {dead}\n{self.diagnostics()}")

    def stop(self, grace: float = 15.0) -> None:
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGKILL)  # also strays left by a process that exited
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if self.client is not None:
            self.client.close()

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command against this deployment."""
        done = subprocess.run(
            [_airflow_bin(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.home,
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-4000:]
            raise ClusterError(f"airflow {' '.join(args)} exited {done.returncode}:\n{output}")
        return done

    # -- REST API v2 ----------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self.client is not None
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        if response.status_code >= 400:
            raise ClusterError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 300) -> None:
        """Block until the dag-processor has serialized every one of ``dag_ids``."""
        missing = set(dag_ids)
        deadline = time.monotonic() + timeout
        while missing:
            self.check_alive()
            known = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 1000})["dags"]}
            errors = self.api("GET", "/importErrors")["import_errors"]
            if errors:
                raise ClusterError(f"DAG import errors: {errors}")
            missing -= known
            if missing and time.monotonic() > deadline:
                raise ClusterError(f"DAGs not parsed in {timeout}s: {sorted(missing)}")
            if missing:
                time.sleep(2)

    def set_paused(self, dag_id: str, paused: bool = False) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def unpause(self, *dag_ids: str) -> None:
        for dag_id in dag_ids:
            self.set_paused(dag_id, False)

    def trigger(
        self,
        dag_id: str,
        *,
        logical_date: dt.datetime | None = None,
        conf: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "logical_date": logical_date.isoformat() if logical_date else None,
            "conf": dict(conf or {}),
        }
        if run_id:
            body["dag_run_id"] = run_id
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def backfill(
        self,
        dag_id: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        max_active_runs: int = 1,
        reprocess_behavior: str = "none",
        conf: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Ask the scheduler to backfill ``dag_id`` over [start, end] (inclusive)."""
        body = {
            "dag_id": dag_id,
            "from_date": start.isoformat(),
            "to_date": end.isoformat(),
            "run_backwards": False,
            "dag_run_conf": dict(conf or {}),
            "reprocess_behavior": reprocess_behavior,
            "max_active_runs": max_active_runs,
        }
        return self.api("POST", "/backfills", json=body)

    def dag_runs(self, dag_id: str, run_type: str | None = None) -> list[dict[str, Any]]:
        """Runs of ``dag_id`` in run-after order, optionally of one run type only
        (``scheduled``, ``manual``, ``backfill``, ``asset_triggered``)."""
        params: dict[str, Any] = {"limit": 1000, "order_by": "run_after"}
        if run_type:
            params["run_type"] = [run_type]
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return self.api("GET", path, params={"limit": 1000})["task_instances"]

    def asset_events(self, **params: Any) -> list[dict[str, Any]]:
        query = {"limit": 1000, "order_by": "timestamp", **params}
        return self.api("GET", "/assets/events", params=query)["asset_events"]

    def wait_for_runs(
        self,
        dag_id: str,
        count: int,
        *,
        timeout: float = 600,
        states: frozenset[str] = TERMINAL_RUN_STATES,
        run_type: str | None = None,
        poll: float = 3.0,
    ) -> list[dict[str, Any]]:
        """Wait until ``dag_id`` has at least ``count`` runs (of ``run_type``, if given),
        all in ``states``."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            runs = self.dag_runs(dag_id, run_type)
            if len(runs) >= count and all(r["state"] in states for r in runs):
                return runs
            if time.monotonic() > deadline:
                summary = [(r["dag_run_id"], r["state"]) for r in runs]
                raise ClusterError(
                    f"{dag_id}: wanted {count} runs in {sorted(states)} within {timeout}s, "
                    f"have {summary}\n{self.diagnostics()}"
                )
            time.sleep(poll)

    # -- diagnostics ----------------------------------------------------------------
    def diagnostics(self, tail_chars: int = 4000, max_task_logs: int = 6) -> str:
        """Tails of every process log and of the logs of failed or retried tasks."""
        parts = []
        for name in sorted(self.processes):
            parts.append(f"===== {name} =====\n{_tail(self.log_path(name), tail_chars)}")
        task_logs = sorted(
            (self.home / "logs").glob("dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime
        )
        bad = [p for p in task_logs if _looks_failed(p)][-max_task_logs:]
        for path in bad:
            rel = path.relative_to(self.home / "logs")
            parts.append(f"===== task log {rel} =====\n{_tail(path, tail_chars)}")
        return "\n".join(parts)


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _tail(path: Path, chars: int) -> str:
    if not path.exists():
        return "(no log)"
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - chars))
        return handle.read().decode("utf-8", "replace")


def _looks_failed(path: Path) -> bool:
    text = _tail(path, 20000)
    return "Traceback" in text or '"level":"error"' in text or "ERROR" in text


# -- setup ----------------------------------------------------------------------------
@contextlib.contextmanager
def _metadata_database(admin_url: str) -> Iterator[str]:
    name = f"npl_airflow_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cluster_environment(
    home: Path,
    metadata_url: str,
    api_port: int,
    *,
    dags_folder: Path,
    executor: str,
    parallelism: int,
    queue: str,
    redis_url: str,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment every process of one cluster shares (inherited AIRFLOW__* dropped)."""
    secret = secrets.token_urlsafe(32)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    api_url = f"http://127.0.0.1:{api_port}"
    env = {
        **base,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # psycopg 3 is async-capable; without this Airflow derives an asyncpg URL.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url,
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__SECRET_KEY": secret,
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
    }
    if executor == "CeleryExecutor":
        backend = sa.engine.make_url(metadata_url).render_as_string(False)
        env |= {
            "AIRFLOW__CELERY__BROKER_URL": redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{backend}",
            "AIRFLOW__CELERY__DEFAULT_QUEUE": queue,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(parallelism),
        }
    return env | dict(extra_env or {})


def _wait_for_api(cluster: AirflowCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        cluster.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            assert cluster.client is not None
            if cluster.client.get("/api/v2/monitor/health").status_code == 200:
                return
        if time.monotonic() > deadline:
            raise ClusterError(f"api-server not up in {timeout}s\n{cluster.diagnostics()}")
        time.sleep(1)


def _start_processes(cluster: AirflowCluster, executor: str, n_workers: int, triggerer: bool):
    cluster.start("api-server", "api-server", "--host", "127.0.0.1", "--workers", "1")
    cluster.start("scheduler", "scheduler")
    cluster.start("dag-processor", "dag-processor")
    if triggerer:
        cluster.start("triggerer", "triggerer")
    if executor == "CeleryExecutor":
        for i in range(n_workers):
            port = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            hostname = f"w{i}-{cluster.queue}@%h"
            args = ("celery", "worker", "--celery-hostname", hostname, "-q", cluster.queue)
            cluster.start(f"celery-worker-{i}", *args, "--without-gossip", env=port)


@contextlib.contextmanager
def airflow_cluster(
    tmp_dir: Path,
    *,
    dags_folder: Path,
    executor: str = "LocalExecutor",
    n_workers: int = 1,
    parallelism: int = 2,
    triggerer: bool = False,
    extra_env: Mapping[str, str] | None = None,
    postgres_admin_url: str = DEFAULT_POSTGRES_ADMIN_URL,
    redis_url: str = DEFAULT_REDIS_URL,
    startup_timeout: float = 180,
) -> Iterator[AirflowCluster]:
    """Start a local deployment under ``tmp_dir``; always stop it and drop its database."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
    home = Path(tmp_dir) / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    queue = f"npl-{uuid.uuid4().hex[:8]}"
    with _metadata_database(postgres_admin_url) as metadata_url:
        env = cluster_environment(
            home,
            metadata_url,
            api_port,
            dags_folder=Path(dags_folder),
            executor=executor,
            parallelism=parallelism,
            queue=queue,
            redis_url=redis_url,
            extra_env=extra_env,
        )
        cluster = AirflowCluster(home, env, f"http://127.0.0.1:{api_port}", metadata_url, queue)
        cluster.cli("db", "migrate", timeout=600)
        cluster.client = httpx.Client(base_url=cluster.api_url, timeout=30)
        try:
            _start_processes(cluster, executor, n_workers, triggerer)
            _wait_for_api(cluster, startup_timeout)
            yield cluster
        finally:
            cluster.stop()
