"""The act stage's two warehouse steps, each idempotent for its as-of date.

1. ``run_treatment_plan``: scored accounts -> arm, strategy step, offer, legal route
   (``act_treatment_plan``). Agency placement reads the plan to know who is routed.
   Per account, so it runs by shard (``warehouse/shards.py``): a shard reads only its
   accounts' scores and customers and replaces only its rows of the date.
2. ``run_worklists``: the plan against the contact history -> guardrails, cadence and
   collector capacity -> ``act_worklist`` and ``act_suppression_log``; the plan's
   disposition column is then rewritten with what became of each account. An
   independent audit re-counts every rule over the scheduled worklist
   (``act_compliance_report``); a breach empties the day's worklist and fails the task.
   A whole-book (reduce) step: the caps count per phone number across debtors and per
   debtor across loans, and collectors' capacity is shared by every account.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nplpipeline.act.arms import ARM_COLUMNS
from nplpipeline.act.compliance import compliance_rows
from nplpipeline.act.guardrail_audit import GuardrailBreachError, audit_worklist
from nplpipeline.act.guardrails import GuardrailResult, apply_guardrails
from nplpipeline.act.guardrails_config import GuardrailPolicy, load_guardrail_policy
from nplpipeline.act.strategies import due_today, plan_treatments, planned_contacts
from nplpipeline.act.tables import (
    PLACEMENT_CHANNEL,
    compliance_report,
    experiment_arms,
    suppression_log,
    treatment_plan,
    worklist,
)
from nplpipeline.act.worklists import Assignment, assign_queues
from nplpipeline.config.policy import Policy
from nplpipeline.keys import isin
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import TOP_REASONS, account_scores
from nplpipeline.settings import Settings, get_settings
from nplpipeline.staging import (
    stg_agencies,
    stg_collectors,
    stg_contact_history,
    stg_customers_as_of,
    stg_standing_contacts,
)
from nplpipeline.uplift.fields import NBA_FIELDS, nba_fields
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import insert_frame, read_frame
from nplpipeline.warehouse.partitions import replace_partition, replace_shard, replace_where
from nplpipeline.warehouse.shards import Shard, narrow

if TYPE_CHECKING:
    from nplpipeline.uplift.live import NbaChooser

log = logging.getLogger(__name__)

# Long enough for every rolling rule: 7-day caps and cooling-off, cadences of up to a
# month. States a contact opens (a dispute, a promise still due, a wrong-party number)
# are read without a horizon (``stg_standing_contacts``), so age never lifts them.
HISTORY_DAYS = 120
ACCOUNT_LEVEL_REASONS = ("missing:customer", "flag:", "invalid:timezone")
_TIER_LABELS_COLUMN = "tier_label_zh"


def _columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns]


def _kept_arms(conn: sa.Connection, as_of: dt.date, shard: Shard | None) -> pd.DataFrame:
    """Arms drawn on or before ``as_of`` (a backfill does not see later draws), of
    ``shard``'s loans when given."""
    a = experiment_arms
    return read_frame(
        conn, narrow(sa.select(a).where(a.c.assigned_on <= as_of), a.c.loan_id, shard)
    )


def _store_new_arms(conn: sa.Connection, as_of: dt.date, plan: pd.DataFrame) -> int:
    """Record the arms this plan drew. A loan first drawn on a later date (this is a
    backfill) moves its assignment to this, earlier, date: the earliest draw wins."""
    new = plan[plan["new_arm"].to_numpy(dtype=bool)]
    rows = pd.DataFrame(
        {
            "loan_id": new["loan_id"].astype(str).to_numpy(),
            "strategy_arm": new["strategy_arm"].astype(str).to_numpy(),
            "assigned_on": pd.Timestamp(as_of),
            "assigned_tier": new["tier"].astype(str).to_numpy(),
            "assigned_strategy": new["arm_strategy"].astype(str).to_numpy(),
            "policy_arm": new["policy_arm"].astype(str).to_numpy(),
        },
        columns=list(ARM_COLUMNS),
    )
    a = experiment_arms
    ids = rows["loan_id"].tolist()
    for start in range(0, len(ids), 10_000):
        conn.execute(a.delete().where(a.c.loan_id.in_(ids[start : start + 10_000])))
    return insert_frame(conn, a, rows)


def _nba_chooser(
    conn: sa.Connection, as_of: dt.date, settings: Settings, kept: pd.DataFrame,
    shard: Shard | None,
) -> NbaChooser:  # fmt: skip
    """The learned policy's arm for this plan (imported here: the learners load only
    when a plan runs, never when the act tables are)."""
    from nplpipeline.uplift.config import load_uplift_policy
    from nplpipeline.uplift.live import NbaChooser

    return NbaChooser(conn, as_of, settings, load_uplift_policy(), kept, shard)


