"""Run one day's chain through Airflow with OpenLineage's file transport (a helper
process for ``test_lineage.py``).

OpenLineage reads its configuration once per process and registers its listener when
Airflow loads plugins, so the chain runs in a fresh interpreter whose environment
already names the transport: ``python tests/lineage_chain.py <events.jsonl> <dag_id>...``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

AS_OF = dt.date(2026, 10, 31)
LOGICAL = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)
CONF = {
    "npl_simulate_portfolio": {
        "loans": 1200,
        "seed": 5,
        "end_date": AS_OF.isoformat(),
        "dirty_share": 0.0,
    },
    "npl_train_model": {"as_of": AS_OF.isoformat(), "months": 6},
}


def main(dags_folder: str, dag_ids: list[str]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dags = DagBag(dag_folder=dags_folder).dags
    for dag in dags.values():  # a failure shows at once instead of after retry delays
        for task in dag.tasks:
            task.retries = 0
    states = {}
    for dag_id in dag_ids:
        conf = CONF.get(dag_id, {"as_of": AS_OF.isoformat()})
        run = dags[dag_id].test(logical_date=LOGICAL, run_conf=conf)
        states[dag_id] = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print("STATES " + json.dumps(states), flush=True)


if __name__ == "__main__":
    main(str(Path(__file__).resolve().parents[1] / "dags"), sys.argv[1:])
