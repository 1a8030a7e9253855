"""The whole-book steps streamed by shard give the tables the one-pass path gave.

The KPI stage restates the trailing year's month-end snapshots shard by shard, keeping
only the columns the marts read, and writes only the rows that change; monitoring
rebuilds its two dates' features shard by shard. On a small simulated portfolio, on
DuckDB and PostgreSQL: the streamed snapshots equal the whole-book engine's (the code
before streaming) to the bit, so every mart frame does; the stage's tables are the same
whatever the number of parts, and a rerun changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import shard_chain
import sqlalchemy as sa
from shard_chain import END, train_champion
from simulated_landing import ingest_landing
from warehouse_reads import assert_same_tables, read_tables

from nplpipeline.delinquency.as_known_streamed import MART_COLUMNS, stream_snapshots_as_known
from nplpipeline.delinquency.as_of import snapshots_as_known
from nplpipeline.delinquency.engine import DelinquencyEngine
from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.features.config import load_feature_config
from nplpipeline.features.tables import features_table
from nplpipeline.model.monitoring_stage import run_monitoring
from nplpipeline.model.tables import model_monitoring
from nplpipeline.report import kpis as k
from nplpipeline.report.marts import tables as t
from nplpipeline.report.marts.inputs import read_mart_inputs
from nplpipeline.report.marts.stage import (
    compute_marts,
    from_snapshots,
    run_kpis,
    snapshot_dates,
)
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import get_settings
from nplpipeline.staging import stg_installments, stg_loan_status_history, stg_repayments
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.partitions import replace_where

KPI_TABLES = [table for table in vars(t).values() if isinstance(table, sa.Table)]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shard_chain.land(tmp_path_factory.mktemp("streamed-landing"), dirty=True)


@pytest.fixture
def ingested(landing: Path, npl_env: dict[str, str], monkeypatch, tmp_path) -> dict[str, str]:
    ingest_landing(landing, npl_env, monkeypatch, tmp_path, END)
    run_delinquency_snapshot(END)
    return npl_env


def _whole_book_snapshots(conn, as_of: dt.date, dates: list[dt.date]) -> pd.DataFrame:
    """The code before streaming: one engine over the whole book, full snapshots."""
    inputs = read_mart_inputs(conn, as_of)
    engine = DelinquencyEngine(
        inputs.loans, stg_installments(conn), stg_repayments(conn, as_of),
        get_settings().policy.delinquency,
    )  # fmt: skip
    snaps = snapshots_as_known(engine, dates, stg_loan_status_history(conn, as_of))
    return snaps[list(MART_COLUMNS)]


def test_streamed_snapshots_and_marts_equal_the_whole_book_path(ingested) -> None:
    policy = get_settings().policy
    dates = snapshot_dates(END)[1]
    with transaction(get_settings().warehouse_url) as conn:
        inputs = read_mart_inputs(conn, END)
        want = _whole_book_snapshots(conn, END, dates)
        streamed = {
            parts: stream_snapshots_as_known(
                conn, END, dates, policy.delinquency, inputs.loans["loan_id"], parts
            )
            for parts in (1, 3)
        }
    assert want["as_of_date"].nunique() == len(dates) and want["dpd"].gt(0).any()
    plan = k.load_plan()
    marts_want = compute_marts(
        END, inputs, from_snapshots(END, want, inputs.loans, policy), policy, plan
    )
    for parts, got in streamed.items():
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"{parts} parts")
        marts = compute_marts(
            END, inputs, from_snapshots(END, got, inputs.loans, policy), policy, plan
        )
        for name in ("npl_trend", "roll_rates", "vintage"):
            pd.testing.assert_frame_equal(
                getattr(marts.portfolio, name), getattr(marts_want.portfolio, name),
                check_exact=True, obj=name,
            )  # fmt: skip
        pd.testing.assert_frame_equal(marts.kpi, marts_want.kpi, check_exact=True)


def test_kpi_tables_are_the_same_in_any_number_of_parts_and_on_rerun(ingested, monkeypatch) -> None:
    monkeypatch.setenv("NPL_REDUCE_LOANS_PER_PART", str(shard_chain.LOANS))  # one part
    run_kpis(END)
    whole = read_tables(KPI_TABLES)
    assert len(whole["dim_loan"]) > 0.9 * shard_chain.LOANS  # a few quarantined as dirty
    assert len(whole["mart_npl_trend"]) > 1 and len(whole["mart_roll_rates"]) > 0
    monkeypatch.setenv("NPL_REDUCE_LOANS_PER_PART", "200")  # four parts
    assert get_settings().reduce_parts(shard_chain.LOANS) == 4
    run_kpis(END)
    assert_same_tables(read_tables(KPI_TABLES), whole, check_exact=True)


def test_monitoring_rebuilds_the_same_features_in_parts(ingested, monkeypatch) -> None:
    train_champion()
    tables = [features_table(load_feature_config()), model_monitoring]
    monkeypatch.setenv("NPL_REDUCE_LOANS_PER_PART", str(shard_chain.LOANS))
    run_monitoring(END)
    whole = read_tables(tables)
    assert (whole[tables[0].name]["as_of_date"] == pd.Timestamp(END)).any()
    monkeypatch.setenv("NPL_REDUCE_LOANS_PER_PART", "250")  # three parts
    run_monitoring(END)
    assert_same_tables(read_tables(tables), whole, check_exact=True)


def test_replace_where_ends_with_the_frame_and_spares_other_rows(npl_env) -> None:
    table = t.roi  # keyed by as_of_date
    aug, sep, oct_ = dt.date(2026, 8, 31), dt.date(2026, 9, 30), dt.date(2026, 10, 31)
    base = pd.DataFrame({c.name: [1.0, 2.0, 3.0] for c in table.columns})
    base["as_of_date"] = pd.to_datetime([aug, sep, oct_])
    new = base.iloc[[2]].assign(investment=None, monthly_cost=9.0)  # Sep gone, Oct changed
    with transaction(get_settings().warehouse_url) as conn:
        ensure_schema(conn)
        conn.execute(table.delete())
        assert replace_where(conn, table, None, base) == 3
        replace_where(conn, table, table.c.as_of_date >= sep, new)
        got = read_frame(conn, sa.select(table).order_by(table.c.as_of_date))
    assert pd.to_datetime(got["as_of_date"]).dt.date.tolist() == [aug, oct_]
    assert got["investment"].iloc[0] == 1.0 and pd.isna(got["investment"].iloc[1])
    assert got["monthly_cost"].tolist() == [1.0, 9.0]
