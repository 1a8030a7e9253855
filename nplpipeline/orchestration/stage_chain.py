"""The DAGs' stage functions in chain order, without Airflow (the live benchmark).

Each entry calls exactly what the DAG's tasks call for one as-of date, in the same
order, so a day here produces the same tables as a day of ``dag.test`` runs, without
Airflow's per-run overhead. Drift alerts are reported, not raised (as in the demo).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any


def _ingest(day: dt.date, conf: dict[str, Any]) -> None:
    from nplpipeline.ingest.stage import run_ingest

    run_ingest(day)


def _ingest_without_gx(day: dt.date, conf: dict[str, Any]) -> None:
    """The same rows loaded and quarantined, without the GX checkpoints' cost (their
    results are only recorded, never change what loads)."""
    from nplpipeline.contract import LOAD_ORDER
    from nplpipeline.ingest.loader import IngestOptions, ingest_entity
    from nplpipeline.settings import get_settings
    from nplpipeline.warehouse.engine import opened

    settings = get_settings()
    options = IngestOptions(
        encoding=settings.source_encoding,
        chunk_rows=settings.ingest_chunk_rows,
        max_bad_share=settings.ingest_max_bad_share,
    )
    with opened(settings.warehouse_url) as engine:
        for entity in LOAD_ORDER:
            ingest_entity(engine, settings.landing_dir, entity, day, options)


def _delinquency(day: dt.date, conf: dict[str, Any]) -> None:
    from nplpipeline.delinquency.stage import run_delinquency_snapshot

    run_delinquency_snapshot(day)


def _train(day: dt.date, conf: dict[str, Any]) -> None:
    from nplpipeline.features.stage import run_build_features
    from nplpipeline.features.window import training_month_ends
    from nplpipeline.model.stage import run_training

    ends = training_month_ends(day, int(conf.get("months", 18)))
    run_build_features(ends)
    run_training(ends[0], ends[-1], as_of=day)


def _score(day: dt.date, conf: dict[str, Any]) -> None:
    from nplpipeline.score.stage import run_scoring

    run_scoring(day)


def _monitor(day: dt.date, conf: dict[str, Any]) -> None:
    from nplpipeline.model.monitoring_stage import run_monitoring

    run_monitoring(day)


def _collections(day: dt.date, conf: dict[str, Any]) -> None:
    from nplpipeline.act.delivery.stage import run_crm_delivery
    from nplpipeline.act.placement.stage import run_placements
    from nplpipeline.act.stage import run_treatment_plan, run_worklists
    from nplpipeline.uplift.stage import run_scheduled_training

    run_scheduled_training(day)  # the DAG's train_uplift: before the plan reads it
    run_treatment_plan(day)
    run_placements(day)
    run_worklists(day)
    run_crm_delivery(day)


def _kpis(day: dt.date, conf: dict[str, Any]) -> None:
    from nplpipeline.report.dashboard.report import write_report_if_due
    from nplpipeline.report.marts.stage import run_kpis
    from nplpipeline.report.nba.stage import run_nba_comparison

    run_kpis(day)
    run_nba_comparison(day)  # the DAG's build_nba_comparison
    write_report_if_due(day, bool(conf.get("report")))  # the DAG's management_report


STAGES: dict[str, Callable[[dt.date, dict[str, Any]], None]] = {
    "npl_ingest": _ingest,
    "npl_delinquency": _delinquency,
    "npl_train_model": _train,
    "npl_score_accounts": _score,
    "npl_model_monitoring": _monitor,
    "npl_collections": _collections,
    "npl_kpis": _kpis,
}


# What no later decision reads: skipped by the comparison-only chain.
REPORTING_ONLY = ("npl_model_monitoring", "npl_kpis")


class StageChain:
    """A :class:`~nplpipeline.orchestration.live.Chain` calling the stage functions.

    ``decisions_only`` runs just what the next day's decisions depend on (ingest without
    GX, delinquency, training, scoring, collections): the long policy comparisons.
    """

    def __init__(self, decisions_only: bool = False) -> None:
        self.decisions_only = decisions_only

    def run(self, dag_id: str, day: dt.date, conf: dict[str, Any]) -> None:
        if self.decisions_only:
            if dag_id in REPORTING_ONLY:
                return
            if dag_id == "npl_ingest":
                _ingest_without_gx(day, conf)
                return
        STAGES[dag_id](day, conf)
