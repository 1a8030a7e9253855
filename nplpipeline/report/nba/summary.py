"""The nba comparison in the run summary: the overall differences with their intervals."""

from __future__ import annotations

import math

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.act.tables import treatment_plan
from nplpipeline.report.nba.measure import DIFFERENCE, OVERALL
from nplpipeline.report.nba.tables import nba_comparison
from nplpipeline.warehouse.frames import read_frame

BASELINES = {"static": "the static tier policy's arm", "status_quo": "the status quo (twin)"}


NOT_YET = (
    "  (no learned policy has decided yet -- its first training needs closed horizons and"
    " an out-of-time split -- so the nba arm followed the static strategies: an A/A check)"
)


def collect_nba(conn: Connection) -> pd.DataFrame:
    """The latest date's ``mart_nba_comparison`` rows (empty without any), with
    ``policy_decided``: whether a learned policy chose any plan by then."""
    c, p = nba_comparison.c, treatment_plan.c
    latest = sa.select(sa.func.max(c.as_of_date)).scalar_subquery()
    rows = read_frame(conn, sa.select(nba_comparison).where(c.as_of_date == latest))
    if rows.empty:
        return rows
    decided = sa.select(sa.func.count()).where(
        p.nba_policy_version.is_not(None), p.as_of_date <= rows["as_of_date"].iloc[0].date()
    )
    return rows.assign(policy_decided=conn.execute(decided).scalar_one() > 0)


def _value(value: object, ci: tuple[object, object], spec: str) -> str:
    def one(v: object) -> str:
        finite = v is not None and not pd.isna(v) and math.isfinite(float(v))  # type: ignore[arg-type]
        return format(float(v), spec) if finite else "-"  # type: ignore[arg-type]

    return f"{one(value)} [{one(ci[0])}, {one(ci[1])}]"


def format_nba(rows: pd.DataFrame) -> list[str]:
    """Lines for the summary: per baseline, the nba arm's overall difference."""
    if rows.empty:
        return []
    first = rows.iloc[0]
    lines = [
        "",
        f"Learned policy (nba arm) on {pd.Timestamp(first['as_of_date']).date()} "
        "(mart_nba_comparison): per account over the window, nba minus baseline, 95% CI:",
    ]
    for baseline, label in BASELINES.items():
        hit = rows[(rows["baseline"] == baseline) & (rows["segment"] == OVERALL)]
        hit = hit[hit["policy"] == DIFFERENCE]
        if hit.empty:
            continue
        d = hit.iloc[0]
        start = pd.Timestamp(d["start_date"]).date()
        cells = [
            f"{name} {_value(d[col], (d[f'{ci}_low'], d[f'{ci}_high']), spec)}"
            for name, col, ci, spec in (
                ("net recovery", "net_recovery", "net_recovery_ci", "+,.2f"),
                ("contacts", "contacts", "contacts_ci", "+.3f"),
                ("complaints per 1,000", "complaints_per_1000", "complaints_ci", "+.2f"),
            )
        ]
        lines.append(
            f"  vs {label}, since {start} ({int(d['accounts'])} vs "
            f"{int(d['baseline_accounts'])} accounts): " + "; ".join(cells)
        )
    if not bool(first.get("policy_decided", True)):
        lines.append(NOT_YET)
    return lines
