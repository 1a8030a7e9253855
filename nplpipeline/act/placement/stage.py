"""The placement stage: one as-of date's recalls, new placements, commissions, exports.

Order of work: recall what is due (period over, cured, off the book); measure each
agency's liquidation rate from past placements; take the day's extremely severe
accounts, drop those the guardrails hold back (flags, missing customer, invalid
timezone, a pending promise to pay: the same reasons as every worklist), those an
agency already works (ours or the lender's own, traced from agency actions), those off
the book and those placed the maximum number of times; allocate the rest
(randomised share, then the LP) within each agency's room this month; write; export.

**Idempotent.** A run first undoes what an earlier run of the same date did (placements
started that day, recalls made that day), then rewrites exactly those rows, so a rerun
of a date yields identical tables and bundles. Dates run forward: running a date
earlier than placements already recorded fails rather than rewrite what agencies
already received.

**Agency exports** (``<outbox>/agencies/<agency_id>/<as_of>/``) hold what an agency
needs to work and to stop working an account and nothing else: ids, product, balances
and DPD, the commission rate, the recall date, province, city and timezone (contact
windows are local time). No names, national ids or phone numbers: agencies receive
contact details through the lender's secured CRM channel keyed by customer_id, which
records every access; a file in an outbox does not. Model scores and expected
recoveries stay in-house too.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.act.delivery.export import write_bundle
from nplpipeline.act.guardrail_history import with_standing
from nplpipeline.act.guardrails import apply_guardrails
from nplpipeline.act.guardrails_config import GuardrailPolicy, load_guardrail_policy
from nplpipeline.act.placement.allocate import RANDOMISED, allocate_accounts, monthly_room
from nplpipeline.act.placement.commissions import compute_commissions
from nplpipeline.act.placement.config import PlacementPolicy, load_placement_policy
from nplpipeline.act.placement.history import day, placement_history
from nplpipeline.act.placement.liquidation import liquidation_rates
from nplpipeline.act.placement.recall import (
    apply_recalls,
    due_recalls,
    placement_terms,
    undo_day,
)
from nplpipeline.act.placement.tables import (
    STATUS_ACTIVE,
    agency_commissions,
    agency_placements,
)
from nplpipeline.act.tables import PLACEMENT_CHANNEL, suppression_log, treatment_plan
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.keys import isin
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import account_scores
from nplpipeline.settings import Settings, get_settings
from nplpipeline.staging import (
    stg_agencies,
    stg_contact_history,
    stg_contacted_loan_ids,
    stg_customers_as_of,
    stg_installments,
    stg_repayments,
    stg_standing_contacts,
)
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.frames import insert_frame, read_frame
from nplpipeline.warehouse.partitions import replace_where

log = logging.getLogger(__name__)

CHANNEL = PLACEMENT_CHANNEL
STRATEGY_ARM = "agency_placement"
# Look-back for the guardrails' rolling rules (caps, cooling-off), as the
# act stage's worklists use.
GUARDRAIL_HISTORY_DAYS = 120
FLAGS = ("do_not_contact", "deceased", "bankruptcy", "dispute_open", "vulnerable")
SUPPRESSION_COLUMNS = (
    "as_of_date",
    "loan_id",
    "channel",
    "customer_id",
    "tier",
    "strategy_arm",
    "reason",
    "route",
    "policy",
)
EXPORT_PLACEMENT_COLUMNS = (
    "placement_id",
    "loan_id",
    "customer_id",
    "placement_no",
    "start_date",
    "recall_date",
    "period_days",
    "product",
    "dpd",
    "balance_placed",
    "overdue_amount",
    "outstanding_principal",
    "commission_rate",
    "province",
    "city",
    "timezone",
)
EXPORT_RECALL_COLUMNS = (
    "placement_id",
    "loan_id",
    "customer_id",
    "start_date",
    "recalled_on",
    "recall_reason",
)


@dataclass(frozen=True)
class PlacementInputs:
    scores: pd.DataFrame  # the tier's accounts on the as-of date
    snapshot: pd.DataFrame  # as-of delinquency of candidates and placed loans
    snapshot_rows: int  # all snapshot rows on the as-of date (0 = not computed)
    customers: pd.DataFrame
    agencies: pd.DataFrame
    placements: pd.DataFrame  # act_agency_placements as stored
    agency_actions: pd.DataFrame  # collection_actions with channel 'agency'
    guard_actions: pd.DataFrame  # candidates' recent contact history
    installments: pd.DataFrame  # of loans with agency history
    repayments: pd.DataFrame  # of loans with agency history, up to the as-of date


@dataclass(frozen=True)
class PlacementPlan:
    placements: pd.DataFrame  # every placement after the day
    started: pd.DataFrame  # placed today, with the account details exports need
    recalled: pd.DataFrame  # recalled today
    commissions: pd.DataFrame
    suppressed: pd.DataFrame  # act_suppression_log-shaped
    rates: pd.DataFrame
    skipped: dict[str, int]


def _columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns]


_SNAPSHOT_COLUMNS = ("loan_id", "dpd", "on_book", "overdue_principal", "overdue_amount")
_CUSTOMER_COLUMNS = ("customer_id", "province", "city", "timezone", *FLAGS)
_AGENCY_ACTION_COLUMNS = ("loan_id", "customer_id", "action_at", "channel", "performed_by")
_GUARD_ACTION_COLUMNS = ("loan_id", "customer_id", "action_at", "channel", "outcome", "ptp_date")
_INSTALLMENT_COLUMNS = ("loan_id", "due_date", "principal_due", "interest_due", "fee_due")
_REPAYMENT_COLUMNS = (
    "repayment_id",
    "loan_id",
    "paid_at",
    "amount",
    "reversal_of",
    "channel",
    "agency_id",
)


def _select(table: sa.Table, columns: tuple[str, ...]) -> sa.Select:
    return sa.select(*(table.c[c] for c in columns))


def _read_inputs(conn: Connection, as_of: dt.date, policy: PlacementPolicy) -> PlacementInputs:
    """What the day needs, narrowed in SQL: the tier's accounts and customers, the
    loans with agency history, and nothing dated after the as-of day."""
    p, s, snap = agency_placements, account_scores, delinquency_snapshot
    since_day = as_of - dt.timedelta(days=GUARDRAIL_HISTORY_DAYS)
    # Candidates: accounts the day's treatment plan routes to agencies (the tier's
    # champion strategy); an in-house challenger arm of the same tier is never placed.
    tp = treatment_plan
    routed = sa.select(tp.c.loan_id).where(tp.c.as_of_date == as_of, tp.c.agency_route)
    in_tier = sa.and_(s.c.as_of_date == as_of, s.c.tier == policy.tier, s.c.loan_id.in_(routed))
    tier_loans = sa.select(s.c.loan_id).where(in_tier)
    tier_customers = sa.select(s.c.customer_id).where(in_tier)
    open_loans = sa.select(p.c.loan_id).where(
        sa.or_(p.c.recalled_on.is_(None), p.c.recalled_on >= as_of)
    )
    history_loans = sa.union(
        stg_contacted_loan_ids(as_of, channel=CHANNEL), sa.select(p.c.loan_id)
    ).subquery()
    with_history = sa.select(history_loans.c.loan_id)
    snapshot_rows = sa.select(sa.func.count()).select_from(snap).where(snap.c.as_of_date == as_of)
    return PlacementInputs(
        scores=read_frame(conn, sa.select(s).where(in_tier).order_by(s.c.loan_id)),
        snapshot=read_frame(
            conn,
            _select(snap, _SNAPSHOT_COLUMNS).where(
                snap.c.as_of_date == as_of,
                sa.or_(snap.c.loan_id.in_(tier_loans), snap.c.loan_id.in_(open_loans)),
            ),
        ),
        snapshot_rows=int(conn.execute(snapshot_rows).scalar_one()),
        customers=stg_customers_as_of(conn, as_of, _CUSTOMER_COLUMNS, tier_customers),
        agencies=stg_agencies(conn),
        placements=read_frame(conn, sa.select(p).order_by(p.c.placement_id)),
        agency_actions=stg_contact_history(
            conn, as_of, _AGENCY_ACTION_COLUMNS, channel=CHANNEL, vocabulary=False
        ),
        guard_actions=with_standing(
            stg_contact_history(
                conn,
                as_of,
                _GUARD_ACTION_COLUMNS,
                since=since_day,
                customer_ids=tier_customers,
                vocabulary=False,
            ),
            stg_standing_contacts(
                conn, as_of, since_day, _GUARD_ACTION_COLUMNS, customer_ids=tier_customers
            ),
        ),
        installments=stg_installments(conn, _INSTALLMENT_COLUMNS, with_history),
        repayments=stg_repayments(conn, as_of, _REPAYMENT_COLUMNS, with_history),
    )


def _check_forward(placements: pd.DataFrame, as_of: dt.date) -> None:
    cutoff = pd.Timestamp(as_of)
    later = (day(placements["start_date"]) > cutoff) | (day(placements["recalled_on"]) > cutoff)
    if later.any():
        raise RuntimeError(
            f"act_agency_placements already holds {int(later.sum())} placements started or "
            f"recalled after {as_of}: placement dates run forward (rerun the latest date)"
        )


def _suppression_rows(suppressed: pd.DataFrame, as_of: dt.date, tier: str) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "as_of_date": pd.Timestamp(as_of),
            "loan_id": suppressed["loan_id"].astype(str).to_numpy(),
            "channel": CHANNEL,
            "customer_id": suppressed["customer_id"].astype(str).to_numpy(),
            "tier": tier,
            "strategy_arm": STRATEGY_ARM,
            "reason": suppressed["reason"].astype(str).to_numpy(),
            "route": suppressed["route"].to_numpy(),
            "policy": suppressed["policy"].astype(str).to_numpy(),
        },
        columns=list(SUPPRESSION_COLUMNS),
    )
    return out.sort_values("loan_id", kind="stable").reset_index(drop=True)


def _placeable(
    allowed: pd.DataFrame, history: pd.DataFrame, inputs: PlacementInputs, policy: PlacementPolicy
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Accounts the guardrails allow, less those an agency works now, those off the
    book (they would be recalled at once) and those placed the maximum number of times,
    with placement number, balance and location; also the (loan, agency) pairs they may
    not go to, and how many were skipped."""
    is_busy = isin(allowed["loan_id"], history.loc[~history["completed"], "loan_id"])
    snap = inputs.snapshot.drop_duplicates("loan_id").set_index("loan_id")
    on_book = allowed["loan_id"].map(snap["on_book"]).fillna(False).astype(bool).to_numpy()
    free = allowed[~is_busy & on_book]
    terms, excluded = placement_terms(history, free["loan_id"], policy.max_placements_per_account)
    accounts = free.merge(terms, on="loan_id").merge(
        inputs.snapshot[["loan_id", "overdue_principal"]], on="loan_id", how="left"
    )
    cust = inputs.customers.drop_duplicates("customer_id").set_index("customer_id")
    for col in ("province", "city", "timezone"):
        accounts[col] = accounts["customer_id"].map(cust[col])
    # Balance placed: all principal still owed plus overdue interest and fees.
    accounts["balance"] = np.round(
        accounts["outstanding_principal"]
        + accounts["overdue_amount"]
        - accounts["overdue_principal"].fillna(0.0),
        2,
    )
    skipped = {
        "under_active_placement": int(is_busy.sum()),
        "off_book": int((~is_busy & ~on_book).sum()),
        "max_placements_reached": int(len(free) - len(terms)),
    }
    return accounts, excluded, skipped


