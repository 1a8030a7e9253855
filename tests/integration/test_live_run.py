"""Two live days on the lender twin through the stage functions, beside a status-quo
world: the loop closes (the pipeline's decisions reach the twin, tomorrow's drops come
back), both worlds are measured into mart_policy_comparison, the summary shows it."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest
import sqlalchemy as sa

from nplpipeline.devtools.crm_server import start_crm_server
from nplpipeline.orchestration.live import PIPELINE, STATUS_QUO, LiveRun, live_run, worlds
from nplpipeline.orchestration.stage_chain import StageChain
from nplpipeline.report.comparison.tables import policy_comparison
from nplpipeline.report.summary import collect_summary, format_summary
from nplpipeline.settings import Settings
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import read_frame

START = dt.date(2026, 10, 31)


@pytest.fixture
def live_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("NPL_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("NPL_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.setenv("NPL_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("NPL_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    state = tmp_path / "var" / "crm-standin.sqlite"
    with start_crm_server(seed=3, state_file=state) as crm:
        monkeypatch.setenv("NPL_CRM_URL", crm.url)
        monkeypatch.setenv("NPL_CRM_BATCH_SIZE", "1000")
        yield tmp_path


def test_two_live_days_close_the_loop_and_compare_both_worlds(live_env) -> None:
    settings = Settings()
    seen: list[dt.date] = []
    run = LiveRun(loans=800, seed=5, start=START, days=2, log=lambda _: None,
                  on_day=lambda day, _: seen.append(day))  # fmt: skip
    last = live_run(run, StageChain(), settings)
    assert seen == [START + dt.timedelta(1), START + dt.timedelta(2)]
    assert last["as_of"] == run.end.isoformat() and last["rows"] > 0

    places = worlds(settings)
    p, q = places[PIPELINE], places[STATUS_QUO]
    for world in (p, q):  # each world wrote its own drops and truth for both live days
        for day in seen:
            assert (world.truth_dir / "days" / day.isoformat() / "summary.json").exists()
            assert (world.decisions_dir / f"{(day - dt.timedelta(1)).isoformat()}.parquet").exists()
            assert any((world.landing_dir / "repayments" / day.isoformat()).iterdir())
    # the pipeline's world received the worklist the CRM got; the status quo its own
    got = {
        w.name: pd.read_parquet(w.decisions_dir / f"{START.isoformat()}.parquet") for w in (p, q)
    }
    assert (got[PIPELINE]["kind"] == "worklist").sum() > 0
    assert (got[STATUS_QUO]["kind"] == "worklist").sum() > 0
    assert os.path.realpath(p.landing_dir) == os.path.realpath(settings.landing_dir)

    with transaction(settings.warehouse_url) as conn:
        mart = read_frame(conn, sa.select(policy_comparison))
    assert sorted(mart["as_of_date"].astype(str).unique()) == [d.isoformat() for d in seen]
    final = mart[mart["as_of_date"].astype(str) == run.end.isoformat()]
    assert set(final["policy"]) == {"pipeline", "status_quo", "incremental"}
    overall = final[final["segment"] == "overall"].set_index("policy")
    assert overall.loc["pipeline", "accounts"] == overall.loc["status_quo", "accounts"] > 0
    assert overall.loc["pipeline", "contacts"] > 0 and overall.loc["status_quo", "contacts"] > 0
    inc = overall.loc["incremental"]
    assert inc["ci_low"] <= inc["recovery_rate"] <= inc["ci_high"]

    text = format_summary(collect_summary(settings))
    assert "Pipeline vs status quo on the lender twin" in text
    assert "agency recalls" in text and "commissions paid" in text
