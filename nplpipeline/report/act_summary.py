"""The act stage in the run summary: what the collections day decided, in counts only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection


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
    crm_rows: int = 0
    crm_acknowledged: int = 0
    crm_batches: int = 0


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
    as_of = conn.execute(sa.select(sa.func.max(tp.c.as_of_date))).scalar()
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
    out.commissions = float(conn.execute(sa.select(sa.func.sum(com.c.commission))).scalar() or 0)
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
    lines.append(
        f"  CRM: {a.crm_acknowledged:,} of {a.crm_rows:,} worklist rows acknowledged "
        f"in {a.crm_batches:,} batches (act_crm_delivery_ledger)"
    )
    return lines
