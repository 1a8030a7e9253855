"""The live run's day plan: which DAG runs on which day, with which conf."""

from __future__ import annotations

import datetime as dt
from typing import Any

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


def test_training_is_weekly_and_every_other_dag_daily_in_chain_order() -> None:
    run = LiveRun(loans=100, seed=1, start=START, days=15, log=lambda _: None)
    chain = _days(run)
    trained = [day for dag, day, _ in chain.calls if dag == "npl_train_model"]
    assert trained == [START, START + dt.timedelta(7), START + dt.timedelta(14)]
    for offset in range(16):
        day = START + dt.timedelta(offset)
        order = [dag for dag, d, _ in chain.calls if d == day]
        expected = [d for d in DAILY if d != "npl_train_model" or offset % 7 == 0]
        assert order == expected, day
    # every conf names its as-of date: a DAG never falls back to another day
    assert all(conf["as_of"] == day.isoformat() for _, day, conf in chain.calls)


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
