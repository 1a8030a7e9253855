"""A simulated landing zone made once per test module, then loaded into each test's warehouse.

Simulating a portfolio takes seconds, so the slow integration tests land one per module
(under a module-scoped tmp root) and copy it into each test's own folders. The simulator
reads its paths from ``NPL_*``; they point at the tmp root only while it runs, so the
test's own settings (``npl_env``) are untouched.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from nplpipeline.ingest.stage import run_ingest
from nplpipeline.simulate.stage import run_simulation


def simulate_landing(
    root: Path, *, loans: int, seed: int, end_date: dt.date, dirty_share: float | None = None
) -> Path:
    """Simulate ``loans`` loans under ``root``; returns the landing folder.

    Without ``dirty_share`` the simulator's own default applies (a few dirty rows);
    pass 0.0 for a clean book."""
    dirty = {} if dirty_share is None else {"dirty_share": dirty_share}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPL_LANDING_DIR", str(root / "landing"))
        mp.setenv("NPL_GROUND_TRUTH_DIR", str(root / "truth"))
        mp.setenv("NPL_HOME", str(root / "var"))
        run_simulation(loans=loans, seed=seed, end_date=end_date, **dirty)
    return root / "landing"


def ingest_landing(
    landing: Path,
    npl_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    as_of: dt.date,
) -> str:
    """Copy ``landing`` into this test's landing folder and ingest it up to ``as_of``,
    with MLflow in this test's tmp folder (nothing shared between tests); returns the
    MLflow tracking URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("NPL_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("NPL_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    shutil.copytree(landing, npl_env["NPL_LANDING_DIR"])
    run_ingest(as_of)
    return uri
