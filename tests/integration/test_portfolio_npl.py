"""The plan's picture, measured by the pipeline itself on a 100k-loan simulation:
NPL ratio near 5.5%, concentrated among young and low-income borrowers."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.settings import get_settings
from nplpipeline.simulate.stage import run_simulation
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.tables import RAW_TABLES

AS_OF = dt.date(2026, 10, 31)


def _npl_ratio(frame: pd.DataFrame) -> float:
    return (
        frame.loc[frame["is_npl"], "outstanding_principal"].sum()
        / frame["outstanding_principal"].sum()
    )


@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_100k_portfolio_npl_ratio_and_concentration(npl_env) -> None:
    run_simulation(loans=100_000, seed=42, end_date=AS_OF)
    run_ingest(AS_OF)
    run_delinquency_snapshot(AS_OF)

    s, c = delinquency_snapshot, RAW_TABLES["customers"]
    query = (
        sa.select(s.c.outstanding_principal, s.c.is_npl, c.c.birth_date, c.c.monthly_income)
        .join(c, c.c.customer_id == s.c.customer_id)
        .where(s.c.as_of_date == AS_OF, s.c.on_book)
    )
    with transaction(get_settings().warehouse_url) as conn:
        book = read_frame(conn, query)

    overall = _npl_ratio(book)
    assert 0.045 <= overall <= 0.065, overall

    age = (pd.Timestamp(AS_OF) - book["birth_date"]).dt.days / 365.25
    young = _npl_ratio(book[age < 30])
    assert young >= 1.3 * overall, (young, overall)

    income = book.dropna(subset=["monthly_income"])
    lowest = income["monthly_income"] <= income["monthly_income"].quantile(0.2)
    low_income = _npl_ratio(income[lowest])
    assert low_income >= 1.3 * overall, (low_income, overall)
