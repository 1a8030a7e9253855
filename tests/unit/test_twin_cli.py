"""``nplpipeline twin warm-up`` / ``twin step``: the commands the DAG task's stage runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nplpipeline.cli import main


def test_twin_commands_warm_up_then_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPL_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("NPL_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("NPL_GROUND_TRUTH_DIR", str(tmp_path / "truth"))
    monkeypatch.setenv("NPL_TWIN_DIR", str(tmp_path / "twin"))
    runner = CliRunner()
    warm = runner.invoke(
        main,
        [
            "twin",
            "warm-up",
            "--loans",
            "500",
            "--seed",
            "2",
            "--start-date",
            "2026-06-30",
            "--history-days",
            "120",
        ],
    )
    assert warm.exit_code == 0, warm.output
    assert json.loads(warm.output)["loans"] == 500
    step = runner.invoke(main, ["twin", "step", "--as-of", "2026-06-30", "--policy", "status_quo"])
    assert step.exit_code == 0, step.output
    assert json.loads(step.output)["drop_date"] == "2026-07-01"
    assert (tmp_path / "truth" / "status_quo" / "days" / "2026-07-01" / "summary.json").exists()
    assert list((tmp_path / "landing" / "repayments" / "2026-07-01").glob("part-*"))
    behind = runner.invoke(main, ["twin", "step", "--as-of", "2026-06-28"])
    assert behind.exit_code == 1 and "TwinDayError" in behind.output
