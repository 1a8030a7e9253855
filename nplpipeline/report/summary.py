"""The run summary a data engineer reads after ``make demo``: counts only, never PII."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.report.act_summary import ActSummary, collect_act, format_act
from nplpipeline.report.comparison.summary import (
    ComparisonSummary,
    collect_comparison,
    format_comparison,
)
from nplpipeline.report.nba.summary import collect_nba, format_nba
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import Settings, get_settings
from nplpipeline.validate.results import latest_runs
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.tables import dq_results, load_audit, quarantine


@dataclass
class BucketLine:
    bucket: str
    accounts: int
    outstanding: float


@dataclass
class RunSummary:
    locations: dict[str, str]
    loads: dict[str, dict[str, int]] = field(default_factory=dict)
    top_rules: list[tuple[str, str, int]] = field(default_factory=list)
    as_of: dt.date | None = None
    buckets: list[BucketLine] = field(default_factory=list)
    npl_ratio: float | None = None
    on_book_outstanding: float = 0.0
    # entity -> rules whose expectation failed in its latest checkpoint run, by severity
    dq_failed: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    data_docs: str | None = None
    # the registered recovery model: alias -> (version, model type, OOT metrics)
    models: dict[str, tuple[str, str, dict[str, float]]] = field(default_factory=dict)
    # latest model monitoring: status -> subjects
    monitoring: dict[str, list[str]] = field(default_factory=dict)
    monitoring_date: dt.date | None = None
    # tier -> (accounts, overdue amount, mean recovery probability) on the latest scoring
    tiers: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    act: ActSummary = field(default_factory=ActSummary)
    # tier -> (actual recovery rate, target, accounts) of the latest finished cohort
    plan: dict[str, tuple[float | None, float | None, int]] = field(default_factory=dict)
    plan_date: dt.date | None = None
    comparison: ComparisonSummary = field(default_factory=ComparisonSummary)
    nba: pd.DataFrame = field(default_factory=pd.DataFrame)  # mart_nba_comparison, latest


def _loads(conn: Connection) -> dict[str, dict[str, int]]:
    a = load_audit.c
    query = (
        sa.select(
            a.entity,
            sa.func.count().label("files"),
            sa.func.sum(a.rows_in).label("rows_in"),
            sa.func.sum(a.rows_loaded).label("rows_loaded"),
            sa.func.sum(a.rows_quarantined).label("rows_quarantined"),
        )
        .group_by(a.entity)
        .order_by(a.entity)
    )
    return {
        row.entity: {k: int(v) for k, v in row._mapping.items() if k != "entity"}
        for row in conn.execute(query)
    }


def _top_rules(conn: Connection, limit: int = 10) -> list[tuple[str, str, int]]:
    q = quarantine.c
    query = (
        sa.select(q.entity, q.rules, sa.func.count().label("n"))
        .group_by(q.entity, q.rules)
        .order_by(sa.desc("n"), q.entity, q.rules)
        .limit(limit)
    )
    return [(r.entity, r.rules, int(r.n)) for r in conn.execute(query)]


def _data_quality(conn: Connection) -> dict[str, dict[str, list[str]]]:
    d = dq_results.c
    latest = latest_runs()
    query = (
        sa.select(d.entity, d.severity, d.rule)
        .join(latest, sa.and_(latest.c.entity == d.entity, latest.c.run_id == d.run_id))
        .where(~d.success)
        .order_by(d.entity, d.severity, d.rule)
    )
    out: dict[str, dict[str, list[str]]] = {}
    for row in conn.execute(query):
        out.setdefault(row.entity, {}).setdefault(row.severity, []).append(row.rule)
    return out


def _tiers(conn: Connection, summary: RunSummary) -> None:
    from nplpipeline.score.tables import account_scores as a

    latest = conn.execute(sa.select(sa.func.max(a.c.as_of_date))).scalar()
    if latest is None:
        return
    rows = conn.execute(
        sa.select(
            a.c.tier,
            sa.func.count(),
            sa.func.sum(a.c.overdue_amount),
            sa.func.avg(a.c.recovery_probability),
        )
        .where(a.c.as_of_date == latest)
        .group_by(a.c.tier)
        .order_by(a.c.tier)
    )
    summary.tiers = {r[0]: (int(r[1]), float(r[2] or 0), float(r[3] or 0)) for r in rows}


def _plan(conn: Connection, summary: RunSummary) -> None:
    from nplpipeline.report.marts.tables import plan_tracking as p

    latest = conn.execute(sa.select(sa.func.max(p.c.as_of_date))).scalar()
    if latest is None:
        return
    summary.plan_date = latest
    rows = conn.execute(
        sa.select(p.c.tier, p.c.actual_recovery_rate, p.c.target_recovery_rate, p.c.accounts)
        .where(p.c.as_of_date == latest)
        .order_by(p.c.tier)
    )
    summary.plan = {r[0]: (r[1], r[2], int(r[3] or 0)) for r in rows}


def _monitoring(conn: Connection, summary: RunSummary) -> None:
    from nplpipeline.model.tables import model_monitoring as m

    latest = conn.execute(sa.select(sa.func.max(m.c.as_of_date))).scalar()
    if latest is None:
        return
    summary.monitoring_date = latest
    rows = conn.execute(
        sa.select(m.c.status, m.c.subject, m.c.metric, m.c.value)
        .where(m.c.as_of_date == latest)
        .order_by(m.c.status, m.c.subject)
    )
    for r in rows:
        label = f"{r.subject} {r.metric} {r.value:.3f}" if r.value is not None else r.subject
        summary.monitoring.setdefault(r.status, []).append(label)


def _delinquency(conn: Connection, summary: RunSummary, bucket_order: list[str]) -> None:
    s = delinquency_snapshot.c
    as_of = conn.execute(sa.select(sa.func.max(s.as_of_date))).scalar()
    if as_of is None:
        return
    summary.as_of = as_of
    on_book = sa.and_(s.as_of_date == as_of, s.on_book)
    rows = conn.execute(
        sa.select(
            s.bucket,
            sa.func.count().label("accounts"),
            sa.func.sum(s.outstanding_principal).label("outstanding"),
        )
        .where(on_book)
        .group_by(s.bucket)
    ).all()
    by_bucket = {r.bucket: r for r in rows}
    summary.buckets = [
        BucketLine(b, int(by_bucket[b].accounts), float(by_bucket[b].outstanding or 0))
        for b in bucket_order
        if b in by_bucket
    ]
    total = sum(line.outstanding for line in summary.buckets)
    npl = conn.execute(
        sa.select(sa.func.sum(s.outstanding_principal)).where(on_book, s.is_npl)
    ).scalar()
    summary.on_book_outstanding = total
    summary.npl_ratio = float(npl or 0) / total if total else None


def collect_summary(settings: Settings | None = None) -> RunSummary:
    settings = settings or get_settings()
    summary = RunSummary(locations=settings.describe())
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        summary.loads = _loads(conn)
        summary.top_rules = _top_rules(conn)
        summary.dq_failed = _data_quality(conn)
        _monitoring(conn, summary)
        _tiers(conn, summary)
        summary.act = collect_act(conn)
        _plan(conn, summary)
        summary.comparison = collect_comparison(conn)
        summary.nba = collect_nba(conn)
        _delinquency(conn, summary, settings.policy.delinquency.bucket_names)
    from nplpipeline.validate.gx_runner import data_docs_index

    index = data_docs_index(settings.gx_dir)
    summary.data_docs = str(index) if index else None
    summary.models = _registered_models(settings.mlflow_tracking_uri)
    return summary


def _registered_models(tracking_uri: str) -> dict[str, tuple[str, str, dict[str, float]]]:
    """Champion and challenger with their out-of-time metrics, if a model was trained."""
    from mlflow.exceptions import MlflowException

    from nplpipeline.model.config import load_model_config
    from nplpipeline.model.registry import CHALLENGER, CHAMPION, alias_version, client

    c = client(tracking_uri)
    name = load_model_config().registered_model_name
    out: dict[str, tuple[str, str, dict[str, float]]] = {}
    for alias in (CHAMPION, CHALLENGER):
        try:
            version = alias_version(c, name, alias)
        except MlflowException:
            return out
        if version is None:
            continue
        run = c.get_run(version.run_id)
        kind = version.tags.get("model_type", "?")
        prefix = f"{kind}.oot."
        metrics = {
            k.removeprefix(prefix): v for k, v in run.data.metrics.items() if k.startswith(prefix)
        }
        out[alias] = (str(version.version), kind, metrics)
    return out


def format_summary(summary: RunSummary) -> str:
    lines = ["", "nplpipeline run summary", "=" * 23, ""]
    lines.append("Loaded (rows in = loaded + quarantined):")
    lines.append(f"  {'entity':<20}{'files':>7}{'rows in':>12}{'loaded':>12}{'quarantined':>13}")
    for entity, c in summary.loads.items():
        lines.append(
            f"  {entity:<20}{c['files']:>7}{c['rows_in']:>12,}{c['rows_loaded']:>12,}"
            f"{c['rows_quarantined']:>13,}"
        )
    if summary.top_rules:
        lines.append("")
        lines.append("Most frequent quarantine reasons:")
        for entity, rules, n in summary.top_rules:
            lines.append(f"  {n:>7,}  {entity:<20}{rules}")
    if summary.dq_failed or summary.data_docs:
        lines.append("")
        lines.append("Great Expectations (latest checkpoint per entity; failed expectations):")
        for entity, by_severity in summary.dq_failed.items():
            for severity, rules in sorted(by_severity.items()):
                lines.append(f"  {entity:<20}{severity:<10}{', '.join(rules)}")
        if summary.data_docs:
            lines.append(f"  Data Docs: {summary.data_docs}")
    if summary.models:
        lines.append("")
        lines.append("Recovery model (MLflow registry, out-of-time test set):")
        for alias, (version, kind, m) in summary.models.items():
            figures = ", ".join(
                f"{k.upper()} {m[k]:.3f}" for k in ("auc", "gini", "ks", "brier", "ece") if k in m
            )
            lines.append(f"  {alias:<11}v{version} {kind:<10}{figures}")
    if summary.tiers:
        lines.append("")
        lines.append("Tiers (int_account_scores, latest scoring):")
        lines.append(f"  {'tier':<18}{'accounts':>10}{'overdue':>18}{'mean P(recovery)':>18}")
        for tier, (n, overdue, p) in summary.tiers.items():
            lines.append(f"  {tier:<18}{n:>10,}{overdue:>18,.2f}{p:>18.2f}")
    lines.extend(format_act(summary.act))
    if summary.plan:
        lines.append("")
        lines.append(f"Recovery against the plan on {summary.plan_date} (mart_plan_tracking;")
        lines.append("  the latest scored cohort whose 90-day window has closed):")
        lines.append(f"  {'tier':<18}{'accounts':>10}{'recovery':>10}{'target':>9}")
        for tier, (actual, target, n) in summary.plan.items():
            a = "-" if actual is None or actual != actual else f"{actual:.1%}"
            t = "-" if target is None or target != target else f"{target:.0%}"
            lines.append(f"  {tier:<18}{n:>10,}{a:>10}{t:>9}")
    lines.extend(format_comparison(summary.comparison))
    lines.extend(format_nba(summary.nba))
    if summary.monitoring:
        lines.append("")
        lines.append(f"Model monitoring on {summary.monitoring_date} (ops_model_monitoring):")
        for status in ("alert", "watch"):
            if summary.monitoring.get(status):
                lines.append(f"  {status:<7}{'; '.join(summary.monitoring[status])}")
        ok = summary.monitoring.get("ok", [])
        lines.append(f"  ok     {len(ok)} subject(s)")
    if summary.as_of:
        lines.append("")
        lines.append(f"Delinquency on {summary.as_of} (loans on book):")
        lines.append(f"  {'bucket':<10}{'accounts':>10}{'outstanding':>18}{'share':>8}")
        total = summary.on_book_outstanding or 1.0
        for b in summary.buckets:
            lines.append(
                f"  {b.bucket:<10}{b.accounts:>10,}{b.outstanding:>18,.2f}"
                f"{b.outstanding / total:>8.1%}"
            )
        if summary.npl_ratio is not None:
            lines.append(
                f"  NPL ratio (balance > 90 DPD / on-book balance): {summary.npl_ratio:.2%}"
            )
    lines.append("")
    lines.append("Where things are:")
    for name, where in summary.locations.items():
        lines.append(f"  {name:<10}{where}")
    lines.append("")
    lines.append("Next: `make airflow` for the Airflow UI (DAGs npl_*), `make mlflow` for MLflow,")
    lines.append("      or query the warehouse: raw_*, ops_* (audit, quarantine, dq results,")
    lines.append("      monitoring), int_* (delinquency snapshot, features, account scores) and")
    lines.append("      act_* (plans, worklists, suppressions, placements, CRM ledger); files for")
    lines.append("      the CRM and each agency are in the outbox.")
    return "\n".join(lines)
