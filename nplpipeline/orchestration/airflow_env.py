"""A project-local Airflow: metadata DB, logs and config under ``var/airflow``.

``make demo``, ``make airflow`` and the tests all run Airflow with this environment, so
nothing is installed or configured outside the checkout. Existing ``AIRFLOW__*``
variables win, so a user can still point at their own metadata database.
"""

from __future__ import annotations

import os
from pathlib import Path

from nplpipeline.settings import project_root


def airflow_environment(root: Path | None = None, home: Path | None = None) -> dict[str, str]:
    root = root or project_root()
    home = home or Path(os.environ.get("AIRFLOW_HOME") or root / "var" / "airflow")
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # `airflow standalone` writes the admin password here, not to the console log.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
            home / "simple_auth_manager_passwords.json.generated"
        ),
        "NPL_PROJECT_ROOT": str(root),
    }
    env = {k: os.environ.get(k, v) for k, v in defaults.items()}
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env
