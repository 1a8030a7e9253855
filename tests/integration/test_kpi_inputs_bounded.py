"""The KPI stage reads only the rows its marts reach and writes what the whole history gave.

Issue #14: the stage used to read every contact action and repayment ever made. Now it
reads the marts' windows (``report/marts/inputs``). On a small simulated portfolio with
dirty rows, a scored cohort, plans and placements, on DuckDB and PostgreSQL: the
placement history, every mart frame and every KPI table equal, to the bit, what the
former whole-history read (kept here as the reference) gave; and the new read is
smaller. A few planted rows reach past the windows (``_plant_edge_rows``).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import shard_chain
import sqlalchemy as sa
from shard_chain import END

from nplpipeline.act.arms import uniform_draw
from nplpipeline.act.placement.config import load_placement_policy
from nplpipeline.act.placement.history import placement_history
from nplpipeline.act.placement.stage import run_placements
from nplpipeline.act.placement.tables import agency_placements
from nplpipeline.act.stage import run_treatment_plan
from nplpipeline.config.tiers import assign_tiers
from nplpipeline.delinquency.as_known_streamed import stream_snapshots_as_known
from nplpipeline.delinquency.stage import run_delinquency_snapshot
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.ingest.stage import run_ingest
from nplpipeline.report import kpis as k
from nplpipeline.report.marts import inputs as mart_inputs
from nplpipeline.report.marts import stage as kpi_stage
from nplpipeline.report.marts import tables as t
from nplpipeline.report.marts.inputs import (
    _ACTIONS,
    MartInputs,
    placements_frame,
    read_cohort,
    read_mart_inputs,
)
from nplpipeline.report.marts.stage import compute_marts, from_snapshots, snapshot_dates
from nplpipeline.score.tables import account_scores
from nplpipeline.settings import get_settings
from nplpipeline.staging import (
    stg_agencies,
    stg_collectors,
    stg_contact_history,
    stg_installments,
    stg_loans_as_of,
    stg_repayments,
    stg_satisfaction,
)
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.frames import insert_frame, read_frame
from nplpipeline.warehouse.tables import RAW_TABLES

KPI_TABLES = [table for table in vars(t).values() if isinstance(table, sa.Table)]
COHORT = dt.date(2026, 7, 31)  # its 90-day window closed before END
MID_MONTH = dt.date(2026, 10, 14)  # no cohort matured yet for its own scores: the oldest


# ---- the former path: every action and repayment ever made ---------------------------
def _whole_history_placements(conn, inputs: dict[str, pd.DataFrame], as_of: dt.date):
    own = read_frame(conn, sa.select(agency_placements))
    history = placement_history(
        own, inputs["actions"], stg_installments(conn), inputs["repayments"], as_of,
        load_placement_policy().placement_period_days,
    )  # fmt: skip
    return placements_frame(history)


def _whole_history_inputs(conn, as_of: dt.date, loans: pd.DataFrame | None = None) -> MartInputs:
    """``read_mart_inputs`` before issue #14's change, verbatim but for the names (and
    the loans the stage now reads first, for its snapshots)."""
    s = account_scores.c
    events = {
        "actions": stg_contact_history(conn, as_of, _ACTIONS),
        "repayments": stg_repayments(conn, as_of),
    }
    cohort, cohort_date, matured = read_cohort(conn, as_of)
    tiers = sa.select(s.loan_id, s.tier).where(s.as_of_date == as_of)
    return MartInputs(
        loans=stg_loans_as_of(conn, as_of, mart_inputs._LOANS) if loans is None else loans,
        repayments=events["repayments"],
        actions=events["actions"],
        satisfaction=stg_satisfaction(conn, as_of),
        collectors=stg_collectors(conn),
        agencies=stg_agencies(conn),
        cohort=cohort,
        cohort_date=cohort_date,
        cohort_matured=matured,
        placements=_whole_history_placements(conn, events, as_of),
        tiers_today=read_frame(conn, tiers),
    )


# ---- a portfolio with a cohort, plans and placements ----------------------------------
@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shard_chain.land(tmp_path_factory.mktemp("bounded-landing"), dirty=True)


def _fake_scores(conn, as_of: dt.date) -> None:
    """Stand in for the model: a fixed pseudo-random probability per account."""
    d = delinquency_snapshot.c
    snap = read_frame(
        conn,
        sa.select(delinquency_snapshot).where(d.as_of_date == as_of, d.on_book, d.dpd > 0),
    )
    p = 0.05 + 0.9 * uniform_draw(snap["loan_id"], 7)
    scores = pd.DataFrame(
        {
            "as_of_date": as_of, "loan_id": snap["loan_id"], "customer_id": snap["customer_id"],
            "model_name": "npl_recovery_model", "model_version": "1",
            "recovery_probability": p,
            "tier": assign_tiers(snap["dpd"].to_numpy(), p, get_settings().policy.tiering),
            "dpd": snap["dpd"], "bucket": snap["bucket"], "product": snap["product"],
            "overdue_amount": snap["overdue_amount"],
            "outstanding_principal": snap["outstanding_principal"],
            **{f"reason_{i}": "few payments in the last 90 days" for i in (1, 2, 3)},
            **{f"reason_feature_{i}": "payments_90d" for i in (1, 2, 3)},
        }
    )  # fmt: skip
    conn.execute(account_scores.delete().where(account_scores.c.as_of_date == as_of))
    insert_frame(conn, account_scores, scores)


def _copy(conn, table: sa.Table, where, **values) -> None:
    """Insert a copy of the first row matching ``where`` with ``values`` changed."""
    row = conn.execute(sa.select(table).where(where).limit(1)).mappings().one()
    conn.execute(table.insert().values({**row, **values}))


def _plant_edge_rows(conn) -> None:
    """Rows the simulated portfolio may lack, each reaching past a window:

    * a reversal this month, booked without attributes, of an agency repayment older
      than any window (it takes back from that agency only through its original);
    * a survey complaint just inside the trailing year whose customer's latest action,
      just before it, is an agency's (attributed to that agency only if it is read);
    * a survey complaint this year after a collector's call that follows an agency's
      action (the call, read or not, decides who the complaint counts against)."""
    r, a, s = (RAW_TABLES[n] for n in ("repayments", "collection_actions", "satisfaction"))
    first = conn.execute(sa.select(sa.func.min(r.c.paid_at))).scalar()
    original = dict(repayment_id="P_EDGE_ORIGINAL", paid_at=first - dt.timedelta(days=1))
    _copy(conn, r, r.c.agency_id.is_not(None) & r.c.reversal_of.is_(None), **original)
    _copy(
        conn, r, r.c.repayment_id == "P_EDGE_ORIGINAL", repayment_id="P_EDGE_REVERSAL",
        reversal_of="P_EDGE_ORIGINAL", paid_at=dt.datetime(2026, 10, 20, 12), channel="app",
        agency_id=None, collector_id=None,
    )  # fmt: skip
    agency = a.c.channel == "agency"
    start = dt.datetime.combine(mart_inputs.year_ago(END), dt.time())
    for n, (acted, called) in enumerate(
        [(start - dt.timedelta(seconds=2), None), (dt.datetime(2026, 8, 3, 9), True)]
    ):
        action = conn.execute(sa.select(a).where(agency).limit(1).offset(n)).mappings().one()
        _copy(conn, a, a.c.action_id == action["action_id"], action_id=f"A_EDGE_{n}",
              action_at=acted, outcome="no_answer", ptp_date=None, ptp_amount=None)  # fmt: skip
        if called:
            _copy(conn, a, a.c.action_id == action["action_id"], action_id=f"A_EDGE_CALL_{n}",
                  action_at=acted + dt.timedelta(hours=1), channel="call",
                  performed_by="COL_EDGE", outcome="right_party_contact", ptp_date=None,
                  ptp_amount=None)  # fmt: skip
        _copy(conn, s, sa.true(), survey_id=f"S_EDGE_{n}", customer_id=action["customer_id"],
              surveyed_at=acted + dt.timedelta(hours=2, seconds=4), complaint=True)  # fmt: skip


@pytest.fixture
def day(landing: Path, npl_env: dict[str, str]) -> dict[str, str]:
    shutil.copytree(landing, npl_env["NPL_LANDING_DIR"])
    run_ingest(END)
    engine = create_warehouse_engine(get_settings().warehouse_url)
    with begin(engine) as conn:
        _plant_edge_rows(conn)
    for as_of in (COHORT, END):
        run_delinquency_snapshot(as_of)
        with begin(engine) as conn:
            _fake_scores(conn, as_of)
        run_treatment_plan(as_of)
        run_placements(as_of)
    engine.dispose()
    return npl_env


def _tables() -> dict[str, pd.DataFrame]:
    engine = create_warehouse_engine(get_settings().warehouse_url)
    out = {}
    with begin(engine) as conn:
        for table in KPI_TABLES:
            frame = read_frame(conn, sa.select(table))
            keys = list(table.primary_key.columns.keys()) or list(frame.columns)
            out[table.name] = frame.sort_values(keys).reset_index(drop=True)
        for table in KPI_TABLES:
            conn.execute(table.delete())
    engine.dispose()
    return out


def _mart_frames(marts) -> dict[str, pd.DataFrame]:
    r, c = marts.recovery, marts.scorecards
    frames = {"kpi": marts.kpi, "tracking": r.plan_tracking, "uplift": r.uplift, "roi": r.roi}
    frames.update({"agency": c.agency, **{f"card_{n}": f for n, f in c.collectors.items()}})
    return frames


def test_bounded_inputs_give_the_whole_history_marts(day) -> None:
    policy, plan = get_settings().policy, k.load_plan()
    engine = create_warehouse_engine(get_settings().warehouse_url)
    for as_of in (END, MID_MONTH):
        with begin(engine) as conn:
            want, got = _whole_history_inputs(conn, as_of), read_mart_inputs(conn, as_of)
            snaps = stream_snapshots_as_known(
                conn, as_of, snapshot_dates(as_of)[1], policy.delinquency,
                got.loans["loan_id"], 1,
            )  # fmt: skip
        assert len(got.actions) < len(want.actions) and len(got.repayments) < len(want.repayments)
        assert len(want.placements) > 0 and not want.cohort.empty
        pd.testing.assert_frame_equal(got.placements, want.placements, check_exact=True)
        snapped = from_snapshots(as_of, snaps, got.loans, policy)
        frames_want = _mart_frames(compute_marts(as_of, want, snapped, policy, plan))
        frames_got = _mart_frames(compute_marts(as_of, got, snapped, policy, plan))
        assert len(frames_want["kpi"]) > 0 and len(frames_want["agency"]) > 0
        for name, frame in frames_want.items():
            obj = f"{name} on {as_of}"
            pd.testing.assert_frame_equal(frames_got[name], frame, check_exact=True, obj=obj)
    engine.dispose()


def test_kpi_tables_equal_the_whole_history_path(day, monkeypatch) -> None:
    with monkeypatch.context() as mp:
        mp.setattr(kpi_stage, "read_mart_inputs", _whole_history_inputs)
        kpi_stage.run_kpis(END)
    want = _tables()  # and empties them
    kpi_stage.run_kpis(END)
    got = _tables()
    assert len(want["mart_kpi"]) > 0 and len(want["mart_agency_scorecard"]) > 0
    for name, frame in want.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)
