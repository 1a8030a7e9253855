"""The lender twin: the simulated portfolio continued one day at a time, driven by what
the pipeline (or the status quo) decided.

    from nplpipeline.simulate.twin import TwinConfig, warm_up, step_day, DayDecisions, ...

Timeline (which drop carries what). The pipeline's run for as-of ``D`` reads the drops
dated up to ``D`` and dates its worklist windows on ``D`` itself (``act/guardrails.py``:
``window_start_utc``/``window_end_utc`` are the borrower-local contact hours of the run
date). ``step_day(twin_dir, D, decisions, ...)`` then:

- performs D's worklist inside D's windows: ``collection_actions`` rows have ``action_at``
  on D (customer-local clock) and arrive in the **drop dated D + 1** -- so the pipeline's
  guardrails on D + 1 count D's performed contacts and see D's promises;
- hands D's placements/recalls (agency export bundles ``agencies/<id>/D``) to the
  agencies, which work from D + 1 (agency contacts and collections are dated D + 1);
- simulates day D + 1 itself: new loans and schedules, repayments (regular, cures, kept
  promises, agency collections, bounces and agency reversals with ``reversal_of``),
  status changes (closed, charged off at DPD 180, written off at DPD 365), customers
  whose dispute was resolved (``dispute_open`` false) or who were flagged deceased /
  bankrupt, surveys and complaints, and dirty rows as the history has them; all into
  ``landing/<entity>/<D+1>/part-00000.<ext>``.

Inputs (``DayDecisions``, see decisions.py for the columns) come only from what the
pipeline exported: the CRM's received items (stand-in CRM state file, else the outbox
bundle ``crm/D``), the agency bundles, and the offers inside the worklist items.

Outputs apart from the warehouse: ``twin_dir/state/<day>/`` (Parquet world state after
that day; the last two kept, so the last day can be re-stepped) and
``truth_dir/days/<D+1>/``: ``repayments.parquet`` (loan_id, paid_on, signed amount in
cents, channel code, agency index, reversal), ``contacts.parquet`` (performed contacts:
item_id (null for agencies), loan_id, channel, outcome code, agency index),
``dirty_rows.parquet`` and
``summary.json`` (recovered, agency_collected, commission net of clawbacks -- money in
the loan currency, CNY --
contacts_crm, contacts_agency, complaints, surveys, satisfaction_sum, open_episodes,
placed). The pipeline never reads twin_dir or truth_dir.

The causal response to treatment is in ``parameters.py`` (one reviewed place) on top of
the simulator's MODEL; ``response.py`` is the mechanics.
"""

from .config import TwinConfig
from .decisions import DayDecisions, read_pipeline_decisions
from .status_quo import StatusQuoPolicy, load_status_quo_policy, status_quo_decisions
from .step import TwinDayError, step_day
from .warmup import warm_up

__all__ = [
    "DayDecisions",
    "StatusQuoPolicy",
    "TwinConfig",
    "TwinDayError",
    "load_status_quo_policy",
    "read_pipeline_decisions",
    "status_quo_decisions",
    "step_day",
    "warm_up",
]
