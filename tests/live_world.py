"""A live world for tests: warm-up history from the lender twin, then consecutive days of
pipeline <-> twin, driven by the stage functions the DAGs call (not Airflow).

    with live_world(tmp_path, monkeypatch, warehouse_url, loans=1200) as world:
        run_days(world, 5)
        check_all(world.url, world.days, world.snapshots, outbox=world.outbox)

One day D is what the scheduler runs for D, in the DAGs' order: ingest (drops up to D)
-> delinquency -> scoring -> treatment plan -> placements -> worklists -> CRM delivery
(to a stand-in CRM on a free port) -> KPIs; then the twin consumes what the CRM received
and the agency bundles of D and writes the drops of D + 1. The model is trained once in
the warm-up (weekly retraining adds nothing a few days can show). After each day the
KPI rows of D are snapshotted (``world.snapshots``) for ``check_kpis_frozen``.

Settings come from the environment (``NPL_*``), set here per test on ``monkeypatch``,
so nothing is shared between tests (own folders, own warehouse, own CRM port).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from live_invariants import kpi_snapshot

from nplpipeline.act.delivery.crm_config import CrmEndpoint
from nplpipeline.devtools.crm_server import RunningCrm, start_crm_server
from nplpipeline.settings import get_settings

START = dt.date(2026, 10, 31)
# Placements of a few days, so that a short run sees recalls at period end too.
PLACEMENT_PERIOD_DAYS = 3


@dataclass
class LiveWorld:
    root: Path
    url: str
    start: dt.date
    endpoint: CrmEndpoint
    crm: RunningCrm
    days: list[dt.date] = field(default_factory=list)  # the as-of dates the pipeline ran
    snapshots: dict[dt.date, dict[str, pd.DataFrame]] = field(default_factory=dict)
    summaries: dict[dt.date, dict[str, Any]] = field(default_factory=dict)

    @property
    def twin_dir(self) -> Path:
        return self.root / "twin"

    @property
    def outbox(self) -> Path:
        return Path(get_settings().outbox_dir)

    def crm_applied(self) -> dict[str, dict[str, Any]]:
        """What the stand-in CRM applied, by as-of date and item id (ids and counts)."""
        return {d.isoformat(): self.crm.state.applied_items(d.isoformat()) for d in self.days}


def _environment(root: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    policy = root / "placement.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(f"placement_period_days: {PLACEMENT_PERIOD_DAYS}\n", encoding="utf-8")
    env = {
        "NPL_HOME": root / "var",
        "NPL_WAREHOUSE_URL": url,
        "NPL_LANDING_DIR": root / "landing",
        "NPL_GROUND_TRUTH_DIR": root / "truth",
        "NPL_TWIN_DIR": root / "twin",
        "NPL_OUTBOX_DIR": root / "outbox",
        "NPL_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "NPL_MLFLOW_ARTIFACT_ROOT": root / "artifacts",
        "NPL_PLACEMENT_POLICY": policy,
        "NPL_CRM_STATE_FILE": root / "crm-state.sqlite",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    for key in ("NPL_CRM_URL", "NPL_CRM_TOKEN", "AIRFLOW_CONN_NPL_CRM"):
        monkeypatch.delenv(key, raising=False)


def warm_up_pipeline(start: dt.date, months: int) -> None:
    """Load the history, snapshot it and train the first champion."""
    from nplpipeline.features.stage import run_build_features
    from nplpipeline.features.window import training_month_ends
    from nplpipeline.ingest.stage import run_ingest
    from nplpipeline.model.stage import run_training

    run_ingest(start)
    dates = training_month_ends(start, months)
    run_build_features(dates)
    run_training(dates[0], dates[-1])


def pipeline_day(day: dt.date, endpoint: CrmEndpoint) -> dict[str, Any]:
    """Everything the scheduler runs for as-of ``day``, in the DAGs' order."""
    from nplpipeline.act.delivery.stage import run_crm_delivery
    from nplpipeline.act.placement.stage import run_placements
    from nplpipeline.act.stage import run_treatment_plan, run_worklists
    from nplpipeline.delinquency.stage import run_delinquency_snapshot
    from nplpipeline.ingest.stage import run_ingest
    from nplpipeline.report.marts.stage import run_kpis
    from nplpipeline.score.stage import run_scoring

    out: dict[str, Any] = {"ingest": run_ingest(day)}
    out["delinquency"] = run_delinquency_snapshot(day)
    out["scoring"] = run_scoring(day)
    out["plan"] = run_treatment_plan(day)
    placements = run_placements(day)
    placements.pop("suppression_log", None)
    out["placements"] = placements
    out["worklists"] = run_worklists(day)
    out["delivery"] = run_crm_delivery(day, endpoint=endpoint)
    out["kpis"] = run_kpis(day)
    return out


def twin_day(world: LiveWorld, day: dt.date) -> dict[str, Any]:
    """The twin works what the pipeline decided on ``day`` and writes the drops of day + 1."""
    from nplpipeline.simulate.twin import read_pipeline_decisions, step_day

    settings = get_settings()
    decisions = read_pipeline_decisions(settings, day)
    return step_day(world.twin_dir, day, decisions, settings.landing_dir, settings.ground_truth_dir)


def run_days(world: LiveWorld, n: int) -> list[dt.date]:
    """``n`` more consecutive live days; returns the days run."""
    ran = []
    for _ in range(n):
        day = world.days[-1] + dt.timedelta(days=1) if world.days else world.start
        summary = pipeline_day(day, world.endpoint)
        world.snapshots[day] = kpi_snapshot(world.url, day)
        summary["twin"] = twin_day(world, day)
        world.days.append(day)
        world.summaries[day] = summary
        ran.append(day)
    return ran


@contextmanager
def live_world(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    *,
    loans: int = 1500,
    seed: int = 7,
    start: dt.date = START,
    months: int = 12,
    history_days: int = 500,
) -> Iterator[LiveWorld]:
    """Warm-up twin history up to ``start`` loaded and a model trained; the stand-in CRM
    running (records what it applied in its state file, which the twin reads)."""
    from nplpipeline.simulate.twin import TwinConfig, warm_up

    _environment(root, monkeypatch, url)
    settings = get_settings()
    config = TwinConfig(
        n_loans=loans, seed=seed, start_date=start, history_days=history_days, dirty_share=0.002
    )
    warm_up(config, root / "twin", settings.landing_dir, settings.ground_truth_dir)
    warm_up_pipeline(start, months)
    with start_crm_server(state_file=root / "crm-state.sqlite") as crm:
        endpoint = CrmEndpoint(url=crm.url, source="test", backoff_base=0.01)
        yield LiveWorld(root=root, url=url, start=start, endpoint=endpoint, crm=crm)