def plan_placements(
    inputs: PlacementInputs,
    as_of: dt.date,
    policy: PlacementPolicy,
    guardrails: GuardrailPolicy,
) -> PlacementPlan:
    """Everything the day decides, from its inputs (pure: no I/O)."""
    _check_forward(inputs.placements, as_of)
    own = undo_day(inputs.placements, as_of)
    active = own[own["status"] == STATUS_ACTIVE]
    if len(active) and inputs.snapshot_rows == 0:
        raise RuntimeError(
            f"no delinquency snapshot on {as_of}: cannot tell cured placements from others"
        )
    recalls = due_recalls(active, inputs.snapshot, as_of)
    own = apply_recalls(own, recalls, as_of)

    history = placement_history(
        own,
        inputs.agency_actions,
        inputs.installments,
        inputs.repayments,
        as_of,
        policy.placement_period_days,
    )
    agencies = inputs.agencies.sort_values("agency_id").reset_index(drop=True)
    rates = liquidation_rates(
        history,
        agencies["agency_id"].astype(str).tolist(),
        policy.prior_liquidation_rate,
        policy.credibility_k,
    )

    scores = inputs.scores.sort_values("loan_id", kind="stable").reset_index(drop=True)
    guard = apply_guardrails(
        scores[["loan_id", "customer_id"]].assign(channel=CHANNEL),
        inputs.customers,
        inputs.guard_actions,
        as_of,
        guardrails,
    )
    accounts, excluded, skipped = _placeable(
        scores[isin(scores["loan_id"], guard.allowed["loan_id"])], history, inputs, policy
    )

    # Room this month: ours started before today (today's are being decided) and the
    # lender's own, traced from agency actions, up to today.
    month_starts = pd.concat(
        [
            own[["agency_id", "start_date"]],
            history.loc[history["source"] == "lender", ["agency_id", "start_date"]],
        ],
        ignore_index=True,
    )
    agencies["room"] = monthly_room(agencies, month_starts, as_of)
    agencies["liquidation_rate"] = rates["liquidation_rate"].to_numpy()
    chosen = allocate_accounts(accounts, agencies, policy, as_of, excluded)
    started = _new_placements(chosen, accounts, as_of, policy)
    placements = pd.concat(
        [own, started[_columns(agency_placements)]], ignore_index=True
    ).sort_values("placement_id", kind="stable")
    recalled = placements[isin(placements["placement_id"], recalls["placement_id"])]
    return PlacementPlan(
        placements=placements.reset_index(drop=True),
        started=started,
        recalled=recalled.reset_index(drop=True),
        commissions=compute_commissions(placements, inputs.repayments, as_of),
        suppressed=_suppression_rows(guard.suppressed, as_of, policy.tier),
        rates=rates,
        skipped=skipped,
    )


