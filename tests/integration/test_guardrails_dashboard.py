"""The daily compliance report reaches the dashboard: per rule, the guardrails' counts
and the audit's result, read from ``act_compliance_report`` (counts only)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from dashboard_fixtures import fill_warehouse

from nplpipeline.act.tables import compliance_report
from nplpipeline.report.dashboard import load
from nplpipeline.report.dashboard.render import render_dashboard
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.frames import insert_frame


def _report(day: dt.date, breach: bool) -> pd.DataFrame:
    rows = [
        ("flag:do_not_contact", 40, 37, 3, 30, 0, "pass"),
        ("cooling_off:conversation", 25, 20, 5, 12, 1 if breach else 0),
        ("third_party", 37, 37, 0, 0, 0, "not_audited"),
    ]
    rows[1] = (*rows[1], "breach" if breach else "pass")
    cols = ["rule", "candidates_checked", "allowed", "suppressed"]
    cols += ["scheduled_audited", "audit_breaches", "audit_result"]
    return pd.DataFrame(rows, columns=cols).assign(as_of_date=day, policy="STRICTEST")


def _page(url: str, breach: bool) -> tuple[object, str]:
    fill_warehouse(url)
    with opened(url) as engine:
        with engine.connect() as conn:
            day = load.available_dates(conn)[1]
        with begin(engine) as conn:
            insert_frame(conn, compliance_report, _report(day, breach))
        with engine.connect() as conn:
            board = load.load_dashboard(conn, day)
    return board, render_dashboard(board)


def test_compliance_report_is_on_the_dashboard(warehouse_url):
    board, html = _page(warehouse_url, breach=False)
    assert board.compliance is not None and board.compliance.passed
    by_rule = {r.rule: r for r in board.compliance.rules}
    assert by_rule["flag:do_not_contact"].suppressed == 3
    assert 'data-kpi="compliance" data-rule="cooling_off:conversation"' in html
    assert "audit passed" in html
    assert board.to_json()["compliance"]["rules"][0]["rule"] == "cooling_off:conversation"


def test_an_audit_breach_is_shown_as_such(warehouse_url):
    board, html = _page(warehouse_url, breach=True)
    assert not board.compliance.passed
    assert "AUDIT FOUND BREACHES" in html
