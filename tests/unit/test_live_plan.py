"""The live run's day plan: which DAG runs on which day, with which conf."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import ROOT

from nplpipeline.orchestration.data_calendar import report_due, training_days
from nplpipeline.orchestration.live import DAILY, PIPELINE, STATUS_QUO, LiveRun, pipeline_day
from nplpipeline.orchestration.live import worlds as live_worlds
from nplpipeline.orchestration.stage_chain import STAGES
from nplpipeline.settings import Settings

START = dt.date(2026, 10, 31)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dt.date, dict[str, Any]]] = []

    def run(self, dag_id: str, day: dt.date, conf: dict[str, Any]) -> None:
        self.calls.append((dag_id, day, conf))


def _days(run: LiveRun) -> Recorder:
    chain = Recorder()
    for offset in range(run.days + 1):
        pipeline_day(run, chain, run.start + dt.timedelta(days=offset))
    return chain


def _dag_logical_dates(dag_id: str, first: dt.date, last: dt.date) -> list[dt.date]:
    """The logical dates the DAG's own timetable gives within [first, last] (a backfill's
    or a catching-up scheduler's runs), whatever the wall clock says."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables.base import TimeRestriction

    bag = DagBag(dag_folder=str(ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    # the timetable as the scheduler holds it: serialized by the dag-processor
    timetable = decode_timetable(encode_timetable(bag.dags[dag_id].timetable))
    utc = lambda d: dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC)  # noqa: E731
    restriction = TimeRestriction(earliest=utc(first), latest=utc(last), catchup=True)
    dates, interval = [], None
    while (info := timetable.next_dagrun_info(
        last_automated_data_interval=interval, restriction=restriction
    )) is not None:  # fmt: skip
        dates.append(info.logical_date.date())
        interval = info.data_interval
    return dates


def test_training_follows_the_dags_weekly_logical_dates_and_every_other_dag_is_daily() -> None:
    run = LiveRun(loans=100, seed=1, start=START, days=15, log=lambda _: None)
    chain = _days(run)
    trained = [day for dag, day, _ in chain.calls if dag == "npl_train_model"]
    # the DAG's timetable over the same 15 simulated days (START is a Saturday)
    weekly = _dag_logical_dates("npl_train_model", START, run.end)
    assert weekly == [dt.date(2026, 11, 1), dt.date(2026, 11, 8), dt.date(2026, 11, 15)]
    assert weekly == training_days(START, run.end)
    # day 0 bootstraps a champion as of its oldest backfilled month end, then trains for S
    assert trained == [dt.date(2026, 6, 30), START, *weekly]
    for offset in range(16):
        day = START + dt.timedelta(offset)
        order = [dag for dag, d, _ in chain.calls if d == day]
        expected = [d for d in DAILY if d != "npl_train_model" or day in trained]
        assert order == expected, day
    # every conf names its as-of date: a DAG never falls back to another day
    assert all(conf["as_of"] == day.isoformat() for _, day, conf in chain.calls)
    # a long comparison may ask for every n-th day instead
    sparse = LiveRun(loans=100, seed=1, start=START, days=15, train_every=14, log=print)
    assert [d for g, d, _ in _days(sparse).calls if g == "npl_train_model"] == [
        dt.date(2026, 6, 30),
        START,
        START + dt.timedelta(14),
    ]


def test_the_report_is_due_on_month_ends_only_unless_asked() -> None:
    days = [dt.date(2026, 10, 25) + dt.timedelta(i) for i in range(70)]
    due = [d for d in days if report_due(d)]
    assert due == [dt.date(2026, 10, 31), dt.date(2026, 11, 30), dt.date(2026, 12, 31)]
    assert report_due(dt.date(2026, 11, 3), asked=True)
    assert report_due(dt.date(2028, 2, 29)) and not report_due(dt.date(2028, 2, 28))


def test_day_zero_backfills_month_end_scores_and_the_last_day_writes_the_report() -> None:
    run = LiveRun(loans=100, seed=1, start=START, days=2, log=lambda _: None)
    chain = _days(run)
    scored = [day for dag, day, _ in chain.calls if dag == "npl_score_accounts"]
    assert scored == [dt.date(2026, 7, 31), dt.date(2026, 6, 30), START,
                      START + dt.timedelta(1), START + dt.timedelta(2)]  # fmt: skip
    reports = [(day, c["report"]) for dag, day, c in chain.calls if dag == "npl_kpis"]
    assert reports == [(START, False), (START + dt.timedelta(1), False), (run.end, True)]


def test_the_stage_chain_covers_every_dag_and_the_worlds_stay_apart(tmp_path, monkeypatch):
    assert set(STAGES) == set(DAILY)
    monkeypatch.setenv("NPL_HOME", str(tmp_path / "var"))
    places = live_worlds(Settings())
    p, q = places[PIPELINE], places[STATUS_QUO]
    assert p.landing_dir == Settings().landing_dir  # the pipeline ingests its own world
    folders = [p.twin_dir, p.landing_dir, p.truth_dir, q.twin_dir, q.landing_dir, q.truth_dir]
    assert len(set(folders)) == 6