def _new_placements(
    chosen: pd.DataFrame, accounts: pd.DataFrame, as_of: dt.date, policy: PlacementPolicy
) -> pd.DataFrame:
    p = chosen.merge(accounts, on="loan_id", how="left", validate="one_to_one")
    start = pd.Timestamp(as_of)
    p["placement_id"] = (
        p["agency_id"] + "-" + p["loan_id"].astype(str) + "-" + p["placement_no"].astype(str)
    )
    p["start_date"] = start
    p["period_days"] = policy.placement_period_days
    p["recall_date"] = start + pd.Timedelta(days=policy.placement_period_days)
    p["recalled_on"] = pd.NaT
    p["recall_reason"] = None
    p["status"] = STATUS_ACTIVE
    p["balance_placed"] = p["balance"]
    return p.sort_values("placement_id", kind="stable").reset_index(drop=True)


def _write(conn: Connection, plan: PlacementPlan, as_of: dt.date) -> int:
    """Replace the rows the day may have touched: open ones, and those it started or
    recalled (the same set a rerun rebuilds)."""
    p = agency_placements
    conn.execute(
        p.delete().where(
            sa.or_(p.c.status == STATUS_ACTIVE, p.c.start_date >= as_of, p.c.recalled_on >= as_of)
        )
    )
    rows = plan.placements
    cutoff = pd.Timestamp(as_of)
    touched = (
        (rows["status"] == STATUS_ACTIVE)
        | (day(rows["start_date"]) >= cutoff)
        | (day(rows["recalled_on"]) >= cutoff)
    )
    written = insert_frame(conn, p, rows[touched.to_numpy()])
    c = agency_commissions
    conn.execute(c.delete().where(c.c.paid_on <= as_of))
    insert_frame(conn, c, plan.commissions)
    return written


