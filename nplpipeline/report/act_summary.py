"""The act stage in the run summary: what the collections day decided, in counts only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class AgencyWork:
    """What agencies collected since the pipeline's first placement: on every placement
    (the lender's earlier ones too) and on the pipeline's own, with the account-days its
    own placements were held (agencies work from the day after placement), so a zero on
    the pipeline's own placements reads as small numbers rather than as a fault."""

    since: dt.date
    collected_all: float  # net of reversals booked by the as-of date
    payments_all: int
    collected_own: float
    payments_own: int
    placements_own: int
    account_days_own: int


@dataclass
class ActSummary:
    as_of: dt.date | None = None
    # (tier, channel) -> worklist items
    items: dict[tuple[str, str], int] = field(default_factory=dict)
    dispositions: dict[str, int] = field(default_factory=dict)
    arms: dict[tuple[str, str], int] = field(default_factory=dict)
    suppressions: dict[str, int] = field(default_factory=dict)
    # agency -> (placed on the day, active, recalled up to the day)
    agencies: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    commissions: float = 0.0
    agency_work: AgencyWork | None = None
    crm_rows: int = 0
    crm_acknowledged: int = 0
    crm_batches: int = 0


def _value(conn: Connection, query: sa.Select):
    """One value, its result fetched to the end (DuckDB refuses new work beside an
    unfinished result, which ``.scalar()`` leaves)."""
    return conn.execute(query).one()[0]


def _counts(conn: Connection, *columns: sa.ColumnElement, where: sa.ColumnElement) -> dict:
    rows = conn.execute(sa.select(*columns, sa.func.count()).where(where).group_by(*columns))
    if len(columns) == 1:
        return {r[0]: int(r[1]) for r in rows}
    return {tuple(r[:-1]): int(r[-1]) for r in rows}


def collect_act(conn: Connection) -> ActSummary:
    from nplpipeline.act.delivery.tables import delivery_ledger as led
    from nplpipeline.act.placement.tables import agency_commissions as com
    from nplpipeline.act.placement.tables import agency_placements as pl
    from nplpipeline.act.tables import suppression_log as s
    from nplpipeline.act.tables import treatment_plan as tp
    from nplpipeline.act.tables import worklist as w

    out = ActSummary()
    as_of = _value(conn, sa.select(sa.func.max(tp.c.as_of_date)))
    if as_of is None:
        return out
    out.as_of = as_of
    out.items = _counts(conn, w.c.tier, w.c.channel, where=w.c.as_of_date == as_of)
    out.dispositions = _counts(conn, tp.c.disposition, where=tp.c.as_of_date == as_of)
    out.arms = _counts(conn, tp.c.tier, tp.c.strategy_arm, where=tp.c.as_of_date == as_of)
    out.suppressions = _counts(conn, s.c.reason, where=s.c.as_of_date == as_of)
    placed = _counts(conn, pl.c.agency_id, where=pl.c.start_date == as_of)
    recalled = _counts(conn, pl.c.agency_id, where=pl.c.recalled_on <= as_of)
    active = _counts(
        conn,
        pl.c.agency_id,
        where=sa.and_(
            pl.c.start_date <= as_of, sa.or_(pl.c.recalled_on.is_(None), pl.c.recalled_on > as_of)
        ),
    )
    for agency in sorted(set(placed) | set(active) | set(recalled)):
        out.agencies[agency] = (
            placed.get(agency, 0),
            active.get(agency, 0),
            recalled.get(agency, 0),
        )
    out.commissions = float(_value(conn, sa.select(sa.func.sum(com.c.commission))) or 0)
    out.agency_work = collect_agency_work(conn, as_of)
    on_day = led.c.as_of_date == as_of
    out.crm_rows = int(conn.execute(sa.select(sa.func.count()).where(on_day)).scalar() or 0)
    out.crm_acknowledged = int(
        conn.execute(
            sa.select(sa.func.count()).where(on_day, led.c.acknowledged_at.is_not(None))
        ).scalar()
        or 0
    )
    out.crm_batches = int(
        conn.execute(sa.select(sa.func.count(sa.distinct(led.c.batch_key))).where(on_day)).scalar()
        or 0
    )
    return out


def collect_agency_work(conn: Connection, as_of: dt.date) -> AgencyWork | None:
    """Agency collections (raw repayments, channel agency) since the first own placement,
    against those attributed to the pipeline's own placements (act_agency_commissions)."""
    from nplpipeline.act.placement.history import agency_collections
    from nplpipeline.act.placement.tables import agency_commissions as com
    from nplpipeline.act.placement.tables import agency_placements as pl
    from nplpipeline.staging.repayments import stg_repayments
    from nplpipeline.warehouse.frames import read_frame

    since = _value(conn, sa.select(sa.func.min(pl.c.start_date)))
    if since is None:
        return None
    columns = ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of", "channel")
    got = agency_collections(stg_repayments(conn, as_of, (*columns, "agency_id"), since=since))
    got = got[got["paid_on"] >= pd.Timestamp(since)]
    own = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(com.c.amount), 0),
            sa.func.count().filter(com.c.kind == "commission"),
        ).where(com.c.paid_on <= as_of)
    ).one()
    held = read_frame(
        conn, sa.select(pl.c.start_date, pl.c.recalled_on).where(pl.c.start_date <= as_of)
    )
    end = pd.to_datetime(held["recalled_on"]).fillna(pd.Timestamp(as_of))
    days = (end.clip(upper=pd.Timestamp(as_of)) - pd.to_datetime(held["start_date"])).dt.days
    return AgencyWork(
        since=since,
        collected_all=round(float(got["amount"].sum()), 2),
        payments_all=int(got["reversal_of"].isna().sum()),
        collected_own=round(float(own[0]), 2),
        payments_own=int(own[1]),
        placements_own=len(held),
        account_days_own=int(days.clip(lower=0).sum()),
    )


