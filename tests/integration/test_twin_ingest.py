"""The twin's daily drops load cleanly: the ingest takes every row of a clean twin day."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from nplpipeline.ingest.stage import run_ingest
from nplpipeline.simulate.twin.stage import run_twin_day, run_twin_warm_up
from nplpipeline.warehouse.engine import opened
from nplpipeline.warehouse.tables import load_audit

START = dt.date(2026, 6, 30)
DAYS = 4


def test_twin_days_ingest_without_quarantine(npl_env: dict[str, str]) -> None:
    run_twin_warm_up(800, 5, START, 180, dirty_share=0.0)
    run_ingest(START)
    for k in range(DAYS):
        run_twin_day(START + dt.timedelta(days=k), "status_quo")
    run_ingest(START + dt.timedelta(days=DAYS))
    with opened(npl_env["NPL_WAREHOUSE_URL"]) as engine, engine.connect() as conn:
        audit = pd.DataFrame(
            conn.execute(sa.select(load_audit).where(load_audit.c.drop_date > START)).mappings()
        )
    assert len(audit), "no twin drop was loaded"
    assert set(audit["drop_date"]) == {START + dt.timedelta(days=k) for k in range(1, DAYS + 1)}
    assert {"repayments", "collection_actions", "loans", "installments"} <= set(audit["entity"])
    assert (audit["rows_quarantined"] == 0).all(), audit[audit["rows_quarantined"] > 0]
    assert (audit["rows_loaded"] == audit["rows_in"]).all()
