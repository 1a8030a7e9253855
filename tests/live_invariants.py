"""What a day must get right, across days (issue #10, item 3): checks over a warehouse.

Each ``check_*`` reads a warehouse (any SQLAlchemy URL the pipeline accepts: DuckDB or
PostgreSQL) after a multi-day run over ``days`` (the as-of dates that ran, in any order)
and either returns a dict of counts -- what it examined, so a caller can assert the check
was not vacuous -- or raises ``InvariantError`` whose message names the invariant and
at most a few ids (loan, item, placement, repayment, batch ids; never a name, phone
number or amount). They only read; they never fix anything.

What "known by D" means here (as ``staging.contacts`` reads it): a contact counts for
day D when it is dated before D, or dated D and arrived in a drop dated D or earlier:
what the day's run could see. The day's run is ingest -> delinquency -> score -> act ->
placements -> delivery -> KPIs, all for D, after the drop of D landed.

    check_contacts_counted(url, days)  yesterday's performed contacts count today
    check_promises_block(url, days)    a pending promise blocks every contact
    check_placements(url, days)        one agency per placement, recalled at end or cure
    check_commissions(url, days)       commission on agency collections, clawed back
    check_arms_stable(url, days)       an account's experiment arm never changes
    check_ids_unique(url, days)        item ids and idempotency keys never collide
    kpi_snapshot(url, day) / check_kpis_frozen(url, snapshots)
                                       a closed day's KPIs never change
    check_all(url, days, snapshots)    all of the above, counts by check
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nplpipeline.act.delivery.tables import crm_delivery_ledger, crm_rejections
from nplpipeline.act.guardrail_audit import audit_worklist
from nplpipeline.act.guardrails_config import GuardrailPolicy, load_guardrail_policy
from nplpipeline.act.placement.tables import agency_commissions, agency_placements
from nplpipeline.act.stage import HISTORY_DAYS
from nplpipeline.act.strategies import due_today
from nplpipeline.act.tables import treatment_plan, worklist
from nplpipeline.config.strategy import StrategyPolicy
from nplpipeline.contract import PAID_OUTCOME, PROMISE_OUTCOME
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.report.marts import tables as marts
from nplpipeline.staging import stg_customers_as_of
from nplpipeline.warehouse.engine import opened
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.tables import RAW_TABLES

SHOWN = 10  # ids named per failure; the count is always given in full

__all__ = [
    "InvariantError",
    "check_all",
    "check_arms_stable",
    "check_commissions",
    "check_contacts_counted",
    "check_ids_unique",
    "check_kpis_frozen",
    "check_placements",
    "check_promises_block",
    "kpi_snapshot",
]


class InvariantError(AssertionError):
    """A cross-day invariant does not hold; the message names ids only."""


def _fail(invariant: str, problem: str, ids: Iterable[Any]) -> None:
    shown = sorted({str(i) for i in ids})
    if shown:
        raise InvariantError(f"{invariant}: {problem}: {len(shown)} case(s), e.g. {shown[:SHOWN]}")


def _days(days: Iterable[dt.date]) -> list[dt.date]:
    out = sorted({pd.Timestamp(d).date() for d in days})
    if not out:
        raise ValueError("no days given")
    return out


def _read(url: str, query: sa.Select) -> pd.DataFrame:
    with opened(url) as engine, engine.connect() as conn:
        return read_frame(conn, query)


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.normalize()


def _end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def _actions(url: str, last: dt.date, columns: Sequence[str]) -> pd.DataFrame:
    """Collection actions dated on or before ``last``, with their drop date."""
    a = RAW_TABLES["collection_actions"]
    cols = [a.c[c] for c in dict.fromkeys([*columns, "action_at", "_drop_date"])]
    frame = _read(url, sa.select(*cols).where(a.c.action_at < _end(last)))
    frame["day"] = _day(frame["action_at"])
    frame["_drop_date"] = _day(frame["_drop_date"])
    return frame


def _known_by(frame: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Rows the run of ``day`` could see: dated before it, or dated on it and arrived in
    a drop of that day or earlier (a day's own contacts come with the next day's drop)."""
    d = pd.Timestamp(day)
    arrived = (frame["day"] < d) | (frame["_drop_date"] <= d)
    return frame[arrived.to_numpy() & (frame["day"] <= d).to_numpy()]


