"""
### Lender twin (dev and demo only)

Closes the live loop: after the day's CRM delivery and agency placements, steps the
simulated lender through what the pipeline decided on that as-of date -- the worklist
as the CRM received it, the agency exports, the offers -- and writes the landing drops
dated the next day (new and changed rows only, then the day's completion marker), so
tomorrow's `npl_ingest` has something to load. The twin's world state and ground truth
stay apart from the warehouse (`NPL_TWIN_DIR`, `NPL_GROUND_TRUTH_DIR`). The `policy`
param runs the lender's status quo instead of the pipeline's decisions.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from airflow.sdk import Param, get_current_context

from nplpipeline.orchestration.assets import AGENCY_PLACEMENTS, CRM_DELIVERY
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import Outbox, landing_drops


@npl_dag(
    "npl_lender_twin",
    schedule=CRM_DELIVERY & AGENCY_PLACEMENTS,
    tags=["twin"],
    doc_md=__doc__,
    params={"policy": Param("pipeline", enum=["pipeline", "status_quo"])},
)
def npl_lender_twin() -> None:
    @npl_task(
        inlets=[CRM_DELIVERY, AGENCY_PLACEMENTS],
        reads=(Outbox("crm"), Outbox("agencies")),
        writes=landing_drops(),
    )
    def step_twin(as_of) -> dict[str, object]:
        from nplpipeline.simulate.twin.stage import run_twin_day

        policy = str(get_current_context()["params"]["policy"])
        summary = run_twin_day(as_of, policy)  # type: ignore[arg-type]
        return {"as_of": as_of.isoformat(), "policy": policy, **_counts(summary)}

    step_twin()


def _counts(summary: dict[str, object]) -> dict[str, object]:
    """Numbers only into XCom (the summary holds counts and sums, no row values)."""
    return {k: v for k, v in summary.items() if isinstance(v, int | float)}


npl_lender_twin()
