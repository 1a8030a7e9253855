"""The KPI stage: rebuild the star and the KPI marts for one as-of date.

Everything is read as known on the as-of date (``staging``) and every decision as it
was recorded then (scores, tiers, arms, placements), so rerunning or backfilling a day
reproduces it. Month-end delinquency snapshots for the trailing year are recomputed,
each with the loans and statuses known on its own date, so roll rates, vintage curves
and the NPL trend never depend on which snapshot dates happened to be stored, nor on
the run that computes them; they are computed shard by shard and only the columns the
marts read are kept (``delinquency/as_known_streamed``), so memory stays bounded as the
book grows (``NPL_REDUCE_LOANS_PER_PART`` loans per shard); they are computed and reduced
before the events are read, and of the events only the rows the marts' windows reach
are read (``inputs``), so the two largest reads never share the process's peak.
Recovery is measured on the latest *scored* cohort whose window has closed (its tier,
recorded arm and overdue balance on that date; what it repaid in the following window).

Rerunning an earlier date never rolls later data back: see ``writes``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from nplpipeline.delinquency.as_known_streamed import stream_snapshots_as_known
from nplpipeline.report import kpis as k
from nplpipeline.report.marts.contact import build_contact_kpis, with_segments
from nplpipeline.report.marts.inputs import MartInputs, read_loans, read_mart_inputs
from nplpipeline.report.marts.portfolio import PortfolioMarts, build_portfolio
from nplpipeline.report.marts.recovery import RECOVERY_WINDOW_DAYS, build_recovery
from nplpipeline.report.marts.rows import json_number
from nplpipeline.report.marts.scorecards import build_scorecards
from nplpipeline.report.marts.star import build_dimensions, build_facts, latest_run
from nplpipeline.report.marts.views import ensure_views
from nplpipeline.report.marts.writes import KpiMarts, write_marts
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import begin, opened

log = logging.getLogger(__name__)

TRAILING_MONTHS = 12
__all__ = [
    "RECOVERY_WINDOW_DAYS", "TRAILING_MONTHS", "SnapshotMarts", "compute_marts",
    "from_snapshots", "month_ends", "run_kpis", "snapshot_dates",
]  # fmt: skip


def month_ends(as_of: dt.date, months: int) -> list[dt.date]:
    """The last ``months`` month ends on or before ``as_of``, oldest first."""
    ends = pd.date_range(end=pd.Timestamp(as_of), periods=months + 1, freq="ME")
    return [d.date() for d in ends if d.date() <= as_of][-months:]


def snapshot_dates(as_of: dt.date) -> tuple[list[dt.date], list[dt.date]]:
    """The trailing month ends the marts compare, and every date they need a snapshot of."""
    ends = month_ends(as_of, TRAILING_MONTHS + 1)
    return ends, sorted({*ends, as_of})


@dataclass(frozen=True)
class SnapshotMarts:
    """What the marts take from the month-end snapshots: the big frame can go after this."""

    portfolio: PortfolioMarts
    delinquent_customers: pd.DataFrame  # customer_id of today's delinquent loans


def from_snapshots(
    as_of: dt.date, snaps: pd.DataFrame, loans: pd.DataFrame, policy: Any
) -> SnapshotMarts:
    """Pure: ``snaps`` holds the snapshots of ``snapshot_dates(as_of)``, each as known then."""
    ends, _ = snapshot_dates(as_of)
    portfolio = build_portfolio(as_of, ends, snaps, loans, policy.delinquency)
    today = snaps[(snaps["as_of_date"] == pd.Timestamp(as_of)) & (snaps["dpd"] > 0)]
    return SnapshotMarts(portfolio, today[["customer_id"]].drop_duplicates())


def compute_marts(
    as_of: dt.date, inputs: MartInputs, snapped: SnapshotMarts, policy: Any, plan: Any
) -> KpiMarts:
    """Every KPI frame for ``as_of``, pure (no I/O): one builder per mart family."""
    ends, dates = snapshot_dates(as_of)
    portfolio = snapped.portfolio
    recovery = build_recovery(as_of, inputs.cohort, inputs.repayments, plan)
    acts = with_segments(inputs.actions, inputs.loans, inputs.tiers_today)
    contact = build_contact_kpis(
        as_of, acts, inputs.repayments, inputs.satisfaction, snapped.delinquent_customers
    )
    cards = build_scorecards(
        as_of, inputs.placements, acts, inputs.repayments, inputs.agencies,
        inputs.collectors, inputs.satisfaction,
    )  # fmt: skip
    kpi = pd.concat([*portfolio.kpi, *recovery.kpi, *contact, *cards.kpi], ignore_index=True)
    return KpiMarts(
        as_of=as_of, ends=ends, dates=dates, portfolio=portfolio, recovery=recovery,
        scorecards=cards, kpi=kpi,
    )  # fmt: skip


def run_kpis(as_of: dt.date, settings: Settings | None = None) -> dict[str, Any]:
    """Rebuild the star for ``as_of`` and every KPI mart that depends on it."""
    settings = settings or get_settings()
    policy = settings.policy
    plan = k.load_plan()
    targets = {"overall": plan.recovery_rate.overall, **plan.recovery_rate.by_tier}
    with opened(settings.warehouse_url) as engine:
        with begin(engine) as conn:
            ensure_schema(conn)
            loans = read_loans(conn, as_of)
            snaps = stream_snapshots_as_known(
                conn, as_of, snapshot_dates(as_of)[1], policy.delinquency,
                loans["loan_id"], settings.reduce_parts(len(loans)),
            )  # fmt: skip
            snapped = from_snapshots(as_of, snaps, loans, policy)
            del snaps  # the largest frame of the stage: gone before the events are read
            inputs = read_mart_inputs(conn, as_of, loans)
            latest = latest_run(conn)
        marts = compute_marts(as_of, inputs, snapped, policy, plan)
        with begin(engine) as conn:
            counts = build_dimensions(conn, as_of, policy, targets, latest)
            counts.update(build_facts(conn, as_of, latest))
            counts.update(write_marts(conn, marts, latest))
            ensure_views(conn)
    summary = _summary(as_of, inputs, marts, counts)
    log.info("kpis %s: %s", as_of, summary)
    return summary


def _summary(as_of: dt.date, inputs: MartInputs, marts: KpiMarts, counts: dict[str, int]):
    tracking = marts.recovery.plan_tracking
    return {
        "as_of": as_of.isoformat(),
        "cohort": inputs.cohort_date.isoformat() if inputs.cohort_date else None,
        "cohort_window_complete": inputs.cohort_matured,
        "recovery_vs_target": {  # plain floats or None: this goes to XCom as JSON
            r.tier: [json_number(r.actual_recovery_rate), json_number(r.target_recovery_rate)]
            for r in tracking.itertuples()
        },
        "rows": counts,
    }