def _worklists(url: str, days: list[dt.date]) -> pd.DataFrame:
    w = worklist
    return _read(url, sa.select(w).where(w.c.as_of_date.in_(days)))


def _plans(url: str, days: list[dt.date]) -> pd.DataFrame:
    t = treatment_plan
    cols = (t.c.as_of_date, t.c.loan_id, t.c.tier, t.c.strategy_arm, t.c.strategy_name)
    return _read(url, sa.select(*cols, t.c.step_name).where(t.c.as_of_date.in_(days)))


def _cadence(plan: pd.DataFrame, strategies: StrategyPolicy) -> pd.Series:
    """Each plan row's step cadence in days (1 when the step is unknown)."""
    cadence = {
        (name, step.name): step.every_days
        for name, strategy in strategies.strategies.items()
        for step in strategy.steps
    }
    keys = list(zip(plan["strategy_name"].astype(str), plan["step_name"].astype(str), strict=True))
    return pd.Series([cadence.get(k, 1) for k in keys], index=plan.index, dtype="int64")


# --- 1. yesterday's contacts count today --------------------------------------------------


_AUDIT_ACTION_COLUMNS = (
    "action_id", "loan_id", "customer_id", "action_at", "channel", "performed_by", "outcome",
    "ptp_date",
)  # fmt: skip
_AUDIT_CUSTOMER_COLUMNS = (
    "customer_id", "timezone", "do_not_contact", "deceased", "bankruptcy", "dispute_open",
    "vulnerable", "phone", "updated_at",
)  # fmt: skip


def check_contacts_counted(
    url: str,
    days: Iterable[dt.date],
    *,
    strategies: StrategyPolicy | None = None,
    guardrails: GuardrailPolicy | None = None,
) -> dict[str, int]:
    """Every day's worklist respects the contacts performed before it -- in particular
    yesterday's, which arrive in today's drop: a recount of every guardrail rule (the
    independent audit) and of the cadence over the history known by D (within the act
    stage's look-back, ``HISTORY_DAYS``) finds nothing the day scheduled against them.
    Counts the items audited and yesterday's contacts seen."""
    days = _days(days)
    if strategies is None:
        from nplpipeline.settings import get_settings

        strategies = get_settings().policy.strategies
    guardrails = guardrails or load_guardrail_policy()
    actions = _actions(url, days[-1], _AUDIT_ACTION_COLUMNS)
    items, plans = _worklists(url, days), _plans(url, days)
    counts = {"days": len(days), "items_audited": 0, "yesterday_contacts": 0, "late_contacts": 0}
    breaches: dict[str, set[str]] = {}
    with opened(url) as engine:
        for day in days:
            ts = pd.Timestamp(day)
            yesterday = actions["day"] == ts - pd.Timedelta(days=1)
            counts["yesterday_contacts"] += int((yesterday & (actions["_drop_date"] <= ts)).sum())
            counts["late_contacts"] += int((yesterday & (actions["_drop_date"] > ts)).sum())
            todays = items[_day(items["as_of_date"]) == ts].reset_index(drop=True)
            if todays.empty:
                continue
            known = _known_by(actions, day)
            # the look-back the act stage reads (its rules look no further back)
            known = known[known["day"] >= ts - pd.Timedelta(days=HISTORY_DAYS)]
            history = known.drop(columns=["day", "_drop_date"])
            with engine.connect() as conn:
                customers = stg_customers_as_of(conn, day, _AUDIT_CUSTOMER_COLUMNS)
            audit = audit_worklist(todays, customers, history, day, guardrails)
            for rule, ids in audit.breaches.items():
                breaches.setdefault(rule, set()).update(ids)
            plan = plans[_day(plans["as_of_date"]) == ts]
            steps = plan.set_index("loan_id")[["strategy_name", "step_name"]]
            todays = todays.join(steps, on="loan_id", rsuffix="_plan")
            todays["every_days"] = _cadence(todays, strategies).to_numpy()
            due = due_today(todays, history, day)
            breaches.setdefault("cadence", set()).update(todays.loc[~due.to_numpy(), "item_id"])
            counts["items_audited"] += len(todays)
    for rule, ids in sorted(breaches.items()):
        _fail("contacts counted", f"scheduled against the contacts known ({rule})", ids)
    return counts


