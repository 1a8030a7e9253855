"""The whole chain through Airflow (``dag.test`` against a migrated metadata DB), on the
embedded warehouse and on PostgreSQL: simulate -> ingest -> delinquency, then a rerun
that must change nothing."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import ROOT

from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.warehouse.engine import begin
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.tables import RAW_TABLES, load_audit

pytestmark = pytest.mark.airflow

AS_OF = dt.date(2026, 10, 31)
LOGICAL = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)


def _run(dags, dag_id: str, conf: dict | None = None) -> str:
    run = dags[dag_id].test(logical_date=LOGICAL, run_conf=conf)
    return str(run.state)


def _fingerprint(engine) -> dict[str, str]:
    """A content hash per table, independent of physical row order."""
    out = {}
    tables = [*RAW_TABLES.values(), delinquency_snapshot]
    with begin(engine) as conn:
        for table in tables:
            frame = read_frame(conn, sa.select(table))
            frame = frame.sort_values(list(frame.columns)).reset_index(drop=True)
            out[table.name] = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    return out


def test_chain_runs_in_airflow_and_reruns_idempotently(
    airflow_db, npl_env, engine: sa.Engine, capfd
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dags = DagBag(dag_folder=str(ROOT / "dags")).dags
    conf = {"loans": 1500, "seed": 7, "end_date": AS_OF.isoformat(), "dirty_share": 0.01}
    assert _run(dags, "npl_simulate_portfolio", conf) == "success"
    assert _run(dags, "npl_ingest") == "success"
    assert _run(dags, "npl_delinquency", {"as_of": AS_OF.isoformat()}) == "success"

    with begin(engine) as conn:
        audit = read_frame(conn, sa.select(load_audit))
        loans = read_frame(conn, sa.select(RAW_TABLES["loans"]))
        customers = read_frame(conn, sa.select(RAW_TABLES["customers"]))
        snapshot = read_frame(
            conn, sa.select(delinquency_snapshot).where(delinquency_snapshot.c.as_of_date == AS_OF)
        )
    # conservation per file, and something was quarantined (the simulator injects 1% dirt)
    assert (audit["rows_in"] == audit["rows_loaded"] + audit["rows_quarantined"]).all()
    assert audit["rows_quarantined"].sum() > 0
    assert set(audit["entity"]) == set(RAW_TABLES)
    # one snapshot row per loan originated by the as-of date, with a coherent picture
    expected = set(loans.loc[loans["origination_date"] <= pd.Timestamp(AS_OF), "loan_id"])
    assert set(snapshot["loan_id"]) == expected
    assert len(snapshot) == len(expected)
    assert ((snapshot["dpd"] > 90) == snapshot["is_npl"]).all()
    assert (snapshot.loc[snapshot["dpd"] == 0, "bucket"] == "current").all()
    assert snapshot["dpd"].gt(0).any()

    before = _fingerprint(engine)
    files_before = len(audit)
    assert _run(dags, "npl_ingest") == "success"
    assert _run(dags, "npl_delinquency", {"as_of": AS_OF.isoformat()}) == "success"
    assert _fingerprint(engine) == before
    with begin(engine) as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(load_audit)).scalar()
            == files_before
        )

    # no borrower's personal data in anything the runs printed (task logs) ...
    printed = capfd.readouterr()
    text = printed.out + printed.err
    sample = customers.dropna(subset=["phone", "national_id", "full_name"]).head(200)
    for column in ("phone", "national_id", "full_name"):
        leaked = [v for v in sample[column] if len(v) > 1 and v in text]
        assert not leaked, f"{column} values appear in task output"
    # ... nor in XCom
    xcom = _xcom_values()
    assert xcom, "tasks should return their counts"
    for column in ("phone", "national_id"):
        assert not any(v in xcom for v in sample[column])


def _xcom_values() -> str:
    from airflow.configuration import conf

    engine = sa.create_engine(conf.get("database", "sql_alchemy_conn"))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select value from xcom")).all()
    engine.dispose()
    return "\n".join(str(r[0]) for r in rows)