def _format_agency_work(w: AgencyWork) -> list[str]:
    return [
        f"    agencies collected since the pipeline's first placement ({w.since}), net of"
        " reversals:",
        f"      on all placements (the lender's earlier ones too): {w.collected_all:,.2f}"
        f" in {w.payments_all:,} payments",
        f"      on the pipeline's own {w.placements_own:,} placements: {w.collected_own:,.2f}"
        f" in {w.payments_own:,} payments, over {w.account_days_own:,} account-days placed",
        "      (the pipeline places deep arrears, whose cure hazard is low: a few live days"
        " may show",
        "      no collection on its own placements; long runs do)",
    ]


def format_act(a: ActSummary) -> list[str]:
    if a.as_of is None:
        return []
    lines = ["", f"Collections on {a.as_of} (act_treatment_plan, act_worklist):"]
    tiers = sorted({t for t, _ in a.arms})
    channels = sorted({c for _, c in a.items})
    lines.append(
        f"  {'tier':<18}{'control':>9}{'challenger':>11}{'champion':>10}"
        + "".join(f"{c:>10}" for c in channels)
    )
    for tier in tiers:
        arms = "".join(
            f"{a.arms.get((tier, arm), 0):>{w},}"
            for arm, w in (("control", 9), ("challenger", 11), ("champion", 10))
        )
        lines.append(
            f"  {tier:<18}{arms}" + "".join(f"{a.items.get((tier, c), 0):>10,}" for c in channels)
        )
    lines.append("  (accounts per experiment arm; worklist items per channel)")
    lines.append("  outcome: " + ", ".join(f"{k} {v:,}" for k, v in sorted(a.dispositions.items())))
    if a.suppressions:
        lines.append("  held back by the guardrails (act_suppression_log):")
        for reason, n in sorted(a.suppressions.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {n:>7,}  {reason}")
    if a.agencies:
        lines.append("  agencies (act_agency_placements):")
        lines.append(f"    {'agency':<12}{'placed today':>14}{'active':>9}{'recalled to date':>18}")
        for agency, (placed, active, recalled) in a.agencies.items():
            lines.append(f"    {agency:<12}{placed:>14,}{active:>9,}{recalled:>18,}")
        lines.append(
            "    commissions on what agencies collected on the pipeline's placements, to date "
            f"(act_agency_commissions): {a.commissions:,.2f}"
        )
        if a.agency_work is not None:
            lines.extend(_format_agency_work(a.agency_work))
    lines.append(
        f"  CRM: {a.crm_acknowledged:,} of {a.crm_rows:,} worklist rows acknowledged "
        f"in {a.crm_batches:,} batches (act_crm_delivery_ledger)"
    )
    return lines
