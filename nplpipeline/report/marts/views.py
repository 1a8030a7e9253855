"""SQL views for the questions BI users ask first, on both warehouses.

Plain ANSI SQL (``CREATE OR REPLACE VIEW``) that DuckDB and PostgreSQL both run, so a
BI tool sees the same names whichever warehouse it connects to.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

VIEWS: dict[str, str] = {
    # How is each tier doing against the plan? (latest date)
    "v_recovery_vs_target": """
        SELECT p.as_of_date, p.tier, t.label_zh, p.accounts, p.overdue_at_entry, p.repaid,
               p.actual_recovery_rate, p.target_recovery_rate,
               p.actual_recovery_rate - p.target_recovery_rate AS gap
        FROM mart_plan_tracking p
        LEFT JOIN dim_tier t ON t.tier = p.tier
        WHERE p.as_of_date = (SELECT max(as_of_date) FROM mart_plan_tracking)
    """,
    # Every KPI on the latest date, overall.
    "v_kpi_latest": """
        SELECT as_of_date, period, kpi, numerator, denominator, value, unit
        FROM mart_kpi
        WHERE dimension = 'overall'
          AND as_of_date = (SELECT max(as_of_date) FROM mart_kpi)
    """,
    # Agency league table (latest), best first.
    "v_agency_league": """
        SELECT s.as_of_date, s.rank, s.agency_id, a.name, s.placements, s.balance_placed,
               s.collected, s.liquidation_rate, s.commission, s.net_recovery, s.score
        FROM mart_agency_scorecard s
        LEFT JOIN dim_agency a ON a.agency_id = s.agency_id
        WHERE s.as_of_date = (SELECT max(as_of_date) FROM mart_agency_scorecard)
    """,
    # Collector and team scorecards (latest), for reward and retraining.
    "v_collector_league": """
        SELECT as_of_date, level, rank, member, team, accounts_worked, recovered_amount,
               ptp_kept_rate, complaints, complaint_rate, guardrail_holds, score
        FROM mart_collector_scorecard
        WHERE as_of_date = (SELECT max(as_of_date) FROM mart_collector_scorecard)
    """,
    # Delinquent balance by tier, product and province per day (from the star).
    "v_delinquent_balance": """
        SELECT f.as_of_date, f.tier, l.product, l.province, count(*) AS accounts,
               sum(f.overdue_amount) AS overdue_amount,
               sum(f.outstanding_principal) AS outstanding_principal,
               sum(f.repaid_amount) AS repaid_amount
        FROM fact_account_day f
        JOIN dim_loan l ON l.loan_id = f.loan_id
        GROUP BY f.as_of_date, f.tier, l.product, l.province
    """,
}


def ensure_views(conn: Connection) -> list[str]:
    for name, body in VIEWS.items():
        conn.execute(sa.text(f"CREATE OR REPLACE VIEW {name} AS {body}"))
    return list(VIEWS)