def _dates(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        out[col] = day(out[col]).dt.date.astype(object).where(out[col].notna(), None)
    return out


def _export(outbox: str, plan: PlacementPlan, agencies: pd.DataFrame, as_of: dt.date) -> list[str]:
    """One bundle per agency that is active or had an account recalled today."""
    started = _dates(plan.started, ("start_date", "recall_date"))
    recalled = _dates(plan.recalled, ("start_date", "recalled_on"))
    active = agencies.loc[agencies["active"].fillna(False).astype(bool), "agency_id"]
    ids = sorted({*active.astype(str), *recalled["agency_id"].astype(str)})
    for agency_id in ids:
        mine = started[started["agency_id"] == agency_id]
        back = recalled[recalled["agency_id"] == agency_id]
        write_bundle(
            outbox,
            f"agencies/{agency_id}/{as_of.isoformat()}",
            {
                "placements": mine.loc[:, list(EXPORT_PLACEMENT_COLUMNS)].reset_index(drop=True),
                "recalls": back.loc[:, list(EXPORT_RECALL_COLUMNS)].reset_index(drop=True),
            },
            {
                "agency_id": agency_id,
                "as_of": as_of.isoformat(),
                "placements": len(mine),
                "recalls": len(back),
            },
        )
    return ids


def run_placements(
    as_of: dt.date,
    settings: Settings | None = None,
    *,
    policy: PlacementPolicy | None = None,
) -> dict[str, Any]:
    """Recall, place and pay agencies for ``as_of``; write, export, return counts.

    The returned dict holds counts only, except ``suppression_log``: a frame of the
    accounts the guardrails held back, shaped like ``act_suppression_log`` (ids and
    reasons, no PII) for the caller to store -- pop it before using the rest as XCom.
    """
    settings = settings or get_settings()
    policy = policy or load_placement_policy()
    guardrails = load_guardrail_policy()
    with opened(settings.warehouse_url) as engine:
        with begin(engine) as conn:
            ensure_schema(conn)
            inputs = _read_inputs(conn, as_of, policy)
        plan = plan_placements(inputs, as_of, policy, guardrails)
        with begin(engine) as conn:
            written = _write(conn, plan, as_of)
            _log_suppressions(conn, plan.suppressed, as_of)
    exported = _export(settings.outbox_dir, plan, inputs.agencies, as_of)
    summary = _summary(plan, inputs, as_of, written, exported)
    log.info("placements %s: %s", as_of, summary)
    return summary


def _log_suppressions(conn: Connection, rows: pd.DataFrame, as_of: dt.date) -> None:
    """The day's held-back placements join the suppression log (channel ``agency``);
    the worklist step replaces only the other channels' rows of the same date."""
    mine = suppression_log.c
    replace_where(
        conn, suppression_log, sa.and_(mine.as_of_date == as_of, mine.channel == CHANNEL), rows
    )


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def _summary(
    plan: PlacementPlan,
    inputs: PlacementInputs,
    as_of: dt.date,
    written: int,
    exported: list[str],
) -> dict[str, Any]:
    started = plan.started
    randomised = int((started["allocation_method"] == RANDOMISED).sum())
    return {
        "as_of": as_of.isoformat(),
        "candidates": len(inputs.scores),
        "suppressed": len(plan.suppressed),
        "suppressed_by_reason": _counts(plan.suppressed["reason"]),
        "skipped": plan.skipped,
        "placed": len(started),
        "placed_by_agency": _counts(started["agency_id"]),
        "randomised": randomised,
        "randomised_share": round(randomised / len(started), 4) if len(started) else None,
        "recalled": len(plan.recalled),
        "recalled_by_reason": _counts(plan.recalled["recall_reason"]),
        "active_placements": int((plan.placements["status"] == STATUS_ACTIVE).sum()),
        "rows_written": written,
        "commission_rows": len(plan.commissions),
        "liquidation_rates": {
            str(a): round(float(r), 4)
            for a, r in zip(plan.rates["agency_id"], plan.rates["liquidation_rate"], strict=True)
        },
        "exported_agencies": exported,
    }
