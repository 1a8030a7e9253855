"""Every setting that can carry a credential is masked wherever settings are shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nplpipeline.cli import main
from nplpipeline.model.registry import NoChampionError, load_champion
from nplpipeline.settings import get_settings, mask_text, mask_url

SECRETS = ("wh-s3cr3t", "src-s3cr3t", "mlflow-s3cr3t", "outbox-s3cr3t", "sas-s3cr3t")


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "NPL_WAREHOUSE_URL": "postgresql+psycopg://npl:wh-s3cr3t@db:5432/npl",
        "NPL_SOURCE_URL": "postgresql+psycopg://reader@src/core?password=src-s3cr3t&sslmode=require",
        "NPL_MLFLOW_TRACKING_URI": "https://ml:mlflow-s3cr3t@mlflow.example",
        "NPL_OUTBOX_DIR": "s3://AKIAEXAMPLE:outbox-s3cr3t@bucket/outbox",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_describe_masks_every_url_setting(secret_env: None) -> None:
    shown = get_settings().describe()
    text = str(shown)
    for secret in SECRETS:
        assert secret not in text
    assert shown["warehouse"] == "postgresql+psycopg://npl:***@db:5432/npl"
    assert shown["source"].endswith("?password=***&sslmode=require")
    assert shown["mlflow"] == "https://ml:***@mlflow.example"
    assert shown["outbox"] == "s3://AKIAEXAMPLE:***@bucket/outbox"


def test_the_settings_command_prints_no_credential(secret_env: None) -> None:
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert "***" in result.output
    for secret in SECRETS:
        assert secret not in result.output


def test_mask_url_keeps_what_is_not_secret() -> None:
    assert mask_url("duckdb:////tmp/w.duckdb") == "duckdb:////tmp/w.duckdb"
    assert mask_url("/opt/npl/outbox") == "/opt/npl/outbox"
    assert mask_url("az://c/outbox?sv=2020&sig=sas-s3cr3t") == "az://c/outbox?sv=2020&sig=***"
    assert mask_url("https://user@host/x") == "https://user@host/x"
    assert "mlflow-s3cr3t" not in mask_text("no model at https://u:mlflow-s3cr3t@h/x, sorry")


def test_no_champion_error_masks_the_tracking_uri(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'empty.db'}?password=mlflow-s3cr3t"
    with pytest.raises(NoChampionError) as error:
        load_champion(uri)
    assert "mlflow-s3cr3t" not in str(error.value)
