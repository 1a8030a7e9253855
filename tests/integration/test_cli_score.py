"""A stage command on real stores exits like its task: no champion is permanent (1)."""

from __future__ import annotations

from click.testing import CliRunner

from nplpipeline.cli import main
from nplpipeline.cli_common import EXIT_PERMANENT


def test_score_without_a_champion_exits_1_like_the_task(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NPL_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("NPL_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("NPL_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    result = CliRunner().invoke(main, ["score", "--date", "2026-10-31"])
    assert result.exit_code == EXIT_PERMANENT
    assert "NoChampionError" in result.output
