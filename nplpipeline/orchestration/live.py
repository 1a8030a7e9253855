"""The live run: the lender twin and the pipeline, day after day, in two worlds.

Day 0 is the twin's start date S: the warm-up history lands, the pipeline runs its whole
chain for S (training included). Then, for each day D = S+1 ... S+N:

1. each world's twin consumes the decisions of D-1 and writes D's landing drops and
   truth -- the pipeline's world the decisions the pipeline really exported (the CRM's
   received worklist, agency exports, offers: ``read_pipeline_decisions``), the status
   quo's world those of the lender's pre-pipeline policy (``status_quo_decisions``);
2. both worlds are measured over (S, D] into ``mart_policy_comparison``, and the
   learned policy's arm against the same loans in the status quo's world into
   ``mart_nba_comparison`` (nothing while no account is in the nba arm);
3. the pipeline runs its chain for D: ingest, delinquency, scoring, monitoring,
   collections, KPIs; training on day 0 (the first champion) and then on the training
   DAG's own weekly logical dates (``data_calendar.training_days``: what the scheduler
   runs for those as-of dates), unless ``train_every`` asks for every n-th day instead
   (a long comparison's speed knob); the champion is reused in between.

The status quo world never touches the warehouse: it is the lender's book without the
pipeline, started from the same twin state (a copy of the pipeline world's state on S),
so both worlds hold the same accounts and the comparison is paired.

A :class:`Chain` runs one DAG for one day: :class:`AirflowChain` with ``dag.test`` (the
demo), :class:`StageChain` with the stage functions the tasks call (the benchmark's
long comparisons, where Airflow's per-run overhead would dominate).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from nplpipeline.settings import Settings

DAILY = (
    "npl_ingest",
    "npl_delinquency",
    "npl_train_model",  # only on training days
    "npl_score_accounts",
    "npl_model_monitoring",
    "npl_collections",
    "npl_kpis",
)
TRAIN_MONTHS = 18
# Month ends scored on day 0 before S, so the KPI layer has cohorts whose 90-day
# recovery window has closed to compare with the plan's targets (a backfill, in effect).
# A backfill scores with the champion of its own date (``registry.champion_as_of``), so
# day 0 first trains as of the oldest of them: the champion a lender would have had then.
BACKFILL_SCORING_MONTHS = (3, 4)
PIPELINE, STATUS_QUO = "pipeline", "status_quo"


@dataclass(frozen=True)
class World:
    """Where one twin world keeps its state, its drops and its truth."""

    name: str
    twin_dir: Path
    landing_dir: Path
    truth_dir: Path
    decisions_dir: Path  # the live run's log of what the world was asked to do, per day


def worlds(settings: Settings) -> dict[str, World]:
    """The pipeline's world (the landing zone the pipeline ingests) and the status quo's."""
    twin = settings.home / "twin"
    return {
        PIPELINE: World(
            PIPELINE,
            twin / PIPELINE,
            settings.landing_dir,
            settings.ground_truth_dir,
            twin / f"{PIPELINE}-decisions",
        ),
        STATUS_QUO: World(
            STATUS_QUO,
            twin / STATUS_QUO,
            twin / f"{STATUS_QUO}-landing",
            twin / f"{STATUS_QUO}-truth",
            twin / f"{STATUS_QUO}-decisions",
        ),
    }


class Chain(Protocol):
    def run(self, dag_id: str, day: dt.date, conf: dict[str, Any]) -> None: ...


@dataclass
class LiveRun:
    """One live run's parameters, and what each step cost (seconds, per day)."""

    loans: int
    seed: int
    start: dt.date
    days: int
    train_every: int | None = None  # None: the DAG's weekly calendar
    timings: list[dict[str, Any]] = field(default_factory=list)
    log: Callable[[str], None] = print
    on_day: Callable[[dt.date, dict[str, Any]], None] | None = None  # after each comparison

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days)


def _conf(dag_id: str, day: dt.date, last: bool) -> dict[str, Any]:
    conf: dict[str, Any] = {"as_of": day.isoformat()}
    if dag_id == "npl_train_model":
        conf["months"] = TRAIN_MONTHS
    if dag_id == "npl_kpis":
        conf["report"] = last
    return conf


def trains_on(run: LiveRun, day: dt.date) -> bool:
    """Day 0 bootstraps the first champion; then the training DAG's weekly logical dates
    (or every ``train_every`` days when set)."""
    from nplpipeline.orchestration.data_calendar import is_training_day

    offset = (day - run.start).days
    if offset == 0:
        return True
    return is_training_day(day) if run.train_every is None else offset % run.train_every == 0


def backfill_month_ends(start: dt.date) -> list[dt.date]:
    """The month ends day 0 scores before ``start``, in ``BACKFILL_SCORING_MONTHS`` order."""
    return [(pd.Timestamp(start) - pd.offsets.MonthEnd(b)).date() for b in BACKFILL_SCORING_MONTHS]


