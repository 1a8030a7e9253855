"""MLflow model registry: log, register, alias, and load models safely.

Aliases, not stages (MLflow 3): `champion` is the model scoring production; `challenger`
is the latest candidate the gate refused or has not yet judged (it is removed when the
candidate is promoted). Loading never goes through the model's own trusted-type list or
pickle: we download the artifact, require the skops format and load it with
`serialization.TRUSTED_TYPES`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from nplpipeline.model import serialization

CHAMPION = "champion"
CHALLENGER = "challenger"
DEFAULT_MODEL_NAME = "npl_recovery_model"


class NoChampionError(LookupError):
    """The registered model has no `champion` alias: nothing may be scored."""


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    name: str
    version: str
    run_id: str | None

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """P(recovery) per row."""
        return self.model.predict_proba(frame)[:, 1]


def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextlib.contextmanager
def tracking(tracking_uri: str) -> Iterator[None]:
    """Point the fluent mlflow API (needed by log_model) at `tracking_uri`, then restore."""
    previous, previous_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        mlflow.set_registry_uri(previous_registry)


def ensure_experiment(c: MlflowClient, name: str, artifact_location: str | None) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return c.create_experiment(name, artifact_location=artifact_location)


def log_model(model: Any, name: str, input_example: pd.DataFrame) -> str:
    """Log with skops + our trusted list (mlflow re-loads it once to prove it loads)."""
    signature = mlflow.models.infer_signature(input_example, model.predict_proba(input_example))
    with serialization.quiet_module_scan():
        info = _log_sklearn(model, name, input_example, signature)
    return info.model_uri


def _log_sklearn(model: Any, name: str, input_example: pd.DataFrame, signature: Any) -> Any:
    return mlflow.sklearn.log_model(
        model,
        name=name,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=serialization.TRUSTED_TYPES,
        input_example=input_example,
        signature=signature,
        pyfunc_predict_fn="predict_proba",
        pip_requirements=_requirements(),
    )


def _requirements() -> list[str]:
    """Pinned from the running environment: skips mlflow's slow import-tracing inference.
    Loading also needs the nplpipeline package itself (our estimator classes)."""
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("scikit-learn", "skops", "numpy", "pandas")]


def alias_version(c: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _download_and_load(tracking_uri: str, source: str, label: str) -> Any:
    """Download a logged sklearn model and load it through skops with our trusted list."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=tracking_uri
            )
        )
        flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"].get("sklearn", {})
        if flavor.get("serialization_format") != "skops":
            raise ValueError(f"{label} is not stored as skops; refusing to load it")
        return serialization.load(local / flavor["pickled_model"])


def load_version(tracking_uri: str, name: str, version: str) -> LoadedModel:
    """Download a registered version and load it through skops with our trusted list."""
    c = client(tracking_uri)
    mv = c.get_model_version(name, version)
    source = c.get_model_version_download_uri(name, version)
    model = _download_and_load(tracking_uri, source, f"{name} v{version}")
    return LoadedModel(model, name, str(version), mv.run_id)


def load_run_model(tracking_uri: str, run_id: str, name: str) -> Any:
    """A model a training run logged under `name` ("scorecard", "boosted"), registered or
    not (the run logs both; only the chosen one is registered). Same safe loading."""
    experiment_id = client(tracking_uri).get_run(run_id).info.experiment_id
    with tracking(tracking_uri):
        found = mlflow.search_logged_models(
            experiment_ids=[experiment_id],
            filter_string=f"source_run_id = '{run_id}' AND name = '{name}'",
            output_format="list",
        )
    if not found:
        raise LookupError(f"run {run_id} logged no model named {name!r}")
    source = found[0].artifact_location
    return _download_and_load(tracking_uri, source, f"{name} of run {run_id}")


def load_champion(tracking_uri: str, name: str = DEFAULT_MODEL_NAME) -> LoadedModel:
    """The `champion` version, loaded safely; raises NoChampionError when there is none."""
    mv = alias_version(client(tracking_uri), name, CHAMPION)
    if mv is None:
        raise NoChampionError(
            f"registered model {name!r} has no {CHAMPION!r} alias at {tracking_uri}; "
            "train and promote a model before scoring"
        )
    return load_version(tracking_uri, name, mv.version)


def promote(c: MlflowClient, name: str, version: str) -> None:
    """Move `champion` to `version`; the previous champion keeps its version, untagged."""
    c.set_registered_model_alias(name, CHAMPION, version)
    if (ch := alias_version(c, name, CHALLENGER)) is not None and str(ch.version) == str(version):
        c.delete_registered_model_alias(name, CHALLENGER)
