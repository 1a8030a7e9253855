"""``make demo``: simulate a portfolio and run every DAG through Airflow, then summarise.

Runs inside the project-local Airflow environment (see ``airflow_env``): migrates the
SQLite metadata DB, parses ``dags/`` with a DagBag (so import errors fail the demo as
they would in the scheduler) and executes each DAG with ``dag.test()``, the supported
way to run a whole DAG in one process.
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

import pandas as pd
from sqlalchemy.engine import make_url

from nplpipeline.settings import Settings, get_settings

CHAIN = (
    "npl_simulate_portfolio",
    "npl_ingest",
    "npl_delinquency",
    "npl_train_model",
    "npl_score_accounts",
    "npl_model_monitoring",
    "npl_collections",
    "npl_kpis",  # last: the dashboard and the report show the day's model drift too
)
# Month ends scored before the demo's date, so the KPI layer has cohorts whose 90-day
# recovery window has closed to compare with the plan's targets (a backfill, in effect).
BACKFILL_SCORING_MONTHS = (3, 4)
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
    for folder in (settings.landing_dir, settings.ground_truth_dir):
        if folder.resolve().is_relative_to(var.resolve()) and folder.exists():
            shutil.rmtree(folder)
    url = make_url(settings.warehouse_url)
    if url.get_backend_name() == "duckdb" and url.database:
        db = Path(url.database)
        if db.resolve().is_relative_to(var.resolve()):
            for path in (db, db.with_name(db.name + ".wal")):
                path.unlink(missing_ok=True)


@contextmanager
def local_crm(settings: Settings, seed: int) -> Iterator[None]:
    """A stand-in CRM for the demo, unless the user pointed NPL_CRM_URL at a real one.

    It fails 30% of requests and drops 10% of connections on purpose, so every demo
    exercises the retries and the delivery ledger.
    """
    if os.environ.get("NPL_CRM_URL"):
        yield
        return
    from nplpipeline.devtools.crm_server import start_crm_server

    state = settings.home / "crm-standin.json"
    state.unlink(missing_ok=True)
    with start_crm_server(fail_rate=0.3, drop_rate=0.1, seed=seed, state_file=state) as crm:
        os.environ["NPL_CRM_URL"] = crm.url
        os.environ.setdefault("NPL_CRM_MAX_ATTEMPTS", "10")
        os.environ.setdefault("NPL_CRM_BATCH_SIZE", "50")  # many batches: faults show
        os.environ.setdefault("NPL_CRM_BACKOFF_BASE", "0.05")
        print(f"--- stand-in CRM at {crm.base_url} (fails 30% of requests) ---", flush=True)
        try:
            yield
        finally:
            print(f"--- stand-in CRM received: {crm.stats()} ---", flush=True)
            del os.environ["NPL_CRM_URL"]


def run_chain(loans: int, seed: int, end_date: dt.date) -> None:
    from airflow.configuration import conf

    dags = load_dags(conf.get("core", "dags_folder"))
    logical = dt.datetime.combine(end_date, dt.time(), tzinfo=dt.UTC)
    confs: dict[str, dict[str, Any]] = {
        "npl_simulate_portfolio": {
            "loans": loans,
            "seed": seed,
            "end_date": end_date.isoformat(),
        },
        "npl_delinquency": {"as_of": end_date.isoformat()},
        "npl_train_model": {"as_of": end_date.isoformat(), "months": 18},
        "npl_model_monitoring": {"as_of": end_date.isoformat()},
        "npl_score_accounts": {"as_of": end_date.isoformat()},
        "npl_collections": {"as_of": end_date.isoformat()},
        "npl_kpis": {"as_of": end_date.isoformat(), "report": True},
    }
    runs: list[tuple[str, dt.datetime, dict[str, Any] | None]] = []
    for dag_id in CHAIN:
        if dag_id == "npl_score_accounts":
            for back in BACKFILL_SCORING_MONTHS:
                month_end = (pd.Timestamp(end_date) - pd.offsets.MonthEnd(back)).date()
                when = dt.datetime.combine(month_end, dt.time(), tzinfo=dt.UTC)
                runs.append((dag_id, when, {"as_of": month_end.isoformat()}))
        runs.append((dag_id, logical, confs.get(dag_id)))
    for dag_id, when, run_conf in runs:
        print(f"--- running {dag_id} for {when:%Y-%m-%d} in Airflow (dag.test) ---", flush=True)
        run = dags[dag_id].test(logical_date=when, run_conf=run_conf)
        state = str(getattr(run, "state", "unknown"))
        if state == "success":
            continue
        failed = {ti.task_id for ti in run.get_task_instances() if ti.state == "failed"}
        if failed and failed <= WARN_ONLY_TASKS.get(dag_id, set()):
            print(f"!!! {dag_id}: {', '.join(sorted(failed))} raised an alert (see summary)")
            continue
        raise SystemExit(f"{dag_id} finished in state {state}: see the task logs above")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    args = parser.parse_args(argv)

    settings = get_settings()
    reset_embedded_state(settings)
    migrate_metadata_db()
    with local_crm(settings, args.seed):
        run_chain(args.loans, args.seed, args.end_date)

    from nplpipeline.report.summary import collect_summary, format_summary

    print(format_summary(collect_summary(settings)))


if __name__ == "__main__":
    main()