def run_treatment_plan(
    as_of: dt.date, settings: Settings | None = None, shard: Shard | None = None
) -> dict[str, Any]:
    """Plan every account scored on ``as_of`` (``shard``'s only, when given); replaces
    that date's plan (that shard's rows of it). Accounts keep the experiment arm of their
    first plan (``act_experiment_arms``). Unsharded, no scores is an error; a shard may be
    empty (the reduce step checks the whole day)."""
    settings = settings or get_settings()
    policy = settings.policy
    s = account_scores.c
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        query = sa.select(account_scores).where(s.as_of_date == as_of)
        scores = read_frame(conn, narrow(query, s.loan_id, shard))
        if scores.empty and (shard is None or shard.whole):
            raise RuntimeError(
                f"no scored accounts on {as_of}: run npl_score_accounts for that date first"
            )
        customers = stg_customers_as_of(conn, as_of, ("customer_id", "monthly_income"), shard=shard)
        kept = _kept_arms(conn, as_of, shard)
        nba = _nba_chooser(conn, as_of, settings, kept, shard)
        plan = plan_treatments(scores, customers, as_of, policy.strategies, kept, nba.arm, nba)
        rows = replace_shard(conn, treatment_plan, as_of, shard, plan[_columns(treatment_plan)])
        new_arms = _store_new_arms(conn, as_of, plan)
        decided = nba.write()
    counts = plan.groupby(["tier", "strategy_arm"]).size()
    summary = {
        "as_of": as_of.isoformat(),
        "shard": (shard or Shard()).to_xcom(),
        "accounts": rows,
        "new_arms": new_arms,
        "by_policy_arm": {str(k): int(v) for k, v in plan["policy_arm"].value_counts().items()},
        "nba_decisions": decided,
        "nba_policy_version": nba.version,
        "by_tier_arm": {f"{t}/{a}": int(n) for (t, a), n in counts.items()},
        "offers": {str(k): int(v) for k, v in plan["offer_type"].value_counts().items()},
        "legal_ready": int(plan["legal_ready"].sum()),
    }
    log.info("treatment plan %s: %s", as_of, summary)
    return summary


_HISTORY_COLUMNS = (
    "loan_id", "customer_id", "action_at", "channel", "performed_by", "outcome", "ptp_date",
)  # fmt: skip
_CUSTOMER_COLUMNS = (
    "customer_id", "timezone", "do_not_contact", "deceased", "bankruptcy", "dispute_open",
    "vulnerable",
    "phone",  # the number the per-number cap counts (never logged)
    "updated_at",  # a dispute closes only by a later master update
)  # fmt: skip


