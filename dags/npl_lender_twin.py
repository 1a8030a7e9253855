"""
### Lender twin (dev/demo only): the pipeline's decisions drive tomorrow's drops

After the day's CRM delivery and agency placements, the lender twin
(`nplpipeline.simulate.twin`) takes what the CRM and the agencies received for the
as-of date D -- the stand-in CRM's applied items (else the outbox bundle `crm/D`), the
agency bundles `agencies/*/D` -- and continues its simulated lender through D + 1: the
CRM works D's items inside their windows and within capacity, borrowers answer by the
twin's causal model, and the landing drops dated D + 1 (new and changed rows) appear for
the next `npl_ingest`. Its world state (`NPL_TWIN_DIR`) and truth stay apart from the
warehouse. The `policy` param `status_quo` runs the lender's old policy instead.
"""

# An Airflow DAG file (the word keeps it in the DAG processor's safe-mode scan): wiring
# only; nplpipeline.orchestration.factory holds what every DAG shares.
from __future__ import annotations

from airflow.sdk import Param, get_current_context

from nplpipeline.orchestration.assets import AGENCY_PLACEMENTS, CRM_DELIVERY
from nplpipeline.orchestration.factory import npl_dag, npl_task
from nplpipeline.orchestration.lineage import LandingDrops, Outbox

ENTITIES = (
    "customers",
    "loans",
    "installments",
    "repayments",
    "collection_actions",
    "satisfaction",
)
PARAMS = {"policy": Param("pipeline", type="string", enum=["pipeline", "status_quo"])}


# One run at a time (the factory default): the twin steps day after day; a re-step rewinds.
@npl_dag(
    "npl_lender_twin",
    schedule=CRM_DELIVERY & AGENCY_PLACEMENTS,
    tags=["twin"],
    doc_md=__doc__,
    params=PARAMS,
)
def npl_lender_twin() -> None:
    @npl_task(
        inlets=[CRM_DELIVERY, AGENCY_PLACEMENTS],
        reads=(Outbox("crm"), Outbox("agencies")),
        writes=tuple(LandingDrops(e) for e in ENTITIES),
    )
    def step_twin(as_of) -> dict[str, object]:
        from nplpipeline.simulate.twin.stage import run_twin_day

        policy = str(get_current_context()["params"].get("policy") or "pipeline")
        return run_twin_day(as_of, policy)  # type: ignore[arg-type]

    step_twin()


npl_lender_twin()