def pipeline_day(run: LiveRun, chain: Chain, day: dt.date) -> dict[str, float]:
    """The pipeline's DAGs for ``day``, in chain order; seconds per DAG."""
    offset = (day - run.start).days
    seconds: dict[str, float] = {}
    for dag_id in DAILY:
        if dag_id == "npl_train_model" and not trains_on(run, day):
            continue
        if dag_id == "npl_train_model" and offset == 0:
            oldest = min(backfill_month_ends(day))  # its champion: before S's is gated
            chain.run(dag_id, oldest, _conf(dag_id, oldest, last=False))
        if dag_id == "npl_score_accounts" and offset == 0:
            for month_end in backfill_month_ends(day):
                chain.run(dag_id, month_end, {"as_of": month_end.isoformat()})
        began = time.perf_counter()
        chain.run(dag_id, day, _conf(dag_id, day, last=day == run.end))
        seconds[dag_id] = time.perf_counter() - began
    return seconds


def warm_up_worlds(run: LiveRun, places: dict[str, World], dirty_share: float) -> dict:
    """The twin's history up to S in the pipeline's world, copied as the status quo's."""
    from nplpipeline.simulate.twin import TwinConfig, warm_up

    p, q = places[PIPELINE], places[STATUS_QUO]
    for folder in (
        p.twin_dir,
        q.twin_dir,
        q.landing_dir,
        q.truth_dir,
        p.decisions_dir,
        q.decisions_dir,
    ):
        shutil.rmtree(folder, ignore_errors=True)
    config = TwinConfig(
        n_loans=run.loans, seed=run.seed, start_date=run.start, dirty_share=dirty_share
    )
    counts = warm_up(config, p.twin_dir, p.landing_dir, p.truth_dir)
    shutil.copytree(p.twin_dir, q.twin_dir)
    shutil.copytree(p.truth_dir, q.truth_dir)
    q.landing_dir.mkdir(parents=True, exist_ok=True)
    return counts


def twin_day(settings: Settings, places: dict[str, World], day: dt.date) -> dict[str, float]:
    """Both worlds consume ``day``'s decisions and write ``day + 1``; seconds per world."""
    from nplpipeline.report.comparison.outcomes import log_decisions
    from nplpipeline.simulate.twin import (
        load_status_quo_policy,
        read_pipeline_decisions,
        status_quo_decisions,
        step_day,
    )

    seconds = {}
    for name, world in places.items():
        began = time.perf_counter()
        if name == PIPELINE:
            decisions = read_pipeline_decisions(settings, day)
        else:
            decisions = status_quo_decisions(world.twin_dir, day, load_status_quo_policy())
        step_day(world.twin_dir, day, decisions, world.landing_dir, world.truth_dir)
        log_decisions(
            world.decisions_dir,
            day,
            {
                "worklist": decisions.worklist,
                "placement": decisions.placements,
                "recall": decisions.recalls,
                "offer": decisions.offers,
            },
        )
        seconds[f"twin_{name}"] = time.perf_counter() - began
    return seconds


def compare_worlds(
    run: LiveRun, settings: Settings, places: dict[str, World], day: dt.date
) -> dict[str, Any]:
    from nplpipeline.report.comparison.stage import run_policy_comparison
    from nplpipeline.report.nba.stage import run_nba_status_quo

    truth = {name: world.truth_dir for name, world in places.items()}
    logs = {name: world.decisions_dir for name, world in places.items()}
    summary = run_policy_comparison(run.start, day, truth, run.loans, settings, logs)
    # the learned policy's arm against the same loans in the status quo's world
    summary["nba_status_quo"] = run_nba_status_quo(day, truth, settings)
    return summary


def live_run(
    run: LiveRun, chain: Chain, settings: Settings, *, dirty_share: float = 0.005
) -> dict[str, Any]:
    """Warm up, day 0, then ``run.days`` live days; returns the last comparison summary."""
    places = worlds(settings)
    began = time.perf_counter()
    warm_up_worlds(run, places, dirty_share)
    run.timings.append({"day": run.start, "warm_up": time.perf_counter() - began})
    run.log(f"--- twin warm-up to {run.start} ({run.loans:,} loans, seed {run.seed}) ---")
    run.timings[-1].update(pipeline_day(run, chain, run.start))
    run.log(
        "    day 0: " + ", ".join(f"{k} {v:.0f}s" for k, v in run.timings[-1].items() if k != "day")
    )
    comparison: dict[str, Any] = {}
    for offset in range(1, run.days + 1):
        day = run.start + dt.timedelta(days=offset)
        run.log(f"--- live day {offset}/{run.days}: twin writes {day}, pipeline runs {day} ---")
        timing: dict[str, Any] = {"day": day, **twin_day(settings, places, day - dt.timedelta(1))}
        began = time.perf_counter()
        comparison = compare_worlds(run, settings, places, day)
        timing["comparison"] = time.perf_counter() - began
        if run.on_day is not None:
            run.on_day(day, comparison)
        timing.update(pipeline_day(run, chain, day))
        run.timings.append(timing)
        run.log("    " + ", ".join(f"{k} {v:.0f}s" for k, v in timing.items() if k != "day"))
    return comparison
