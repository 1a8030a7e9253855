"""The dashboard as one self-contained HTML document (inline CSS and SVG, no scripts).

The same document serves the Airflow UI page and the monthly management report file:
``mode="page"`` adds the as-of picker and the JSON link, ``mode="report"`` a generation
stamp. Every figure carries ``data-kpi`` plus a key (``data-tier``, ``data-agency``,
``data-date``...), the exact value in ``data-value`` and the formatted value as its
text; all text is HTML-escaped. UTF-8 is declared first so tier labels (轻度, 重度,
极重度) render in any browser.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from typing import Literal

from nplpipeline.report.dashboard import fmt
from nplpipeline.report.dashboard.charts import Bar, Point, bar_chart, line_chart
from nplpipeline.report.dashboard.fmt import attrs, esc
from nplpipeline.report.dashboard.model import (
    AgencyRank,
    ComplianceRule,
    Count,
    Dashboard,
    DriftCheck,
    NbaComparison,
    PolicyComparison,
    TierRecovery,
    month_ends,
)

Mode = Literal["page", "report"]
KPI_DAG = "npl_kpis"
NO_DATA = f"No KPI data yet: run {KPI_DAG}."
SOURCES = (
    "mart_plan_tracking, dim_tier, mart_npl_trend, mart_roll_rates, mart_agency_scorecard, "
    "dim_agency, mart_roi, ops_model_monitoring, act_suppression_log, act_compliance_report, "
    "mart_policy_comparison, mart_nba_comparison"
)

CSS = """
:root { color-scheme: light; --ink:#1f2933; --muted:#616e7c; --line:#d9e2ec; --bg:#f5f7fa;
  --good:#2f855a; --bad:#c53030; --warn:#b7791f; --neutral:#3c6e9f; }
* { box-sizing: border-box; }
body { margin:0; padding:16px 20px 32px; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui, 'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', sans-serif; }
header { display:flex; flex-wrap:wrap; align-items:baseline; gap:8px 24px; margin-bottom:12px; }
h1 { font-size:20px; margin:0; } h2 { font-size:16px; margin:0 0 2px; }
h3 { font-size:13.5px; margin:12px 0 0; }
.sub, .note { color:var(--muted); font-size:12px; margin:0 0 8px; }
form { display:flex; gap:6px; align-items:center; font-size:13px; }
.tiles { display:grid; grid-template-columns:repeat(auto-fill, minmax(190px, 1fr)); gap:10px;
  margin-bottom:14px; }
.tile { background:#fff; border:1px solid var(--line); border-radius:6px; padding:10px 12px; }
.tile-label { color:var(--muted); font-size:12px; } .tile-value { font-size:22px; font-weight:600; }
.tile-note { font-size:12px; color:var(--muted); }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(560px, 1fr)); gap:14px; }
section.wide { grid-column:1 / -1; }
section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:12px 14px;
  overflow-x:auto; }
table { border-collapse:collapse; font-size:12.5px; margin-top:8px; width:100%; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:right;
  white-space:nowrap; }