def _history(conn: sa.Connection, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The look-back window's contacts, and the older ones whose state still binds."""
    since = as_of - dt.timedelta(days=HISTORY_DAYS)
    window = stg_contact_history(conn, as_of, _HISTORY_COLUMNS, since=since, vocabulary=False)
    return window, stg_standing_contacts(conn, as_of, since, _HISTORY_COLUMNS)


def _loans_with_agency(conn: sa.Connection, as_of: dt.date, history: pd.DataFrame) -> set[str]:
    """Loans an agency works on ``as_of`` -- our placements and the lender's own (traced
    from agency actions) -- which get no in-house contact on top of the agency's."""
    from nplpipeline.act.placement.config import load_placement_policy
    from nplpipeline.act.placement.history import lender_placements
    from nplpipeline.act.placement.tables import agency_placements as p

    own = read_frame(
        conn,
        sa.select(p.c.loan_id, p.c.agency_id, p.c.start_date, p.c.recalled_on).where(
            p.c.start_date <= as_of
        ),
    )
    active_own = own[own["recalled_on"].isna() | (own["recalled_on"] > pd.Timestamp(as_of))]
    period = load_placement_policy().placement_period_days
    traced = lender_placements(history, own, as_of, period)
    active_traced = traced[traced["end_date"] >= pd.Timestamp(as_of)]
    return set(active_own["loan_id"].astype(str)) | set(active_traced["loan_id"].astype(str))


def _suppression_rows(suppressed: pd.DataFrame, due: pd.Series) -> pd.DataFrame:
    """Held-back contacts that were due today, plus account-level holds on any channel."""
    account_level = suppressed["reason"].str.startswith(ACCOUNT_LEVEL_REASONS)
    return suppressed[due.reindex(suppressed.index).to_numpy() | account_level.to_numpy()]


def _worklist_rows(
    assigned: pd.DataFrame, as_of: dt.date, labels: dict[str, str], call_channels: tuple[str, ...]
) -> pd.DataFrame:
    w = assigned.copy()
    w["as_of_date"] = as_of
    w["item_id"] = f"{as_of:%Y%m%d}-" + w["loan_id"].astype(str) + "-" + w["channel"]
    w[_TIER_LABELS_COLUMN] = w["tier"].map(labels)
    for col in ("earliest_local_time", "latest_local_time"):
        w[col] = w[col].astype(str)  # datetime.time -> HH:MM:SS
    for col in ("window_start_utc", "window_end_utc"):
        w[col] = pd.to_datetime(w[col], utc=True).dt.tz_localize(None)
    remaining = [
        "remaining_call_attempts_number_today",
        "remaining_connected_calls_debtor_today",
        "remaining_call_attempts_debt_7d",
    ]
    least = w[remaining].astype("Float64").min(axis=1, skipna=True)  # the tightest cap
    w["remaining_call_attempts"] = least.where(w["channel"].isin(call_channels)).astype("Int64")
    for col in NBA_FIELDS:  # a plan without next-best-action decisions sends them empty
        if col not in w.columns:
            w[col] = pd.NA
    keep = _columns(worklist)
    missing = [c for c in keep if c not in w.columns]
    if missing:
        raise KeyError(f"worklist rows lack {missing}")
    return w[keep]


def _dispositions(
    plan: pd.DataFrame,
    with_agency: set[str],
    assigned: pd.DataFrame,
    over: pd.DataFrame,
    logged: pd.DataFrame,
    waiting: pd.DataFrame,
) -> pd.Series:
    """What became of each planned account, most decisive outcome first."""
    disposition = plan["disposition"].copy()
    planned = (disposition == "planned").to_numpy()
    for loans, label in (
        (waiting["loan_id"], "cadence_wait"),
        (logged["loan_id"], "suppressed"),
        (over["loan_id"], "over_capacity"),
        (assigned["loan_id"], "scheduled"),
    ):
        disposition[planned & isin(plan["loan_id"], loans)] = label
    disposition[isin(plan["loan_id"], with_agency)] = "with_agency"
    return disposition


def _screen_and_assign(
    contacts: pd.DataFrame,
    due: pd.Series,
    inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    as_of: dt.date,
    policy: Policy,
    guardrails: GuardrailPolicy,
    agency_ids: tuple[str, ...],
    standing: pd.DataFrame | None = None,
) -> tuple[GuardrailResult, Assignment]:
    """Guardrails, then capacity; a call that finds no collector gives its cap slots
    back and the guardrails run again, so only finally scheduled calls spend slots."""
    customers, collectors, history = inputs
    dropped = pd.Series(False, index=contacts.index)
    while True:
        screened = apply_guardrails(
            contacts.assign(schedulable=due & ~dropped),
            customers,
            history,
            as_of,
            guardrails,
            agency_ids,
            standing,
        )
        allowed = screened.allowed
        todays = allowed[(due & ~dropped).reindex(allowed.index).to_numpy()]
        queues = assign_queues(todays, collectors, policy.strategies.channels)
        over = queues.over_capacity
        calls = over.index[over["channel"].isin(guardrails.call_channels).to_numpy()]
        if len(calls) == 0:
            over = pd.concat([allowed.loc[dropped.reindex(allowed.index).to_numpy()], over])
            return screened, Assignment(queues.assigned, over)
        dropped[calls] = True


def build_worklists(
    plan: pd.DataFrame,
    customers: pd.DataFrame,
    collectors: pd.DataFrame,
    history: pd.DataFrame,
    with_agency: set[str],
    as_of: dt.date,
    policy: Policy,
    guardrails: GuardrailPolicy,
    agency_ids: tuple[str, ...] = (),
    standing: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Pure core of ``run_worklists``: plan + history -> worklist, suppressions, plan,
    and the compliance report with the post-scheduling audit's result. ``standing``:
    contacts older than ``history``'s window whose state still binds (guardrails only;
    cadence reads the window)."""
    live = plan[(plan["disposition"] == "planned").to_numpy() & ~isin(plan["loan_id"], with_agency)]
    contacts = planned_contacts(live, policy.strategies)
    due = due_today(contacts, history, as_of)
    # Due contacts first, so cap slots are spent on what happens today.
    contacts = contacts.assign(_due=due).sort_values("_due", ascending=False, kind="stable")
    contacts = contacts.reset_index(drop=True)
    due = contacts.pop("_due").astype(bool)
    screened, queues = _screen_and_assign(
        contacts,
        due,
        (customers, collectors, history),
        as_of,
        policy,
        guardrails,
        agency_ids,
        standing,
    )
    logged = _suppression_rows(screened.suppressed, due)
    waiting = contacts[~due.to_numpy()]
    labels = {t.name: t.label_zh for t in policy.tiering.tiers}
    plan = plan.copy()
    plan["disposition"] = _dispositions(
        plan, with_agency, queues.assigned, queues.over_capacity, logged, waiting
    )
    log_rows = logged.assign(as_of_date=as_of)[_columns(suppression_log)]
    items = _worklist_rows(queues.assigned, as_of, labels, guardrails.call_channels)
    audit = audit_worklist(items, customers, history, as_of, guardrails, agency_ids, standing)
    return {
        "worklist": items,
        "suppressions": log_rows,
        "over_capacity": queues.over_capacity,
        "plan": plan,
        "compliance": compliance_rows(screened.checks, audit, as_of, guardrails.name),
        "audit": audit,
    }


def _write_compliance(conn: sa.Connection, as_of: dt.date, out: dict[str, Any]) -> bool:
    """The day's compliance report; False on an audit breach, when the report (with the
    breach) is kept and the day's worklist emptied, so nothing can reach the CRM."""
    replace_partition(conn, compliance_report, "as_of_date", as_of, out["compliance"])
    if out["audit"].ok:
        return True
    replace_partition(conn, worklist, "as_of_date", as_of, out["worklist"].iloc[0:0])
    return False


