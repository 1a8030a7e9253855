"""
### Simulated source portfolio (demo and load testing)

Writes a causal, seeded simulation of the lender's portfolio into the landing zone as
daily drops of all eight contract entities, plus the ground truth (true recovery
probabilities, injected dirty rows) in a separate folder the pipeline never reads.
Trigger it by hand with the number of loans and a seed; same seed, same bytes.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from airflow.sdk import Param, get_current_context

from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import landing_drops

PARAMS = {
    "loans": Param(20_000, type="integer", minimum=1),
    "seed": Param(42, type="integer"),
    "end_date": Param("2026-10-31", type="string", format="date"),
    "dirty_share": Param(0.005, type="number", minimum=0, maximum=0.5),
}


# Not retried: a simulation either writes its seeded bytes or fails for a reason to fix.
@npl_dag(
    "npl_simulate_portfolio",
    schedule=None,
    tags=["simulation"],
    doc_md=__doc__,
    params=PARAMS,
    as_of_param=False,
    retries=0,
    max_active_runs=16,
)
def npl_simulate_portfolio() -> None:
    @npl_task(writes=landing_drops())
    def simulate() -> dict[str, object]:
        from nplpipeline.simulate.stage import run_simulation

        params = get_current_context()["params"]
        return run_simulation(
            loans=int(params["loans"]),
            seed=int(params["seed"]),
            end_date=str(params["end_date"]),
            dirty_share=float(params["dirty_share"]),
        )

    simulate()


npl_simulate_portfolio()