th:first-child, td:first-child, td.text, th.text { text-align:left; }
th { color:var(--muted); font-weight:600; }
.bar.good { fill:var(--good); } .bar.bad { fill:var(--bad); } .bar.warn { fill:var(--warn); }
.bar.neutral { fill:var(--neutral); }
.target { stroke:var(--ink); stroke-width:2.5; } .bar-label, .bar-value { fill:var(--ink); }
svg .grid { stroke:var(--line); } .axis { fill:var(--muted); }
.line { fill:none; stroke:var(--neutral); stroke-width:2; } .point { fill:var(--neutral); }
.status { display:inline-block; min-width:44px; text-align:center; border-radius:10px;
  padding:0 8px; color:#fff; font-size:11.5px; }
.status.alert { background:var(--bad); } .status.watch { background:var(--warn); }
.status.ok { background:var(--good); } .status.na { background:var(--muted); }
.good-text { color:var(--good); } .bad-text { color:var(--bad); }
.empty { color:var(--muted); font-style:italic; }
.message { max-width:640px; margin:48px auto; background:#fff; border:1px solid var(--line);
  border-radius:6px; padding:20px 24px; }
footer { margin-top:16px; color:var(--muted); font-size:11.5px; }
@media print { body { background:#fff; } section, .tile { break-inside:avoid; } }
"""


# --- pieces ----------------------------------------------------------------------------


def _document(title: str, body: str, *, as_of: dt.date | None = None) -> str:
    stamp = attrs(as_of=as_of) if as_of else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body{stamp}>\n{body}\n</body>\n</html>\n"
    )


def _tier_name(tier: str, label_zh: str | None = None) -> str:
    name = tier.replace("_", " ")
    return f"{name} {label_zh}" if label_zh else name


def _td(field: str, value: object, text: str, *, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f"<td{klass}{attrs(field=field, value=value)}>{esc(text)}</td>"


def _table(headers: Sequence[str], rows: Sequence[str], *, kpi: str, text_columns: int = 1) -> str:
    """A table whose first ``text_columns`` headers align left, like their text cells."""
    head = "".join(
        ('<th class="text">' if i < text_columns else "<th>") + f"{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(rows)
    return f"<table{attrs(table=kpi)}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(key: str, title: str, note: str, content: str, *, wide: bool = False) -> str:
    klass = ' class="wide"' if wide else ""
    return (
        f'<section id="{esc(key)}"{klass}{attrs(section=key)}><h2>{esc(title)}</h2>'
        f'<p class="sub">{esc(note)}</p>{content}</section>'
    )


def _empty(what: str) -> str:
    return f'<p class="empty">No {esc(what)} on or before this date.</p>'


def _tile(metric: str, label: str, value: float | int | None, text: str, note: str = "") -> str:
    return (
        f'<div class="tile"{attrs(kpi="headline", metric=metric, value=value)}>'
        f'<div class="tile-label">{esc(label)}</div><div class="tile-value">{esc(text)}</div>'
        f'<div class="tile-note">{esc(note)}</div></div>'
    )


def _tone(on_target: bool | None) -> str:
    return "neutral" if on_target is None else ("good" if on_target else "bad")


# --- sections --------------------------------------------------------------------------


def _headline(d: Dashboard) -> str:
    tiles = []
    npl = d.latest_npl
    if npl is not None:
        base = d.npl_trend[0]
        change = (
            npl.npl_ratio - base.npl_ratio
            if len(d.npl_trend) > 1 and npl.npl_ratio is not None and base.npl_ratio is not None
            else None
        )
        note = f"{fmt.pp(change)} since {base.as_of_date.isoformat()}" if change is not None else ""
        tiles.append(_tile("npl_ratio", "NPL ratio", npl.npl_ratio, fmt.pct(npl.npl_ratio), note))
    overall = d.overall
    if overall is not None:
        tiles.append(
            _tile(
                "recovery_overall",
                "Recovery rate, overall",
                overall.actual,
                fmt.pct(overall.actual),
                f"target {fmt.pct(overall.target)} ({fmt.pp(overall.gap)})",
            )
        )
    if d.drift_date is not None:
        alerts = sum(c.status == "alert" for c in d.drift)
        watches = sum(c.status == "watch" for c in d.drift)
        tiles.append(
            _tile(
                "drift_alerts",
                "Model drift alerts",
                alerts,
                fmt.count(alerts),
                f"{watches} on watch",
            )
        )
    if d.suppressions is not None:
        s = d.suppressions
        tiles.append(
            _tile(
                "suppressed_contacts",
                "Contacts held back by guardrails",
                s.contacts,
                fmt.count(s.contacts),
                f"{fmt.count(s.accounts)} accounts",
            )
        )
    if d.economics is not None:
        e = d.economics
        tiles.append(
            _tile(
                "payback_months",
                "Payback",
                e.payback_months,
                fmt.months(e.payback_months),
                f"target {fmt.months(e.target_payback_months)}",
            )
        )
    return f'<div class="tiles">{"".join(tiles)}</div>' if tiles else ""


def _recovery(d: Dashboard) -> str:
    title = "Recovery against target by tier"
    if not d.recovery:
        return _section("recovery", title, "", _empty("recovery tracking"))
    bars = [
        Bar(
            key=r.tier,
            label=_tier_name(r.tier, r.label_zh),
            value=r.actual,
            text=fmt.pct(r.actual),
            target=r.target,
            target_text=fmt.pct(r.target),
            tone=_tone(r.on_target),
        )
        for r in d.recovery
    ]
    chart = bar_chart(bars, kpi="recovery", title=title, scale_max=1.0)

    def row(r: TierRecovery) -> str:
        gap_cls = "" if r.on_target is None else ("good-text" if r.on_target else "bad-text")
        return (
            f"<tr{attrs(kpi='recovery', tier=r.tier)}>"
            + _td("tier", r.tier, _tier_name(r.tier, r.label_zh), cls="text")
            + _td("target", r.target, fmt.pct(r.target))
            + _td("actual", r.actual, fmt.pct(r.actual))
            + _td("gap", r.gap, fmt.pp(r.gap), cls=gap_cls)
            + _td("overdue_at_entry", r.overdue_at_entry, fmt.money(r.overdue_at_entry))
            + _td("repaid", r.repaid, fmt.money(r.repaid))
            + _td("accounts", r.accounts, fmt.count(r.accounts))
            + "</tr>"
        )

    table = _table(
        ["Tier", "Target", "Actual", "Gap", "Overdue at entry", "Repaid", "Accounts"],
        [row(r) for r in d.recovery],
        kpi="recovery",
    )
    note = f"as of {fmt.day(d.recovery_date)}; bars: actual, tick: the plan's target"
    return _section("recovery", title, note, chart + table)


def _npl_trend(d: Dashboard) -> str:
    title = "NPL ratio trend"
    if not d.npl_trend:
        return _section("npl-trend", title, "", _empty("NPL ratio"))
    chart = line_chart(
        [Point(p.as_of_date, p.npl_ratio, fmt.pct(p.npl_ratio, 2)) for p in d.npl_trend],
        kpi="npl_ratio",
        title=title,
        axis=lambda v: fmt.pct(v),
    )
    rows = [
        f"<tr{attrs(kpi='npl_trend', date=p.as_of_date)}>"
        + _td("as_of_date", p.as_of_date, p.as_of_date.isoformat(), cls="text")
        + _td("npl_ratio", p.npl_ratio, fmt.pct(p.npl_ratio, 2))
        + _td("npl_balance", p.npl_balance, fmt.money(p.npl_balance))
        + _td("outstanding", p.outstanding, fmt.money(p.outstanding))
        + _td("npl_accounts", p.npl_accounts, fmt.count(p.npl_accounts))
        + "</tr>"
        for p in reversed(month_ends(d.npl_trend))
    ]
    table = _table(
        ["Date", "NPL ratio", "NPL balance", "Outstanding", "NPL accounts"], rows, kpi="npl_trend"
    )
    first, last = d.npl_trend[0].as_of_date, d.npl_trend[-1].as_of_date
    note = f"{first.isoformat()} to {last.isoformat()}; balance over 90 DPD / outstanding"
    return _section("npl-trend", title, note + "; table: last date of each month", chart + table)


def _roll_rates(d: Dashboard) -> str:
    title = "Roll rates"
    if not d.roll_rates:
        return _section("roll-rates", title, "", _empty("roll rates"))
    states = [b for b in d.buckets if b != "closed"]
    bars = [
        Bar(
            key=f"{a}>{b}",
            label=f"{a} → {b}",
            value=d.roll_rate(a, b),
            text=fmt.pct(d.roll_rate(a, b)),
            tone="bad",
        )
        for a, b in itertools.pairwise(states)
        if any(c.from_bucket == a and c.to_bucket == b for c in d.roll_rates)
    ]
    chart = bar_chart(bars, kpi="roll_forward", title="Roll-forward rates", scale_max=1.0)
    from_balance = {c.from_bucket: c.from_balance for c in d.roll_rates}
    cells = {(c.from_bucket, c.to_bucket): c for c in d.roll_rates}
    rows = []
    for a in states:
        if a not in from_balance:
            continue
        tds = [_td("from_bucket", a, a, cls="text")]
        for b in d.buckets:
            cell = cells.get((a, b))
            rate = None if cell is None else cell.rate
            shade = f' style="background:rgba(197,48,48,{(rate or 0) * 0.6:.3f})"'
            tds.append(
                f"<td{shade}{attrs(kpi='roll_rate', from_=a, to=b, value=rate)}>"
                f"{esc(fmt.pct(rate))}</td>"
            )
        tds.append(_td("from_balance", from_balance[a], fmt.money(from_balance[a])))
        rows.append(f"<tr{attrs(from_=a)}>" + "".join(tds) + "</tr>")
    table = _table(["From \\ to", *d.buckets, "Balance a month before"], rows, kpi="roll_rates")
    note = (
        f"month end {fmt.day(d.roll_month_end)}; share of each bucket's balance a month "
        "before that sits in each bucket now (rows sum to 100%)"
    )
    return _section("roll-rates", title, note, chart + table)


def _agency_name(a: AgencyRank) -> str:
    return f"{a.name} ({a.agency_id})" if a.name and a.name != a.agency_id else a.agency_id


def _agencies(d: Dashboard) -> str:
    title = "Agency league table"
    if not d.agencies:
        return _section("agencies", title, "", _empty("agency scorecards"))
    bars = [
        Bar(
            key=a.agency_id,
            label=_agency_name(a),
            value=a.liquidation_rate,
            text=fmt.pct(a.liquidation_rate),
        )
        for a in d.agencies
    ]
    chart = bar_chart(bars, kpi="agency_liquidation", title="Liquidation rate by agency")
    rows = [
        f"<tr{attrs(kpi='agency', agency=a.agency_id)}>"
        + _td("rank", a.rank, fmt.count(a.rank), cls="text")
        + _td("agency", a.agency_id, _agency_name(a), cls="text")
        + _td("placements", a.placements, fmt.count(a.placements))
        + _td("balance_placed", a.balance_placed, fmt.money(a.balance_placed))
        + _td("collected", a.collected, fmt.money(a.collected))
        + _td("liquidation_rate", a.liquidation_rate, fmt.pct(a.liquidation_rate))
        + _td("commission", a.commission, fmt.money(a.commission))
        + _td("net_recovery", a.net_recovery, fmt.money(a.net_recovery))
        + _td("complaints", a.complaints, fmt.count(a.complaints))
        + _td("score", a.score, fmt.number(a.score))
        + "</tr>"
        for a in d.agencies
    ]
    table = _table(
        [
            "Rank",
            "Agency",
            "Placements",
            "Balance placed",
            "Collected",
            "Liquidation",
            "Commission",
            "Net recovery",
            "Complaints",
            "Score",
        ],
        rows,
        kpi="agencies",
        text_columns=2,
    )
    note = f"as of {fmt.day(d.agencies_date)}; rank by composite score (1 = best)"
    return _section("agencies", title, note, chart + table, wide=True)


def _status(status: str) -> str:
    cls = "na" if status == "n/a" else status
    return f'<span class="status {esc(cls)}">{esc(status)}</span>'


def _drift(d: Dashboard) -> str:
    title = "Model drift"
    if not d.drift:
        return _section("drift", title, "", _empty("model monitoring"))
    tones = {"alert": "bad", "watch": "warn", "ok": "good"}
    psi = [c for c in d.drift if c.metric == "psi"]
    chart = bar_chart(
        [
            Bar(
                key=c.subject,
                label=c.subject,
                value=c.value,
                text=fmt.number(c.value),
                tone=tones.get(c.status, "neutral"),
            )
            for c in sorted(psi, key=lambda c: c.subject != "score")
        ],
        kpi="drift_psi",
        title="Population stability (PSI)",
        scale_max=0.3,
    )

    def row(c: DriftCheck) -> str:
        return (
            f"<tr{attrs(kpi='drift', subject=c.subject, metric=c.metric)}>"
            + f'<td class="text"{attrs(field="status", value=c.status)}>{_status(c.status)}</td>'
            + _td("subject", c.subject, c.subject, cls="text")
            + _td("metric", c.metric, c.metric, cls="text")
            + _td("value", c.value, fmt.number(c.value))
            + _td("reference", c.reference, fmt.number(c.reference))
            + _td("band", c.band, c.band or fmt.MISSING, cls="text")
            + _td("n", c.n, fmt.count(c.n))
            + _td("model_version", c.model_version, c.model_version, cls="text")
            + "</tr>"
        )

    table = _table(
        ["Status", "Subject", "Metric", "Value", "Reference", "Band", "N", "Model version"],
        [row(c) for c in d.drift],
        kpi="drift",
        text_columns=3,
    )
    note = (
        f"as of {fmt.day(d.drift_date)}; PSI < 0.1 stable, 0.1-0.25 watch, > 0.25 shift; "
        "realised AUC against the model's out-of-time AUC"
    )
    return _section("drift", title, note, (chart if psi else "") + table)


def _count_rows(kind: str, counts: Sequence[Count]) -> list[str]:
    return [
        f"<tr{attrs(kpi='suppressions', by=kind, key=c.key)}>"
        + _td(kind, c.key, c.key.replace("_", " ") if kind == "tier" else c.key, cls="text")
        + _td("count", c.count, fmt.count(c.count))
        + "</tr>"
        for c in counts
    ]


def _suppressions(d: Dashboard) -> str:
    title = "Suppressions"
    s = d.suppressions
    if s is None:
        return _section("suppressions", title, "", _empty("suppressions"))
    window = (
        s.end.isoformat() if s.start == s.end else f"{s.start.isoformat()} to {s.end.isoformat()}"
    )
    note = (
        f"{window}: {fmt.count(s.contacts)} proposed contacts on {fmt.count(s.accounts)} "
        "accounts held back by the fair-collection guardrails (counts only)"
    )
    if not s.contacts:
        return _section("suppressions", title, note, '<p class="empty">None held back.</p>')
    chart = bar_chart(
        [Bar(c.key, c.key, c.count, fmt.count(c.count), tone="warn") for c in s.by_reason],
        kpi="suppressions_by_reason",
        title="Held-back contacts by reason",
    )
    tables = "".join(
        _table([heading, "Contacts"], _count_rows(kind, counts), kpi=f"suppressions_{kind}")
        for kind, heading, counts in (
            ("reason", "Reason", s.by_reason),
            ("channel", "Channel", s.by_channel),
            ("tier", "Tier", s.by_tier),
        )
    )
    return _section("suppressions", title, note, chart + tables)


def _compliance_row(r: ComplianceRule) -> str:
    cls = "bad" if r.audit_result == "breach" else ""
    return (
        f"<tr{attrs(kpi='compliance', rule=r.rule)}>"
        + _td("rule", r.rule, r.rule, cls="text")
        + _td("candidates_checked", r.candidates_checked, fmt.count(r.candidates_checked))
        + _td("allowed", r.allowed, fmt.count(r.allowed))
        + _td("suppressed", r.suppressed, fmt.count(r.suppressed))
        + _td("scheduled_audited", r.scheduled_audited, fmt.count(r.scheduled_audited))
        + _td("audit_breaches", r.audit_breaches, fmt.count(r.audit_breaches))
        + _td("audit_result", r.audit_result, r.audit_result.replace("_", " "), cls=cls)
        + "</tr>"
    )


def _compliance(d: Dashboard) -> str:
    title = "Fair-collection compliance"
    c = d.compliance
    if c is None:
        return _section("compliance", title, "", _empty("compliance report"))
    verdict = "audit passed" if c.passed else "AUDIT FOUND BREACHES: nothing was delivered"
    note = (
        f"{c.day.isoformat()}, policy {c.policy}: per rule, candidates checked, allowed and "
        f"held back by the guardrails, and the independent re-count of the scheduled "
        f"worklist -- {verdict}"
    )
    headers = ["Rule", "Checked", "Allowed", "Suppressed", "Audited", "Breaches", "Audit"]
    table = _table(headers, [_compliance_row(r) for r in c.rules], kpi="compliance")
    return _section("compliance", title, note, table, wide=True)


def _economics(d: Dashboard) -> str:
    e = d.economics
    if e is None:
        return ""
    lines: list[tuple[str, str, float | None, Callable[[float | None], str]]] = [
        ("investment", "Investment", e.investment, fmt.money),
        ("extra_recovery_to_date", "Extra recovery to date", e.extra_recovery_to_date, fmt.money),
        ("target_extra_recovery", "Target extra recovery", e.target_extra_recovery, fmt.money),
        ("monthly_extra_recovery", "Extra recovery per month", e.monthly_extra_recovery, fmt.money),
        ("monthly_cost", "Running cost per month", e.monthly_cost, fmt.money),
        ("payback_months", "Payback", e.payback_months, fmt.months),
        ("target_payback_months", "Target payback", e.target_payback_months, fmt.months),
    ]
    rows = [
        f"<tr{attrs(kpi='economics', metric=key)}>"
        + f'<td class="text">{esc(label)}</td>'
        + _td(key, value, show(value))
        + "</tr>"
        for key, label, value, show in lines
    ]
    table = _table(["Plan economics", "Value"], rows, kpi="economics")
    return _section("economics", "Plan economics", f"as of {fmt.day(e.as_of_date)}", table)


_POLICY_LABEL = {"pipeline": "pipeline", "status_quo": "status quo"}
_OPERATIONS: tuple[tuple[str, str, Callable[[float | None], str]], ...] = (
    ("repaid", "Repaid", fmt.money),
    ("contacts", "Contacts performed", fmt.money),
    ("placements", "Agency placements", fmt.money),
    ("recalls", "Agency recalls", fmt.money),
    ("commissions", "Commissions paid", fmt.money),
    ("net_recovered", "Repaid less commissions", fmt.money),
    ("complaints", "Complaints", fmt.money),
    ("satisfaction", "Satisfaction (1-5)", lambda v: fmt.number(v, 2)),
)


def _comparison_bars(c: PolicyComparison) -> str:
    bars = []
    for segment in c.segments:
        for policy, label in _POLICY_LABEL.items():
            x = c.line(segment, policy)
            if x is None or segment == "portfolio":
                continue
            tone = "neutral" if x.target is None else _tone(x.recovery_rate >= x.target)  # type: ignore[operator]
            bars.append(
                Bar(
                    key=f"{segment}:{policy}",
                    label=f"{_tier_name(segment)}, {label}",
                    value=x.recovery_rate,
                    text=fmt.pct(x.recovery_rate),
                    target=x.target,
                    target_text=fmt.pct(x.target),
                    tone=tone if x.recovery_rate is not None else "neutral",
                )
            )
    title = "Recovery by policy against target"
    return bar_chart(bars, kpi="policy_recovery", title=title, scale_max=1.0, label_width=230)


def _comparison_recovery_rows(c: PolicyComparison) -> list[str]:
    rows = []
    for segment in c.segments:
        if segment == "portfolio":
            continue
        p, q, inc = (c.line(segment, x) for x in ("pipeline", "status_quo", "incremental"))
        if p is None or q is None or inc is None:
            continue
        ci = f"{fmt.pp(inc.ci_low)} to {fmt.pp(inc.ci_high)}"
        rows.append(
            f"<tr{attrs(kpi='policy_comparison', segment=segment)}>"
            + _td("segment", segment, _tier_name(segment), cls="text")
            + _td("accounts", p.accounts, fmt.count(p.accounts))
            + _td("target", p.target, fmt.pct(p.target))
            + _td("pipeline", p.recovery_rate, fmt.pct(p.recovery_rate))
            + _td("status_quo", q.recovery_rate, fmt.pct(q.recovery_rate))
            + _td("incremental", inc.recovery_rate, fmt.pp(inc.recovery_rate))
            + _td("ci", f"{inc.ci_low},{inc.ci_high}", ci)
            + "</tr>"
        )
    return rows


def _comparison_operations(c: PolicyComparison) -> str:
    p, q, inc = (c.line("portfolio", x) for x in ("pipeline", "status_quo", "incremental"))
    if p is None or q is None or inc is None:
        return ""
    rows = [
        f"<tr{attrs(kpi='policy_operations', metric=key)}>"
        + f'<td class="text">{esc(label)}</td>'
        + _td("pipeline", getattr(p, key), show(getattr(p, key)))
        + _td("status_quo", getattr(q, key), show(getattr(q, key)))
        + _td("difference", getattr(inc, key), show(getattr(inc, key)))
        + "</tr>"
        for key, label, show in _OPERATIONS
    ]
    table = _table(
        ["Whole portfolio", "Pipeline", "Status quo", "Difference"], rows, kpi="policy_operations"
    )
    economics = (
        f'<p class="note"{attrs(kpi="policy_economics", payback=inc.payback_months, roi=inc.roi)}>'
        f"Plan's investment scaled to the portfolio {esc(fmt.money(inc.investment))}; net "
        f"benefit per month {esc(fmt.money(inc.monthly_net_benefit))}; payback "
        f"{esc(fmt.months(inc.payback_months))} (target "
        f"{esc(fmt.months(inc.target_payback_months))}); ROI over the target "
        f"{esc(fmt.pct(inc.roi))}.</p>"
    )
    return table + economics


def _policy_comparison(d: Dashboard) -> str:
    c = d.policy_comparison
    if c is None:
        return ""
    title = "Pipeline vs status quo (lender twin)"
    table = _table(
        ["Segment", "Accounts", "Target", "Pipeline", "Status quo", "Incremental", "95% CI"],
        _comparison_recovery_rows(c),
        kpi="policy_comparison",
    )
    note = (
        f"{c.start_date.isoformat()} to {c.as_of_date.isoformat()} ({c.days} days), same "
        "seed and portfolio in two twin worlds; cohort: accounts in collections on the "
        "start date with the pipeline's tiers; recovery = repaid since, capped at the "
        "overdue balance then (targets are 90-day figures); CI: paired bootstrap over accounts"
    )
    content = _comparison_bars(c) + table + _comparison_operations(c)
    return _section("policy-comparison", title, note, content, wide=True)


_NBA_BASELINES = {
    "static": ("Static tier policy", "static arm"),
    "status_quo": ("Status quo (twin)", "status quo"),
}


def _diff_td(
    field: str, value: float | None, low: float | None, high: float | None,
    show: Callable[[float | None], str],
) -> str:  # fmt: skip
    """A difference with its interval in one cell (exact bounds in ``data-ci-*``)."""
    ci = "" if low is None or high is None else f" ({show(low)} to {show(high)})"
    data = attrs(field=field, value=value, ci_low=low, ci_high=high)
    return f"<td{data}>{esc(show(value) + ci)}</td>"


def _nba_rows(c: NbaComparison, baseline: str) -> list[str]:
    rows = []
    for segment in c.segments(baseline):
        a, b = (c.line(baseline, segment, p) for p in ("nba", baseline))
        d = c.line(baseline, segment, "difference")
        if a is None or b is None or d is None:
            continue
        rows.append(
            f"<tr{attrs(kpi='nba_comparison', baseline=baseline, segment=segment)}>"
            + _td("segment", segment, _tier_name(segment), cls="text")
            + _td("accounts", a.accounts, fmt.count(a.accounts))
            + _td("baseline_accounts", b.accounts, fmt.count(b.accounts))
            + _td("nba", a.net_recovery, fmt.number(a.net_recovery, 1))
            + _td("baseline", b.net_recovery, fmt.number(b.net_recovery, 1))
            + _diff_td(
                "difference", d.net_recovery, d.net_recovery_ci_low, d.net_recovery_ci_high,
                fmt.signed,
            )
            + _diff_td(
                "contacts", d.contacts, d.contacts_ci_low, d.contacts_ci_high,
                lambda v: fmt.signed(v, 2),
            )
            + _diff_td(
                "complaints", d.complaints_per_1000, d.complaints_ci_low, d.complaints_ci_high,
                fmt.signed,
            )
            + "</tr>"
        )  # fmt: skip
    return rows


def _nba_comparison(d: Dashboard) -> str:
    c = d.nba_comparison
    if c is None:
        return ""
    level = f"{c.confidence:.0%}" if c.confidence else "95%"
    tables = []
    for baseline, (heading, label) in _NBA_BASELINES.items():
        rows = _nba_rows(c, baseline)
        if not rows:
            continue
        headers = [
            "Segment", "NBA accounts", f"{label.capitalize()} accounts",
            "Net recovery / account: NBA", label.capitalize(), f"Difference ({level} CI)",
            f"Contacts / account: difference ({level} CI)",
            f"Complaints / 1,000: difference ({level} CI)",
        ]  # fmt: skip
        tables.append(f"<h3>Against the {esc(heading.lower())}</h3>")
        tables.append(_table(headers, rows, kpi=f"nba_comparison_{baseline}"))
    note = (
        f"{c.start_date.isoformat()} to {c.as_of_date.isoformat()} ({c.days} days); cohort: "
        "accounts planned on the start date, by their policy arm (a randomised draw per "
        "account: nba = the learned policy, static = the tier policy); net recovery = "
        "repaid - contact cost - commissions per account over the window; status quo: the "
        "nba arm's loans in the lender twin's status-quo world, paired by loan; CI: normal "
        "interval of the difference of means"
    )
    title = "Learned policy (next-best-action) vs static tier policy"
    return _section("nba-comparison", title, note, "".join(tables), wide=True)


# --- documents -------------------------------------------------------------------------


def render_dashboard(
    d: Dashboard, *, mode: Mode = "page", generated_at: dt.datetime | None = None
) -> str:
    """The whole dashboard (``mode="page"``) or monthly report (``mode="report"``)."""
    if mode == "report":
        title = f"Collections management report — {d.as_of:%B %Y}"
        tools = f'<p class="sub">as of {d.as_of.isoformat()}</p>'
    else:
        title = "NPL collections dashboard"
        low = f' min="{d.first_date.isoformat()}"' if d.first_date else ""
        tools = (
            f'<form method="get" action=""><label for="as_of">As of</label>'
            f'<input type="date" id="as_of" name="as_of" value="{d.as_of.isoformat()}"'
            f'{low} max="{d.last_date.isoformat()}"><button type="submit">Show</button>'
            f'<a href="?">latest</a> · <a href="api/summary?as_of={d.as_of.isoformat()}">JSON</a>'
            "</form>"
        )
    stamp = f"Generated {generated_at:%Y-%m-%d %H:%M} UTC. " if generated_at else ""
    body = (
        f"<header><h1>{esc(title)}</h1>{tools}</header>"
        + _headline(d)
        + '<div class="grid">'
        + _recovery(d)
        + _npl_trend(d)
        + _roll_rates(d)
        + _agencies(d)
        + _drift(d)
        + _suppressions(d)
        + _compliance(d)
        + _economics(d)
        + _policy_comparison(d)
        + _nba_comparison(d)
        + "</div>"
        + f"<footer>{esc(stamp)}Figures from {esc(SOURCES)}. Aggregates only: no customer "
        "data is read or shown.</footer>"
    )
    return _document(f"{title} ({d.as_of.isoformat()})", body, as_of=d.as_of)


def render_message(title: str, message: str, *, detail: str = "") -> str:
    """A page that explains why there is no dashboard (no data yet, bad date, busy DB)."""
    extra = f'<p class="note">{esc(detail)}</p>' if detail else ""
    body = (
        f'<div class="message"{attrs(message=title)}><h1>{esc(title)}</h1>'
        f"<p>{esc(message)}</p>{extra}</div>"
    )
    return _document(title, body)