# --- 2. a promise blocks contact ----------------------------------------------------------


def pending_promises(actions: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Promises known by ``day`` that fall due on or after it, not released by a ``paid``
    outcome on the loan since: loan_id, customer_id, promised_on (the action's day)."""
    known = _known_by(actions, day)
    at = pd.to_datetime(known["action_at"])
    promised = known[
        (known["outcome"] == PROMISE_OUTCOME).to_numpy()
        & (pd.to_datetime(known["ptp_date"]) >= pd.Timestamp(day)).to_numpy(na_value=False)
    ]
    paid = known[(known["outcome"] == PAID_OUTCOME).to_numpy()]
    last_paid = pd.to_datetime(paid["action_at"]).groupby(paid["loan_id"]).max()
    paid_since = last_paid.reindex(promised["loan_id"]).to_numpy() >= at[promised.index].to_numpy()
    open_ = promised[~paid_since]
    return pd.DataFrame(
        {
            "loan_id": open_["loan_id"].astype(str).to_numpy(),
            "customer_id": open_["customer_id"].astype(str).to_numpy(),
            "promised_on": open_["day"].to_numpy(),
        }
    )


def check_promises_block(
    url: str, days: Iterable[dt.date], *, guardrails: GuardrailPolicy | None = None
) -> dict[str, int]:
    """No contact on D -- worklist item on a blocked channel, or a new agency placement --
    for a debtor with a promise pending on D, in particular one made the day before."""
    days = _days(days)
    guardrails = guardrails or load_guardrail_policy()
    if not guardrails.ptp_pending_blocks_contact:
        return {"days": len(days), "pending": 0, "made_yesterday": 0}
    actions = _actions(
        url, days[-1], ("loan_id", "customer_id", "action_at", "outcome", "ptp_date")
    )
    items = _worklists(url, days)
    p = agency_placements
    started = _read(url, sa.select(p.c.placement_id, p.c.customer_id, p.c.start_date))
    blocked = set(guardrails.ptp_blocked_channels)
    counts = {"days": len(days), "pending": 0, "made_yesterday": 0}
    hits: set[str] = set()
    for day in days:
        ts = pd.Timestamp(day)
        pending = pending_promises(actions, day)
        counts["pending"] += len(pending)
        counts["made_yesterday"] += int((pending["promised_on"] == ts - pd.Timedelta(days=1)).sum())
        held = set(pending["customer_id"])
        todays = items[(_day(items["as_of_date"]) == ts).to_numpy()]
        contacted = todays["customer_id"].astype(str).isin(held) & todays["channel"].isin(blocked)
        hits.update(todays.loc[contacted.to_numpy(), "item_id"].astype(str))
        if "agency" in blocked:
            placed = started[(_day(started["start_date"]) == ts).to_numpy()]
            hits.update(placed.loc[placed["customer_id"].isin(held).to_numpy(), "placement_id"])
    _fail("promises block", "contact scheduled while a promise was pending", hits)
    return counts


# --- 3. placements ------------------------------------------------------------------------


def _snapshots(url: str, days: list[dt.date], loan_ids: Sequence[str]) -> pd.DataFrame:
    s = delinquency_snapshot
    cols = (s.c.as_of_date, s.c.loan_id, s.c.dpd, s.c.on_book)
    frame = _read(url, sa.select(*cols).where(s.c.as_of_date.in_(days)))
    frame = frame[frame["loan_id"].astype(str).isin(set(loan_ids))].copy()
    frame["as_of_date"] = _day(frame["as_of_date"])
    return frame


def _overlapping(p: pd.DataFrame, last: pd.Timestamp) -> set[str]:
    """Loans with two placements open on the same day (a file held by two agencies)."""
    q = p.assign(end=p["recalled_on"].fillna(last + pd.Timedelta(days=1)))
    q = q.sort_values(["loan_id", "start_date"], kind="stable")
    prev_end = q.groupby("loan_id")["end"].shift()
    return set(q.loc[(q["start_date"] < prev_end).to_numpy(na_value=False), "loan_id"])


def _export_ids(outbox: Path, day: dt.date, agency_id: str, name: str) -> set[str]:
    path = outbox / "agencies" / agency_id / day.isoformat() / f"{name}.parquet"
    if not path.exists():
        return set()
    return set(pd.read_parquet(path, columns=["placement_id"])["placement_id"].astype(str))


def _placement_exports(p: pd.DataFrame, days: list[dt.date], outbox: Path) -> set[str]:
    """Placements started or recalled on a run day but missing from that agency's bundle."""
    missing: set[str] = set()
    for day in days:
        ts = pd.Timestamp(day)
        for column, name in (("start_date", "placements"), ("recalled_on", "recalls")):
            mine = p[(p[column] == ts).to_numpy(na_value=False)]
            for agency_id, part in mine.groupby("agency_id"):
                sent = _export_ids(outbox, day, str(agency_id), name)
                missing.update(set(part["placement_id"].astype(str)) - sent)
    return missing


def check_placements(
    url: str, days: Iterable[dt.date], *, outbox: str | Path | None = None
) -> dict[str, Any]:
    """A placement stays with its agency for its period and is recalled at its end, or
    earlier on cure or when the loan leaves the book: on each run day D, an open
    placement whose planned recall date has come, whose loan shows DPD 0 or is off the
    book in D's snapshot, is recalled on D with that reason; nothing is recalled early
    for another reason; a loan is never with two agencies at once, and no in-house
    worklist item goes to a loan while an agency holds it. With ``outbox``, every
    placement and recall of a run day is in its agency's bundle of that day."""
    days = _days(days)
    p = _read(url, sa.select(agency_placements))
    for col in ("start_date", "recall_date", "recalled_on"):
        p[col] = _day(p[col])
    counts: dict[str, Any] = {"placements": len(p), "open_days": 0, "recalled": {}}
    if p.empty:
        return counts
    last = pd.Timestamp(days[-1])
    _fail("placements", "loan held by two agencies at once", _overlapping(p, last))
    snap = _snapshots(url, days, p["loan_id"].astype(str).unique().tolist())
    snap = snap.set_index(["as_of_date", "loan_id"])
    wrong: dict[str, set[str]] = {}
    items = _worklists(url, days)
    for day in days:
        ts = pd.Timestamp(day)
        before = p[(p["start_date"] < ts) & ~(p["recalled_on"] < ts).to_numpy(na_value=False)]
        counts["open_days"] += len(before)
        key = pd.MultiIndex.from_arrays([np.full(len(before), ts), before["loan_id"].astype(str)])
        dpd = snap["dpd"].reindex(key).to_numpy()
        on_book = snap["on_book"].reindex(key).fillna(False).astype(bool).to_numpy()
        recalled_today = (before["recalled_on"] == ts).to_numpy(na_value=False)
        due = (~on_book) | (dpd == 0) | (before["recall_date"] <= ts).to_numpy()
        wrong.setdefault("due but not recalled", set()).update(
            before.loc[due & ~recalled_today, "placement_id"]
        )
        wrong.setdefault("recalled without cause", set()).update(
            before.loc[recalled_today & ~due, "placement_id"]
        )
        cured = (dpd == 0) & on_book & recalled_today
        period = (before["recall_date"] <= ts).to_numpy() & on_book & (dpd != 0)
        reason = before["recall_reason"].astype("string").fillna("").to_numpy(dtype=object)
        wrong.setdefault("cure recalled under another reason", set()).update(
            before.loc[cured & (reason != "cured"), "placement_id"]
        )
        wrong.setdefault("period end recalled under another reason", set()).update(
            before.loc[period & recalled_today & (reason != "period_end"), "placement_id"]
        )
        held = p[(p["start_date"] <= ts) & ~(p["recalled_on"] <= ts).to_numpy(na_value=False)]
        todays = items[(_day(items["as_of_date"]) == ts).to_numpy()]
        wrong.setdefault("in-house contact while with an agency", set()).update(
            todays.loc[todays["loan_id"].isin(set(held["loan_id"])).to_numpy(), "item_id"]
        )
    if outbox is not None:
        wrong["missing from the agency export"] = _placement_exports(p, days, Path(outbox))
    for problem, ids in wrong.items():
        _fail("placements", problem, ids)
    reasons = p["recall_reason"].dropna().astype(str).value_counts().sort_index()
    counts["recalled"] = {str(k): int(v) for k, v in reasons.items()}
    return counts


# --- 4. commissions -----------------------------------------------------------------------


def expected_commissions(
    placements: pd.DataFrame, repayments: pd.DataFrame, last: dt.date
) -> pd.DataFrame:
    """The commission ledger recomputed plainly: each agency repayment paid within a
    placement of that (loan, agency), from start to recall (open: ``last``) inclusive,
    earns amount x rate; each reversal of one, booked by ``last``, claws it back."""
    r = repayments.copy()
    r["paid_on"] = _day(r["paid_at"])
    r = r[r["paid_on"] <= pd.Timestamp(last)]
    is_rev = r["reversal_of"].notna() & (r["reversal_of"].astype("string").str.strip() != "")
    direct = r[~is_rev & (r["channel"] == "agency") & r["agency_id"].notna()]
    p = placements.assign(end=placements["recalled_on"].fillna(pd.Timestamp(last)))
    m = direct.merge(
        p[["placement_id", "loan_id", "agency_id", "start_date", "end", "commission_rate"]],
        on=["loan_id", "agency_id"],
    )
    m = m[(m["paid_on"] >= m["start_date"]) & (m["paid_on"] <= m["end"])]
    m = m.assign(kind="commission", reversal_of=None, amount=m["amount"].astype(float))
    rev = r[is_rev].merge(
        m[["repayment_id", "placement_id", "agency_id", "commission_rate"]].rename(
            columns={"repayment_id": "reversal_of", "agency_id": "agency"}
        ),
        on="reversal_of",
    )
    rev = rev.assign(kind="clawback", agency_id=rev["agency"], amount=-rev["amount"].astype(float))
    cols = ["repayment_id", "placement_id", "agency_id", "loan_id", "kind", "amount"]
    out = pd.concat([m[[*cols, "commission_rate"]], rev[[*cols, "commission_rate"]]])
    out["commission"] = np.round(out["amount"] * out["commission_rate"].astype(float), 2)
    return out.reset_index(drop=True)


def check_commissions(url: str, days: Iterable[dt.date]) -> dict[str, Any]:
    """``act_agency_commissions`` holds exactly one row per agency repayment collected
    within one of our placements (amount x the placement's rate) and one negative
    clawback row per reversal of such a repayment, whenever booked, up to the last run
    day; nothing else. Counts the rows and the net commission."""
    days = _days(days)
    r = RAW_TABLES["repayments"]
    cols = ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of", "channel", "agency_id")
    repayments = _read(url, sa.select(*(r.c[c] for c in cols)).where(r.c.paid_at < _end(days[-1])))
    p = _read(url, sa.select(agency_placements))
    for col in ("start_date", "recalled_on"):
        p[col] = _day(p[col])
    stored = _read(url, sa.select(agency_commissions))
    expected = expected_commissions(p, repayments, days[-1])
    got = stored.set_index("repayment_id")
    want = expected.set_index("repayment_id")
    _fail("commissions", "collection or reversal without its row", want.index.difference(got.index))
    _fail("commissions", "row without an attributable collection", got.index.difference(want.index))
    both = want.index.intersection(got.index)
    g, w = got.loc[both], want.loc[both]
    differs = (
        (g["placement_id"].astype(str) != w["placement_id"].astype(str))
        | (g["kind"].astype(str) != w["kind"].astype(str))
        | ~np.isclose(g["amount"].astype(float), w["amount"].astype(float), atol=0.005)
        | ~np.isclose(g["commission"].astype(float), w["commission"].astype(float), atol=0.011)
    )
    _fail(
        "commissions", "row differs from amount x rate of its placement", both[differs.to_numpy()]
    )
    kinds = stored["kind"].astype(str)
    return {
        "commission_rows": int((kinds == "commission").sum()),
        "clawback_rows": int((kinds == "clawback").sum()),
        "net_commission": round(float(stored["commission"].astype(float).sum()), 2),
    }


# --- 5. arms ------------------------------------------------------------------------------


def check_arms_stable(url: str, days: Iterable[dt.date]) -> dict[str, int]:
    """Each account has one experiment arm over every day it was planned, and its
    worklist items of a day carry that arm. Counts accounts, those planned on more than
    one day, and those that changed tier meanwhile (the case that could move an arm)."""
    days = _days(days)
    plans = _plans(url, days)
    arms = plans.groupby("loan_id")["strategy_arm"].nunique()
    _fail("arms stable", "account's arm changed between days", arms.index[arms > 1])
    items = _worklists(url, days)
    m = items.merge(plans, on=["as_of_date", "loan_id"], how="left", suffixes=("", "_plan"))
    _fail(
        "arms stable",
        "worklist item's arm differs from its plan's",
        m.loc[(m["strategy_arm"] != m["strategy_arm_plan"]).to_numpy(), "item_id"],
    )
    seen = plans.groupby("loan_id")["as_of_date"].nunique()
    tiers = plans.groupby("loan_id")["tier"].nunique()
    return {
        "accounts": len(arms),
        "accounts_on_several_days": int((seen > 1).sum()),
        "accounts_changing_tier": int((tiers > 1).sum()),
    }


# --- 6. ids -------------------------------------------------------------------------------


def _one_date_each(frame: pd.DataFrame, key: str) -> pd.Index:
    dates = frame.groupby(key)["as_of_date"].nunique()
    return dates.index[dates > 1]


def check_ids_unique(
    url: str,
    days: Iterable[dt.date],
    *,
    crm_applied: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, int]:
    """Worklist item ids and the CRM idempotency (batch) keys never repeat across days:
    an item id belongs to one as-of date (in the worklist, the ledger and the rejections),
    a batch key to one date and one batch. ``crm_applied``: what a CRM applied, as the
    stand-in records it (``{as_of: {item_id: {"count": n, ...}}}``): each item id once."""
    days = _days(days)
    items = _read(url, sa.select(worklist.c.as_of_date, worklist.c.item_id))
    _fail("ids unique", "worklist item id on several days", _one_date_each(items, "item_id"))
    led = crm_delivery_ledger
    ledger = _read(url, sa.select(led.c.as_of_date, led.c.item_id, led.c.batch_no, led.c.batch_key))
    _fail("ids unique", "ledger item id on several days", _one_date_each(ledger, "item_id"))
    _fail("ids unique", "idempotency key on several days", _one_date_each(ledger, "batch_key"))
    batches = ledger.groupby("batch_key")["batch_no"].nunique()
    _fail("ids unique", "idempotency key on several batches", batches.index[batches > 1])
    rej = _read(url, sa.select(crm_rejections.c.as_of_date, crm_rejections.c.item_id))
    both = pd.concat([ledger[["as_of_date", "item_id"]], rej], ignore_index=True).drop_duplicates()
    _fail("ids unique", "rejected item id on another day", _one_date_each(both, "item_id"))
    counts = {
        "items": int(items["item_id"].nunique()),
        "batch_keys": int(ledger["batch_key"].nunique()),
        "days_with_items": int(items["as_of_date"].nunique()),
    }
    if crm_applied is not None:
        rows = [
            (d, i, int(v.get("count", 1))) for d, got in crm_applied.items() for i, v in got.items()
        ]
        applied = pd.DataFrame(rows, columns=["as_of_date", "item_id", "count"])
        _fail(
            "ids unique",
            "CRM applied an item id on several days",
            _one_date_each(applied, "item_id"),
        )
        _fail(
            "ids unique", "CRM applied an item twice", applied.loc[applied["count"] > 1, "item_id"]
        )
        counts["crm_items"] = len(applied)
    return counts


# --- 7. KPIs ------------------------------------------------------------------------------

# The marts keyed by as-of date: one day's KPIs (and the star's day facts they come from).
KPI_TABLES: dict[str, sa.Table] = {
    t.name: t
    for t in (
        marts.kpi,
        marts.plan_tracking,
        marts.agency_scorecard,
        marts.collector_scorecard,
        marts.experiment_uplift,
        marts.roi,
        marts.npl_trend,
        marts.fact_account_day,
    )
}


def _key_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _normalised(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    keys = _key_columns(table)
    out = frame.copy()
    for col in keys:
        out[col] = out[col].astype(str)
    return out.sort_values(keys, kind="stable").set_index(keys)


def kpi_snapshot(url: str, day: dt.date) -> dict[str, pd.DataFrame]:
    """Every KPI row stored for ``day`` (table name -> frame); take it after the day's
    windows closed, and pass {day: snapshot} to ``check_kpis_frozen`` later."""
    day = pd.Timestamp(day).date()
    return {
        name: _read(url, sa.select(t).where(t.c.as_of_date == day))
        for name, t in KPI_TABLES.items()
    }


def _changed(before: pd.DataFrame, after: pd.DataFrame, table: sa.Table) -> list[str]:
    """Keys of rows added, removed or changed between two snapshots of one day."""
    b, a = _normalised(before, table), _normalised(after, table)
    keys = b.index.symmetric_difference(a.index)
    out = ["/".join(map(str, k if isinstance(k, tuple) else (k,))) for k in keys]
    common = b.index.intersection(a.index)
    for col in b.columns:
        x, y = b.loc[common, col], a.loc[common, col]
        try:
            same = np.isclose(
                pd.to_numeric(x).astype(float), pd.to_numeric(y).astype(float), equal_nan=True
            )
        except (TypeError, ValueError):
            same = (
                x.astype("string").fillna("<NA>") == y.astype("string").fillna("<NA>")
            ).to_numpy()
        out += [
            "/".join(map(str, k if isinstance(k, tuple) else (k,))) + f":{col}"
            for k in common[~np.asarray(same, dtype=bool)]
        ]
    return out


def check_kpis_frozen(
    url: str, snapshots: Mapping[dt.date, Mapping[str, pd.DataFrame]]
) -> dict[str, int]:
    """The KPI rows of each snapshotted day are still exactly what they were: neither a
    later day's run nor a rerun of the day itself changed, added or removed a row.
    Names the table and the row keys (dates, KPI names, tiers, ids) that moved."""
    counts = {"days": len(snapshots), "rows": 0}
    for day, before in sorted(snapshots.items()):
        now = kpi_snapshot(url, day)
        for name, frame in before.items():
            counts["rows"] += len(frame)
            moved = _changed(frame, now[name], KPI_TABLES[name])
            _fail("KPIs frozen", f"{name} rows of {day} changed", moved)
    return counts


def check_all(
    url: str,
    days: Iterable[dt.date],
    snapshots: Mapping[dt.date, Mapping[str, pd.DataFrame]] | None = None,
    *,
    outbox: str | Path | None = None,
    crm_applied: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every check; their counts by name. Raises on the first invariant that fails."""
    days = _days(days)
    out: dict[str, dict[str, Any]] = {
        "contacts_counted": check_contacts_counted(url, days),
        "promises_block": check_promises_block(url, days),
        "placements": check_placements(url, days, outbox=outbox),
        "commissions": check_commissions(url, days),
        "arms_stable": check_arms_stable(url, days),
        "ids_unique": check_ids_unique(url, days, crm_applied=crm_applied),
    }
    if snapshots:
        out["kpis_frozen"] = check_kpis_frozen(url, snapshots)
    return out
