"""
### Simulated source portfolio (demo and load testing)

Writes a causal, seeded simulation of the lender's portfolio into the landing zone as
daily drops of all eight contract entities, plus the ground truth (true recovery
probabilities, injected dirty rows) in a separate folder the pipeline never reads.
Trigger it by hand with the number of loans and a seed; same seed, same bytes.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from nplpipeline.orchestration.defaults import START_DATE, default_args


@dag(
    dag_id="npl_simulate_portfolio",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args=default_args(retries=0),
    tags=["npl", "simulation"],
    doc_md=__doc__,
    params={
        "loans": Param(20_000, type="integer", minimum=1),
        "seed": Param(42, type="integer"),
        "end_date": Param("2026-10-31", type="string", format="date"),
        "dirty_share": Param(0.005, type="number", minimum=0, maximum=0.5),
    },
)
def npl_simulate_portfolio() -> None:
    @task
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