def _write_outputs(conn: sa.Connection, as_of: dt.date, out: dict[str, Any]) -> tuple[int, int]:
    items = replace_partition(conn, worklist, "as_of_date", as_of, out["worklist"])
    kept = suppression_log.c  # placement writes (and keeps) its own channel's rows
    held = replace_where(
        conn,
        suppression_log,
        sa.and_(kept.as_of_date == as_of, kept.channel != PLACEMENT_CHANNEL),
        out["suppressions"],
    )
    replace_partition(
        conn, treatment_plan, "as_of_date", as_of, out["plan"][_columns(treatment_plan)]
    )
    return items, held


def run_worklists(as_of: dt.date, settings: Settings | None = None) -> dict[str, Any]:
    """Worklists and the suppression log for ``as_of``; replaces that date's rows."""
    settings = settings or get_settings()
    policy = settings.policy
    guardrails = load_guardrail_policy()
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        plan = read_frame(
            conn, sa.select(treatment_plan).where(treatment_plan.c.as_of_date == as_of)
        )
        if plan.empty:
            raise RuntimeError(f"no treatment plan on {as_of}: run the plan step first")
        plan = plan.merge(nba_fields(conn, as_of), on="loan_id", how="left")
        scores = read_frame(
            conn,
            sa.select(
                account_scores.c.loan_id,
                account_scores.c.dpd,
                *(account_scores.c[f"reason_{i}"] for i in range(1, TOP_REASONS + 1)),
            ).where(account_scores.c.as_of_date == as_of),
        )
        # the flags as they stood on the as-of date, not as last updated
        raw = {
            "customers": stg_customers_as_of(conn, as_of, _CUSTOMER_COLUMNS),
            "collectors": stg_collectors(conn),
            "agencies": stg_agencies(conn, ["agency_id"]),
        }
        history, standing = _history(conn, as_of)
        with_agency = _loans_with_agency(conn, as_of, history)
        out = build_worklists(
            plan.merge(scores, on="loan_id", how="left"),
            raw["customers"],
            raw["collectors"],
            history,
            with_agency,
            as_of,
            policy,
            guardrails,
            tuple(raw["agencies"]["agency_id"].astype(str)),
            standing,
        )
        passed = _write_compliance(conn, as_of, out)
        if passed:
            items, held = _write_outputs(conn, as_of, out)
    if not passed:  # committed above: the report records the breach, the worklist is empty
        raise GuardrailBreachError(out["audit"].breaches)
    w, s = out["worklist"], out["suppressions"]
    summary = {
        "as_of": as_of.isoformat(),
        "worklist_items": items,
        "by_channel": {str(k): int(v) for k, v in w["channel"].value_counts().items()},
        "queues": int(w["queue"].nunique()),
        "suppressed": held,
        "suppressed_by_reason": {str(k): int(v) for k, v in s["reason"].value_counts().items()},
        "over_capacity": len(out["over_capacity"]),
        "dispositions": {
            str(k): int(v) for k, v in out["plan"]["disposition"].value_counts().items()
        },
        "collectors_used": int(w["assignee_id"].nunique()),
        "audit": "pass",
        "mean_value_per_effort": float(np.round(w["value_per_effort"].mean(), 2))
        if len(w)
        else None,
    }
    log.info("worklists %s: %s", as_of, summary)
    return summary
