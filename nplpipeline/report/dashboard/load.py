"""Reading the KPI tables into a :class:`Dashboard`, read-only and aggregated.

The dashboard runs inside Airflow's API server while DAG tasks write the warehouse, so:

* DuckDB is opened **read-only** (several API-server workers can read at once, and a
  missing file is reported as "no data" instead of being created); a writer holding the
  file makes the read wait briefly, then :class:`WarehouseUnavailableError` (a 503 page, not
  a hung request);
* only aggregates are selected -- the suppression log is counted in SQL, so its loan
  and customer ids never leave the warehouse.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

import nplpipeline.report.marts.tables as marts
from nplpipeline.act.tables import compliance_report, suppression_log
from nplpipeline.model.tables import model_monitoring
from nplpipeline.report.comparison.tables import policy_comparison
from nplpipeline.report.dashboard.model import (
    DRIFT_SEVERITY,
    AgencyRank,
    Compliance,
    ComplianceRule,
    Count,
    Dashboard,
    DriftCheck,
    Economics,
    NbaComparison,
    NbaLine,
    NplPoint,
    Period,
    PolicyComparison,
    PolicyLine,
    RollRate,
    Suppressions,
    TierRecovery,
    month_ends,
)
from nplpipeline.report.nba.tables import nba_comparison
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import create_warehouse_engine
from nplpipeline.warehouse.frames import read_frame

log = logging.getLogger(__name__)

OVERALL = "overall"
CLOSED = "closed"
TREND_DAYS = 396  # thirteen months of NPL ratio points: this month against a year ago
_LOCK_RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)
# Marts partitioned by day; the newest date among them is "the latest as-of".
_DAILY_MARTS = (marts.plan_tracking, marts.npl_trend, marts.agency_scorecard, marts.kpi)


class WarehouseUnavailableError(RuntimeError):
    """The warehouse could not be read right now (unreachable, or a writer holds DuckDB)."""


# --- connecting ------------------------------------------------------------------------


def _is_duckdb(url: str) -> bool:
    return make_url(url).get_backend_name() == "duckdb"


@lru_cache(maxsize=4)
def _engine(url: str, read_only: bool) -> Engine:
    if _is_duckdb(url) and read_only:
        return sa.create_engine(url, poolclass=NullPool, connect_args={"read_only": True})
    return create_warehouse_engine(url)


def _duckdb_file_missing(url: str) -> bool:
    database = make_url(url).database
    return bool(database) and database != ":memory:" and not Path(database).exists()


def _connect(url: str) -> Connection:
    for delay in (*_LOCK_RETRY_SECONDS, None):
        try:
            return _engine(url, True).connect()
        except sa.exc.DBAPIError as exc:
            text = str(exc).lower()
            if "different configuration" in text:
                # this process already holds the file read-write (a task that just wrote
                # the marts): DuckDB then only lets it share that same instance
                return _engine(url, False).connect()
            if delay is not None and ("lock" in text):
                time.sleep(delay)
                continue
            raise WarehouseUnavailableError(type(exc.orig or exc).__name__) from exc
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def warehouse_connection(url: str) -> Iterator[Connection | None]:
    """A connection to read from (DuckDB: read-only), or ``None`` when its file is missing."""
    if _is_duckdb(url) and _duckdb_file_missing(url):
        yield None
        return
    conn = _connect(url)
    try:
        yield conn
    finally:
        conn.close()


# --- small helpers ---------------------------------------------------------------------


def _num(value: object) -> float | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    number = _num(value)
    return None if number is None else round(number)


def _str(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _day(value: object) -> dt.date | None:
    if value is None or pd.isna(value):  # type: ignore[arg-type]
        return None
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


_CATALOG = sa.table(
    "tables",
    sa.column("table_name", sa.String()),
    sa.column("table_schema", sa.String()),
    schema="information_schema",
)


def _existing(conn: Connection, tables: Sequence[sa.Table]) -> list[sa.Table]:
    """The tables that exist, from the SQL-standard catalog (same query on both dialects)."""
    c = _CATALOG.c
    query = sa.select(c.table_name).where(
        c.table_schema == sa.func.current_schema(), c.table_name.in_([t.name for t in tables])
    )
    names = set(read_frame(conn, query)["table_name"])
    return [t for t in tables if t.name in names]


def _scalar_date(conn: Connection, query: sa.Select) -> dt.date | None:
    frame = read_frame(conn, query)
    return None if frame.empty else _day(frame.iloc[0, 0])


def _latest(conn: Connection, column: sa.Column, as_of: dt.date | None) -> dt.date | None:
    """Newest value of a date column, on or before ``as_of`` when given."""
    query = sa.select(sa.func.max(column).label("d"))
    if as_of is not None:
        query = query.where(column <= as_of)
    return _scalar_date(conn, query)


# --- what exists -----------------------------------------------------------------------


def available_dates(conn: Connection) -> tuple[dt.date, dt.date] | None:
    """(earliest, latest) as-of date of the daily KPI marts, or ``None`` when empty."""
    firsts, lasts = [], []
    for table in _existing(conn, _DAILY_MARTS):
        column = table.c.as_of_date
        frame = read_frame(
            conn, sa.select(sa.func.min(column).label("lo"), sa.func.max(column).label("hi"))
        )
        lo, hi = _day(frame.iloc[0, 0]), _day(frame.iloc[0, 1])
        if hi is not None:
            firsts.append(lo)
            lasts.append(hi)
    if not lasts:
        return None
    return min(d for d in firsts if d is not None), max(lasts)


# --- sections --------------------------------------------------------------------------


def _recovery(conn: Connection, day: dt.date) -> tuple[TierRecovery, ...]:
    p, t = marts.plan_tracking.c, marts.dim_tier.c
    query = (
        sa.select(
            p.tier,
            t.label_zh,
            t.sort_order,
            p.target_recovery_rate,
            p.actual_recovery_rate,
            p.overdue_at_entry,
            p.repaid,
            p.accounts,
        )
        .select_from(marts.plan_tracking.outerjoin(marts.dim_tier, p.tier == t.tier))
        .where(p.as_of_date == day)
    )
    frame = read_frame(conn, query)
    frame["_order"] = frame["tier"].ne(OVERALL).astype(int)
    frame = frame.sort_values(["_order", "sort_order", "tier"], na_position="last")
    return tuple(
        TierRecovery(
            tier=str(r.tier),
            label_zh=_str(r.label_zh),
            target=_num(r.target_recovery_rate),
            actual=_num(r.actual_recovery_rate),
            overdue_at_entry=_num(r.overdue_at_entry),
            repaid=_num(r.repaid),
            accounts=_int(r.accounts),
        )
        for r in frame.itertuples(index=False)
    )


def _npl_trend(conn: Connection, as_of: dt.date, period: Period) -> tuple[NplPoint, ...]:
    n = marts.npl_trend.c
    query = (
        sa.select(n.as_of_date, n.npl_ratio, n.npl_balance, n.outstanding, n.npl_accounts)
        .where(n.as_of_date <= as_of, n.as_of_date > as_of - dt.timedelta(days=TREND_DAYS))
        .order_by(n.as_of_date)
    )
    points = [
        NplPoint(
            as_of_date=_day(r.as_of_date),  # type: ignore[arg-type]
            npl_ratio=_num(r.npl_ratio),
            npl_balance=_num(r.npl_balance),
            outstanding=_num(r.outstanding),
            npl_accounts=_int(r.npl_accounts),
        )
        for r in read_frame(conn, query).itertuples(index=False)
    ]
    # a management report reads month ends: the last point of each month
    return month_ends(points) if period == "month" else tuple(points)


def _bucket_order(buckets: Sequence[str], seen: set[str]) -> tuple[str, ...]:
    """Buckets present in the matrix: policy order, then unknown ones, ``closed`` last."""
    known = [b for b in buckets if b in seen and b != CLOSED]
    extra = sorted(seen - set(known) - {CLOSED})
    return (*known, *extra, *([CLOSED] if CLOSED in seen else []))


def _roll_rates(
    conn: Connection, month_end: dt.date, buckets: Sequence[str]
) -> tuple[tuple[str, ...], tuple[RollRate, ...]]:
    r = marts.roll_rates.c
    query = sa.select(r.from_bucket, r.to_bucket, r.from_balance, r.balance, r.rate).where(
        r.month_end == month_end
    )
    frame = read_frame(conn, query)
    seen = set(frame["from_bucket"]) | set(frame["to_bucket"])
    order = _bucket_order(buckets, seen)
    rank = {b: i for i, b in enumerate(order)}
    cells = sorted(
        (
            RollRate(
                from_bucket=str(x.from_bucket),
                to_bucket=str(x.to_bucket),
                from_balance=_num(x.from_balance),
                balance=_num(x.balance),
                rate=_num(x.rate),
            )
            for x in frame.itertuples(index=False)
        ),
        key=lambda c: (rank[c.from_bucket], rank[c.to_bucket]),
    )
    return order, tuple(cells)


def _agencies(conn: Connection, day: dt.date) -> tuple[AgencyRank, ...]:
    s, a = marts.agency_scorecard.c, marts.dim_agency.c
    query = (
        sa.select(
            s.rank,
            s.agency_id,
            a.name,
            s.placements,
            s.balance_placed,
            s.collected,
            s.liquidation_rate,
            s.commission,
            s.net_recovery,
            s.complaints,
            s.score,
        )
        .select_from(marts.agency_scorecard.outerjoin(marts.dim_agency, s.agency_id == a.agency_id))
        .where(s.as_of_date == day)
    )
    frame = read_frame(conn, query).sort_values(["rank", "agency_id"], na_position="last")
    return tuple(
        AgencyRank(
            rank=_int(r.rank),
            agency_id=str(r.agency_id),
            name=_str(r.name),
            placements=_int(r.placements),
            balance_placed=_num(r.balance_placed),
            collected=_num(r.collected),
            liquidation_rate=_num(r.liquidation_rate),
            commission=_num(r.commission),
            net_recovery=_num(r.net_recovery),
            complaints=_int(r.complaints),
            score=_num(r.score),
        )
        for r in frame.itertuples(index=False)
    )


def _drift(conn: Connection, day: dt.date) -> tuple[DriftCheck, ...]:
    m = model_monitoring.c
    query = sa.select(
        m.subject, m.metric, m.model_version, m.value, m.reference, m.band, m.status, m.n
    ).where(m.as_of_date == day)
    checks = [
        DriftCheck(
            subject=str(r.subject),
            metric=str(r.metric),
            model_version=str(r.model_version),
            value=_num(r.value),
            reference=_num(r.reference),
            band=_str(r.band),
            status=str(r.status),
            n=_int(r.n) or 0,
        )
        for r in read_frame(conn, query).itertuples(index=False)
    ]
    severity = {s: i for i, s in enumerate(DRIFT_SEVERITY)}
    checks.sort(key=lambda c: (severity.get(c.status, len(severity)), c.metric, c.subject))
    return tuple(checks)


def _counts(
    conn: Connection, column: sa.Column, where: sa.ColumnElement[bool]
) -> tuple[Count, ...]:
    query = sa.select(column.label("key"), sa.func.count().label("n")).where(where).group_by(column)
    frame = read_frame(conn, query)
    rows = [Count(key=str(r.key), count=int(r.n)) for r in frame.itertuples(index=False)]
    return tuple(sorted(rows, key=lambda c: (-c.count, c.key)))


def _suppressions(conn: Connection, as_of: dt.date, period: Period) -> Suppressions | None:
    s = suppression_log.c
    if period == "month":
        start, end = as_of.replace(day=1), as_of
    else:
        latest = _latest(conn, s.as_of_date, as_of)
        if latest is None:
            return None
        start = end = latest
    window = sa.and_(s.as_of_date >= start, s.as_of_date <= end)
    totals = read_frame(
        conn,
        sa.select(
            sa.func.count().label("contacts"),
            sa.func.count(sa.distinct(s.loan_id)).label("accounts"),
        ).where(window),
    )
    return Suppressions(
        start=start,
        end=end,
        contacts=int(totals.iloc[0, 0]),
        accounts=int(totals.iloc[0, 1]),
        by_reason=_counts(conn, s.reason, window),
        by_channel=_counts(conn, s.channel, window),
        by_tier=_counts(conn, s.tier, window),
    )


def _compliance(conn: Connection, day: dt.date) -> Compliance:
    c = compliance_report.c
    frame = read_frame(
        conn, sa.select(compliance_report).where(c.as_of_date == day).order_by(c.rule)
    )
    rules = tuple(
        ComplianceRule(
            rule=str(r.rule),
            candidates_checked=int(r.candidates_checked),
            allowed=int(r.allowed),
            suppressed=int(r.suppressed),
            scheduled_audited=int(r.scheduled_audited),
            audit_breaches=int(r.audit_breaches),
            audit_result=str(r.audit_result),
        )
        for r in frame.itertuples(index=False)
    )
    policy = str(frame["policy"].iloc[0]) if len(frame) else ""
    return Compliance(day=day, policy=policy, rules=rules)


def _economics(conn: Connection, day: dt.date) -> Economics | None:
    r = marts.roi.c
    frame = read_frame(
        conn,
        sa.select(
            r.investment,
            r.extra_recovery_to_date,
            r.monthly_extra_recovery,
            r.monthly_cost,
            r.payback_months,
            r.target_payback_months,
            r.target_extra_recovery,
        ).where(r.as_of_date == day),
    )
    if frame.empty:
        return None
    row = frame.iloc[0]
    return Economics(as_of_date=day, **{k: _num(v) for k, v in row.items()})


_SEGMENT_ORDER = {OVERALL: 0, "portfolio": 2}
_POLICY_ORDER = {"pipeline": 0, "status_quo": 1, "incremental": 2}


def _with_tier_order(conn: Connection, table: sa.Table, day: dt.date) -> pd.DataFrame:
    """A comparison mart's rows of ``day``, each with its tier's ``sort_order`` (NULL for
    rows whose segment is not a tier, e.g. ``overall``)."""
    c, t = table.c, marts.dim_tier.c
    query = (
        sa.select(table, t.sort_order)
        .select_from(table.outerjoin(marts.dim_tier, c.segment == t.tier))
        .where(c.as_of_date == day)
    )
    return read_frame(conn, query)


def _policy_comparison(conn: Connection, day: dt.date) -> PolicyComparison | None:
    frame = _with_tier_order(conn, policy_comparison, day)
    if frame.empty:
        return None
    frame["_seg"] = frame["segment"].map(_SEGMENT_ORDER).fillna(1)
    frame["_pol"] = frame["policy"].map(_POLICY_ORDER).fillna(3)
    frame = frame.sort_values(["_seg", "sort_order", "segment", "_pol"], na_position="last")
    lines = tuple(
        PolicyLine(
            segment=str(r.segment),
            policy=str(r.policy),
            accounts=_int(r.accounts),
            target=_num(r.target_recovery_rate),
            **{
                f: _num(getattr(r, f))
                for f in PolicyLine.__dataclass_fields__
                if f not in ("segment", "policy", "accounts", "target")
            },
        )
        for r in frame.itertuples(index=False)
    )
    first = frame.iloc[0]
    return PolicyComparison(
        as_of_date=day, start_date=_day(first["start_date"]), days=int(first["days"]), lines=lines
    )  # type: ignore[arg-type]


_NBA_POLICY_ORDER = {"nba": 0, "static": 1, "status_quo": 1, "difference": 2}
_NBA_BASELINE_ORDER = {"static": 0, "status_quo": 1}


def _nba_comparison(conn: Connection, day: dt.date) -> NbaComparison | None:
    frame = _with_tier_order(conn, nba_comparison, day)
    if frame.empty:
        return None
    frame["_base"] = frame["baseline"].map(_NBA_BASELINE_ORDER).fillna(2)
    frame["_seg"] = (frame["segment"] != OVERALL).astype(int)
    frame["_pol"] = frame["policy"].map(_NBA_POLICY_ORDER).fillna(3)
    frame = frame.sort_values(
        ["_base", "baseline", "_seg", "sort_order", "segment", "_pol"], na_position="last"
    )
    ints = ("accounts", "baseline_accounts")
    lines = tuple(
        NbaLine(
            baseline=str(r.baseline),
            segment=str(r.segment),
            policy=str(r.policy),
            **{f: _int(getattr(r, f)) for f in ints},
            **{
                f: _num(getattr(r, f))
                for f in NbaLine.__dataclass_fields__
                if f not in ("baseline", "segment", "policy", *ints)
            },
        )
        for r in frame.itertuples(index=False)
    )
    static = frame[frame["baseline"] == "static"]
    first = (static if len(static) else frame).iloc[0]
    return NbaComparison(
        as_of_date=day,
        start_date=_day(first["start_date"]),  # type: ignore[arg-type]
        days=int(first["days"]),
        confidence=_num(first["confidence"]),
        lines=lines,
    )


# --- the whole page --------------------------------------------------------------------


def load_dashboard(
    conn: Connection,
    as_of: dt.date | None = None,
    *,
    period: Period = "day",
    buckets: Sequence[str] = (),
) -> Dashboard | None:
    """The dashboard as of ``as_of`` (default: the latest date with KPIs), or ``None``.

    ``None`` means there is nothing on or before that date (the KPI DAG has not run).
    ``period="month"`` is the management report's view: NPL trend as month-end points and
    suppressions counted over the month to date. ``buckets`` orders the roll-rate matrix
    (the policy's bucket names); buckets not in it follow alphabetically, ``closed`` last.
    """
    span = available_dates(conn)
    if span is None or (as_of is not None and as_of < span[0]):
        return None
    first, last = span
    day = as_of or last
    tables = (
        *_DAILY_MARTS,
        marts.roll_rates,
        model_monitoring,
        suppression_log,
        marts.roi,
        compliance_report,
        policy_comparison,
        nba_comparison,
    )
    present = {t.name for t in _existing(conn, tables)}

    def latest(table: sa.Table, column: str = "as_of_date") -> dt.date | None:
        return _latest(conn, table.c[column], day) if table.name in present else None

    recovery_date = latest(marts.plan_tracking)
    roll_month_end = latest(marts.roll_rates, "month_end")
    agencies_date = latest(marts.agency_scorecard)
    drift_date = latest(model_monitoring)
    roi_date = latest(marts.roi)
    compliance_date = latest(compliance_report)
    comparison_date = latest(policy_comparison)
    nba_date = latest(nba_comparison)
    order, cells = _roll_rates(conn, roll_month_end, buckets) if roll_month_end else ((), ())
    return Dashboard(
        as_of=day,
        period=period,
        first_date=first,
        last_date=last,
        recovery_date=recovery_date,
        recovery=_recovery(conn, recovery_date) if recovery_date else (),
        npl_trend=_npl_trend(conn, day, period) if marts.npl_trend.name in present else (),
        roll_month_end=roll_month_end,
        buckets=order,
        roll_rates=cells,
        agencies_date=agencies_date,
        agencies=_agencies(conn, agencies_date) if agencies_date else (),
        drift_date=drift_date,
        drift=_drift(conn, drift_date) if drift_date else (),
        suppressions=(
            _suppressions(conn, day, period) if suppression_log.name in present else None
        ),
        economics=_economics(conn, roi_date) if roi_date else None,
        compliance=_compliance(conn, compliance_date) if compliance_date else None,
        policy_comparison=_policy_comparison(conn, comparison_date) if comparison_date else None,
        nba_comparison=_nba_comparison(conn, nba_date) if nba_date else None,
    )


def policy_buckets(settings: Settings) -> tuple[str, ...]:
    """The policy's bucket order; an unreadable policy only costs the ordering."""
    try:
        return tuple(settings.policy.delinquency.bucket_names)
    except Exception:  # the page must still render; the DAGs report policy errors loudly
        log.warning("could not read the bucket order from %s", settings.policy_file)
        return ()


def read_dashboard(
    as_of: dt.date | None = None,
    *,
    period: Period = "day",
    settings: Settings | None = None,
) -> Dashboard | None:
    """Open the configured warehouse read-only and load the dashboard (``None``: no data)."""
    settings = settings or get_settings()
    with warehouse_connection(settings.warehouse_url) as conn:
        if conn is None:
            return None
        try:
            return load_dashboard(conn, as_of, period=period, buckets=policy_buckets(settings))
        except sa.exc.OperationalError as exc:  # connection lost mid-read
            raise WarehouseUnavailableError(type(exc.orig or exc).__name__) from exc
