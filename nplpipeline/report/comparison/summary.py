"""The policy comparison in the run summary: both worlds side by side, aggregates only."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.report.comparison.measure import INCREMENTAL, PIPELINE, PORTFOLIO, STATUS_QUO
from nplpipeline.report.comparison.tables import policy_comparison
from nplpipeline.warehouse.frames import read_frame


@dataclass
class ComparisonSummary:
    as_of: dt.date | None = None
    start: dt.date | None = None
    days: int = 0
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    def row(self, segment: str, policy: str) -> dict[str, float] | None:
        hit = self.rows[(self.rows["segment"] == segment) & (self.rows["policy"] == policy)]
        return None if hit.empty else hit.iloc[0].to_dict()


def collect_comparison(conn: Connection) -> ComparisonSummary:
    """The latest ``mart_policy_comparison`` date, or an empty summary without one."""
    c = policy_comparison.c
    latest = read_frame(conn, sa.select(sa.func.max(c.as_of_date).label("d")))
    if latest.empty or pd.isna(latest.iloc[0, 0]):
        return ComparisonSummary()
    as_of = pd.Timestamp(latest.iloc[0, 0]).date()
    rows = read_frame(conn, sa.select(policy_comparison).where(c.as_of_date == as_of))
    first = rows.iloc[0]
    start = pd.Timestamp(first["start_date"]).date()
    return ComparisonSummary(as_of=as_of, start=start, days=int(first["days"]), rows=rows)


def _pct(value: object) -> str:
    return "-" if value is None or not math.isfinite(float(value)) else f"{float(value):.1%}"  # type: ignore[arg-type]


def _pp(value: object) -> str:
    if value is None or not math.isfinite(float(value)):  # type: ignore[arg-type]
        return "-"
    return f"{float(value) * 100:+.1f} pp"  # type: ignore[arg-type]


def _num(value: object, spec: str = ",.0f") -> str:
    if value is None or not math.isfinite(float(value)):  # type: ignore[arg-type]
        return "-"
    return format(float(value), spec)  # type: ignore[arg-type]


def _recovery_lines(s: ComparisonSummary) -> list[str]:
    lines = [
        f"  {'segment':<18}{'accounts':>9}{'target':>8}{'pipeline':>10}{'status quo':>12}"
        f"{'incremental':>13}  95% CI"
    ]
    segments = [x for x in dict.fromkeys(s.rows["segment"]) if x != PORTFOLIO]
    for segment in segments:
        p, q, inc = (s.row(segment, x) or {} for x in (PIPELINE, STATUS_QUO, INCREMENTAL))
        ci = f"[{_pp(inc.get('ci_low'))}, {_pp(inc.get('ci_high'))}]"
        lines.append(
            f"  {segment:<18}{_num(p.get('accounts'), ',.0f'):>9}"
            f"{_pct(p.get('target_recovery_rate')):>8}{_pct(p.get('recovery_rate')):>10}"
            f"{_pct(q.get('recovery_rate')):>12}{_pp(inc.get('recovery_rate')):>13}  {ci}"
        )
    return lines


def _operations_lines(s: ComparisonSummary) -> list[str]:
    p, q, inc = (s.row(PORTFOLIO, x) or {} for x in (PIPELINE, STATUS_QUO, INCREMENTAL))
    lines = [f"  {'whole portfolio':<26}{'pipeline':>14}{'status quo':>14}{'difference':>14}"]
    for key, label, spec in (
        ("repaid", "repaid", ",.0f"),
        ("contacts", "contacts performed", ",.0f"),
        ("placements", "agency placements", ",.0f"),
        ("recalls", "agency recalls", ",.0f"),
        ("commissions", "commissions paid", ",.0f"),
        ("net_recovered", "repaid - commissions", ",.0f"),
        ("complaints", "complaints", ",.0f"),
        ("satisfaction", "satisfaction (1-5)", ".2f"),
    ):
        lines.append(
            f"  {label:<26}{_num(p.get(key), spec):>14}{_num(q.get(key), spec):>14}"
            f"{_num(inc.get(key), '+' + spec):>14}"
        )
    payback = inc.get("payback_months")
    paid_back = payback is not None and math.isfinite(float(payback))
    when = f"{float(payback):.1f} months" if paid_back else "never (no positive net benefit)"
    lines.append(
        f"  plan's investment scaled to the portfolio {_num(inc.get('investment'))}; net "
        f"benefit per month {_num(inc.get('monthly_net_benefit'), '+,.0f')}; payback {when} "
        f"(target {_num(inc.get('target_payback_months'), '.0f')} months); ROI over the "
        f"target {_pct(inc.get('roi'))}"
    )
    return lines


def format_comparison(s: ComparisonSummary) -> list[str]:
    if s.as_of is None or s.rows.empty:
        return []
    lines = [
        "",
        f"Pipeline vs status quo on the lender twin, {s.start} to {s.as_of} ({s.days} days;",
        "  mart_policy_comparison): same seed and portfolio, the cohort in collections on",
        "  the start date with the pipeline's tiers; recovery = repaid since then, capped",
        "  at the overdue balance then (the targets are for a 90-day window);",
        "  incremental = pipeline - status quo, paired bootstrap over accounts:",
    ]
    lines += _recovery_lines(s)
    lines += _operations_lines(s)
    return lines
