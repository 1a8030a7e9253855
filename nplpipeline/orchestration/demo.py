"""``make demo``: a live run of the pipeline on the lender twin, then the summary.

Runs inside the project-local Airflow environment (see ``airflow_env``): migrates the
SQLite metadata DB, parses ``dags/`` with a DagBag (so import errors fail the demo as
they would in the scheduler) and executes each DAG with ``dag.test()``, the supported
way to run a whole DAG in one process. The twin writes the warm-up history, then for
``--days`` consecutive days it writes tomorrow's drops from what the pipeline decided
today while a second twin world runs the lender's status quo policy on the same seed
(``orchestration.live``); the summary compares both worlds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from nplpipeline.orchestration.live import LiveRun, live_run
from nplpipeline.settings import Settings, get_settings

# The default number of live days: at 20,000 loans day 0 costs about 2.5 minutes and a
# live day about 33 s through dag.test (benchmarks/README.md, "Live run"), so a week with
# its second training stays under 10 minutes; `make demo DAYS=90` runs a quarter.
DEFAULT_DAYS = 7
# A failed drift gate is the monitoring DAG doing its job: report it, don't stop.
WARN_ONLY_TASKS = {"npl_model_monitoring": {"drift_gate"}}


def migrate_metadata_db() -> None:
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


def load_dags(dags_folder: str) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder)
    if bag.import_errors:
        errors = "\n".join(f"{f}: {e}" for f, e in bag.import_errors.items())
        raise SystemExit(f"DAG import errors:\n{errors}")
    return bag.dags


def reset_embedded_state(settings: Settings) -> None:
    """Start the demo from nothing, but only where the embedded defaults live."""
    var = settings.root / "var"
    for folder in (settings.landing_dir, settings.ground_truth_dir, var / "twin"):
        if folder.resolve().is_relative_to(var.resolve()) and folder.exists():
            shutil.rmtree(folder)
    url = make_url(settings.warehouse_url)
    if url.get_backend_name() == "duckdb" and url.database:
        db = Path(url.database)
        if db.resolve().is_relative_to(var.resolve()):
            for path in (db, db.with_name(db.name + ".wal")):
                path.unlink(missing_ok=True)


@contextmanager
def local_crm(settings: Settings, seed: int, *, faults: bool = True) -> Iterator[None]:
    """A stand-in CRM for the demo, unless the user pointed NPL_CRM_URL at a real one.

    It fails 30% of requests and drops 10% of connections on purpose, so every demo
    exercises the retries and the delivery ledger (``faults=False``: a well-behaved CRM
    taking large batches, for the long benchmark comparisons).
    """
    if os.environ.get("NPL_CRM_URL"):
        yield
        return
    from nplpipeline.devtools.crm_server import start_crm_server
    from nplpipeline.simulate.twin.decisions import crm_state_file

    state = crm_state_file(settings)  # where the twin reads what the CRM received
    for stale in (state, *(state.with_name(state.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    fail, drop = (0.3, 0.1) if faults else (0.0, 0.0)
    with start_crm_server(fail_rate=fail, drop_rate=drop, seed=seed, state_file=state) as crm:
        os.environ["NPL_CRM_URL"] = crm.url
        os.environ.setdefault("NPL_CRM_MAX_ATTEMPTS", "10")
        # many batches so faults show; without faults, few large batches
        os.environ.setdefault("NPL_CRM_BATCH_SIZE", "50" if faults else "1000")
        os.environ.setdefault("NPL_CRM_BACKOFF_BASE", "0.05")
        print(f"--- stand-in CRM at {crm.base_url} (fails {fail:.0%} of requests) ---", flush=True)
        try:
            yield
        finally:
            print(f"--- stand-in CRM received: {crm.stats()} ---", flush=True)
            del os.environ["NPL_CRM_URL"]


class AirflowChain:
    """Runs one DAG for one as-of date with ``dag.test`` (a :class:`live.Chain`)."""

    def __init__(self) -> None:
        from airflow.configuration import conf

        self.dags = load_dags(conf.get("core", "dags_folder"))

    def run(self, dag_id: str, day: dt.date, conf: dict[str, Any]) -> None:
        when = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        print(f"--- running {dag_id} for {day} in Airflow (dag.test) ---", flush=True)
        run = self.dags[dag_id].test(logical_date=when, run_conf=conf)
        state = str(getattr(run, "state", "unknown"))
        if state == "success":
            return
        failed = {ti.task_id for ti in run.get_task_instances() if ti.state == "failed"}
        if failed and failed <= WARN_ONLY_TASKS.get(dag_id, set()):
            print(f"!!! {dag_id}: {', '.join(sorted(failed))} raised an alert (see summary)")
            return
        raise SystemExit(f"{dag_id} finished in state {state}: see the task logs above")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--start-date", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    args = parser.parse_args(argv)

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = get_settings()
    reset_embedded_state(settings)
    migrate_metadata_db()
    run = LiveRun(loans=args.loans, seed=args.seed, start=args.start_date, days=args.days)
    with local_crm(settings, args.seed):
        live_run(run, AirflowChain(), settings)

    from nplpipeline.report.summary import collect_summary, format_summary

    print(format_summary(collect_summary(settings)))


if __name__ == "__main__":
    main()
