"""The process harness brings up a real Airflow 3 deployment (api-server, scheduler,
dag-processor, and Celery workers for the CeleryExecutor), runs a backfill and a manual
run through the scheduler, and stops everything afterwards."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from pathlib import Path

import pytest

from nplpipeline.devtools.airflow_cluster import airflow_cluster

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]

_DAG = """
import datetime as dt
from pathlib import Path

from airflow.sdk import dag, task

OUT = Path({out!r})


@dag(schedule="@daily", start_date=dt.datetime(2026, 1, 1), catchup=False, max_active_runs=1)
def harness_probe():
    @task
    def touch(ds=None):
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / ds).write_text("ok")
        return ds

    touch()


harness_probe()
"""


def _dags(tmp_path: Path) -> tuple[Path, Path]:
    folder, out = tmp_path / "dags", tmp_path / "out"
    folder.mkdir()
    (folder / "harness_probe.py").write_text(textwrap.dedent(_DAG.format(out=str(out))))
    return folder, out


@pytest.mark.parametrize("executor", ["LocalExecutor", "CeleryExecutor"])
def test_cluster_backfills_and_stops(tmp_path: Path, postgres_server_url: str, executor) -> None:
    folder, out = _dags(tmp_path)
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with airflow_cluster(
        tmp_path, dags_folder=folder, executor=executor, n_workers=2, parallelism=2
    ) as cluster:
        cluster.wait_for_dags(["harness_probe"])
        cluster.unpause("harness_probe")
        cluster.backfill("harness_probe", start, start + dt.timedelta(days=2))
        runs = cluster.wait_for_runs("harness_probe", 3, timeout=400, run_type="backfill")
        pids = [p.pid for p in cluster.processes.values()]
        assert [r["state"] for r in runs] == ["success"] * 3, cluster.diagnostics()
        assert [r["logical_date"][:10] for r in runs] == ["2026-03-01", "2026-03-02", "2026-03-03"]
        tis = cluster.task_instances("harness_probe", runs[0]["dag_run_id"])
        assert [t["state"] for t in tis] == ["success"]
        if executor == "CeleryExecutor":
            assert tis[0]["queue"] == cluster.queue
    assert {"2026-03-01", "2026-03-02", "2026-03-03"} <= {p.name for p in out.iterdir()}
    for pid in pids:  # every process group is gone
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
