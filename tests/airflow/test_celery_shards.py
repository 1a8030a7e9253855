"""A day's chain sharded over two Celery workers matches a single-process run.

A real deployment on localhost (``devtools.airflow_cluster``): api-server, scheduler and
dag-processor on a throwaway PostgreSQL metadata database, the CeleryExecutor with the
Redis broker at 127.0.0.1:6379, two ``airflow celery worker`` processes, and a throwaway
PostgreSQL warehouse. A small portfolio is loaded and a champion trained in-process; the
day then runs once in this process unsharded (the reference), and once through the
scheduler with ``NPL_SHARDS=4``: ``npl_delinquency`` is triggered, and its asset event
starts ``npl_score_accounts``, whose event starts ``npl_collections``. Both workers must
have run shards (each reports its own host name), and every table the day writes must
match the reference row for row. Leaving the cluster stops every process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import shard_chain
from conftest import ROOT, TESTS_DIR, _throwaway_postgres
from shard_chain import END, assert_same_tables, day_tables, run_day, train_champion, wipe

from nplpipeline.devtools.airflow_cluster import airflow_cluster, free_port
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.simulate.stage import run_simulation

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]

K = 4
WORKERS = ("worker-0", "worker-1")
CHAIN = ("npl_delinquency", "npl_score_accounts", "npl_collections")
SHARD_TASKS = {"npl_delinquency": "snapshot", "npl_score_accounts": "score",
               "npl_collections": "plan_treatments"}  # fmt: skip


@pytest.fixture
def loaded(tmp_path: Path, postgres_server_url: str, monkeypatch: pytest.MonkeyPatch):
    """A PostgreSQL warehouse with the portfolio ingested and a champion registered."""
    for url in _throwaway_postgres(postgres_server_url):
        env = {
            "NPL_HOME": str(tmp_path / "var"),
            "NPL_WAREHOUSE_URL": url,
            "NPL_LANDING_DIR": str(tmp_path / "landing"),
            "NPL_GROUND_TRUTH_DIR": str(tmp_path / "truth"),
            "NPL_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "NPL_MLFLOW_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        run_simulation(loans=shard_chain.LOANS, seed=shard_chain.SEED, end_date=END,
                       dirty_share=0.0)  # fmt: skip
        run_ingest(END)
        train_champion()
        yield env


def _start_workers(cluster) -> None:
    """Two Celery workers, one task at a time each, each with its own host name."""
    for i, name in enumerate(WORKERS):
        env = {
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "celery_hostname.hostname",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "NPL_TEST_WORKER_HOSTNAME": name,
        }
        args = ("celery", "worker", "--celery-hostname", f"w{i}-{cluster.queue}@%h")
        cluster.start(name, *args, "-q", cluster.queue, "--without-gossip", env=env)


def test_a_sharded_day_over_two_celery_workers_matches_one_process(loaded, tmp_path: Path) -> None:
    run_day(END, shards=1)  # the single-process reference
    want = day_tables(END)
    assert len(want["act_worklist"]) > 0
    wipe(END)

    extra = {"NPL_SHARDS": str(K), "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS_DIR)])}
    with airflow_cluster(
        tmp_path / "cluster", dags_folder=ROOT / "dags", executor="CeleryExecutor",
        n_workers=0, parallelism=2, extra_env=extra,
    ) as cluster:  # fmt: skip
        _start_workers(cluster)
        cluster.wait_for_dags(CHAIN)
        cluster.unpause(*CHAIN)
        cluster.trigger("npl_delinquency", conf={"as_of": END.isoformat()})
        hosts: dict[str, set[str]] = {}
        for dag_id in CHAIN:
            runs = cluster.wait_for_runs(dag_id, 1, timeout=900)
            assert [r["state"] for r in runs] == ["success"], cluster.diagnostics()
            tis = cluster.task_instances(dag_id, runs[0]["dag_run_id"])
            mapped = [t for t in tis if t["task_id"] == SHARD_TASKS[dag_id]]
            assert sorted(t["map_index"] for t in mapped) == list(range(K))
            hosts[dag_id] = {t["hostname"] for t in mapped}
        pids = [p.pid for p in cluster.processes.values()]

    assert set().union(*hosts.values()) == set(WORKERS), hosts  # both workers ran shards
    assert_same_tables(day_tables(END), want)
    for pid in pids:  # every process group is gone
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
