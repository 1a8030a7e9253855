"""MLflow model registry: log, register, alias, and load models safely.

Aliases, not stages (MLflow 3): `champion` is the model scoring production; `challenger`
is the latest candidate the gate refused or has not yet judged (it is removed when the
candidate is promoted). Loading never goes through the model's own trusted-type list or
pickle: we download the artifact, require the skops format and load it with
`serialization.TRUSTED_TYPES`.

**Never load a model with MLflow's own loader** (`mlflow.sklearn.load_model`,
`mlflow.pyfunc.load_model`): it takes the serialization format *and* the skops trusted
types from the artifact's `MLmodel` file -- whoever can write to the artifact store
chooses what gets executed (a pickle, or any type they list) -- and it verifies nothing
about which version the gate approved.

**The champion is verified before it scores.** At promotion, `promote` records in the
version's tags the SHA-256 of the model file (`artifact_sha256`) and the gate's decision
(`gate_decision` = `promoted`). `load_champion` (and `load_version`, by default) refuses
with `ModelIntegrityError` naming the version: a version the gate never approved (an
alias moved by hand), a file whose digest differs (a tampered artifact, even one using
only trusted types), a model path in `MLmodel` outside the artifact folder, and a file
that does not load (corrupt). A champion promoted before these tags existed is refused
too; after reviewing it, `record_promotion` seals it once.

**The champion of a past date is the one promoted for it, not today's.** `promote`
also records the as-of date from which the version is champion (`champion_effective_as_of`:
the training run's as-of date; a version promoted again later keeps its earlier dates,
comma-separated). `champion_as_of(uri, name, D)` is the latest promotion effective on or
before D (ties: the highest version), so a backfill of D scores with the model that was
champion on D. A version promoted before this tag existed is dated by its run's `as_of`
param when logged, else by the day it was registered (it cannot have been champion
before it existed, but a store that trained on past dates dates it too late);
`record_effective` dates it once reviewed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Task logs are read by people: a progress bar per artifact download is noise there.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from nplpipeline.model import serialization
from nplpipeline.settings import mask_url

CHAMPION = "champion"
CHALLENGER = "challenger"
DEFAULT_MODEL_NAME = "npl_recovery_model"
SHA_TAG = "artifact_sha256"  # SHA-256 of the model file, recorded at promotion
GATE_TAG = "gate_decision"  # "promoted" when the gate approved the version
PROMOTED = "promoted"
EFFECTIVE_TAG = "champion_effective_as_of"  # as-of dates from which it is champion
RUN_AS_OF_PARAM = "as_of"  # the training run's as-of date, logged with its params


class NoChampionError(LookupError):
    """No champion: no `champion` alias, or (``champion_as_of``) no promotion effective
    on or before the date. Nothing may be scored."""


class ModelIntegrityError(RuntimeError):
    """A registered model failed verification or does not load; names the version."""


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    name: str
    version: str
    run_id: str | None

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """P(recovery) per row."""
        return self.model.predict_proba(frame)[:, 1]


@dataclass(frozen=True)
class Promotion:
    """One spell as champion: ``version`` from ``effective`` on. ``basis`` says how the
    date is known: ``tag`` (recorded at promotion), ``run_as_of`` (the run's param, a
    version promoted before the tag existed) or ``created`` (its registration day)."""

    version: str
    effective: dt.date
    basis: str


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


def _model_file(local: Path, label: str) -> Path:
    """The skops file `MLmodel` names, confined to the downloaded artifact folder."""
    try:
        meta = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))
        flavor = meta["flavors"].get("sklearn", {})
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ModelIntegrityError(f"{label}: unreadable MLmodel ({type(exc).__name__})") from exc
    if flavor.get("serialization_format") != "skops":
        raise ModelIntegrityError(f"{label} is not stored as skops; refusing to load it")
    name = flavor.get("pickled_model")
    root = local.resolve()
    path = (root / name).resolve() if isinstance(name, str) and name else root
    if not path.is_relative_to(root) or path == root or not path.is_file():
        raise ModelIntegrityError(
            f"{label}: the model file named in MLmodel is not a file inside the artifact"
            " folder; refusing to load it"
        )
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_file(path: Path, label: str) -> Any:
    try:
        return serialization.load(path)
    except Exception as exc:  # corrupt zip, untrusted type, missing class: all refused
        raise ModelIntegrityError(
            f"{label} cannot be loaded ({type(exc).__name__}): the artifact is corrupt or"
            " holds types outside the trusted list"
        ) from exc


def _download_and_load(
    tracking_uri: str, source: str, label: str, expected_sha: str | None = None
) -> Any:
    """Download a logged sklearn model and load it through skops with our trusted list;
    with ``expected_sha``, only when the model file has that SHA-256."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=tracking_uri
            )
        )
        path = _model_file(local, label)
        if expected_sha is not None and (actual := file_sha256(path)) != expected_sha:
            raise ModelIntegrityError(
                f"{label}: model file SHA-256 {actual[:12]}... differs from the"
                f" {expected_sha[:12]}... recorded at promotion; refusing to load it"
            )
        return _load_file(path, label)


def _approved_sha(mv: ModelVersion, label: str) -> str:
    """The SHA-256 recorded when the gate promoted ``mv``; refuses anything else."""
    tags = mv.tags or {}
    if tags.get(GATE_TAG) != PROMOTED:
        raise ModelIntegrityError(
            f"{label} was never approved by the promotion gate ({GATE_TAG}="
            f"{tags.get(GATE_TAG)!r}); refusing to load it"
        )
    sha = tags.get(SHA_TAG, "")
    if len(sha) != 64:
        raise ModelIntegrityError(
            f"{label} has no {SHA_TAG} recorded at promotion; refusing to load it"
            " (review it, then registry.record_promotion seals it)"
        )
    return sha


def load_version(tracking_uri: str, name: str, version: str, *, verify: bool = True) -> LoadedModel:
    """Download a registered version and load it through skops with our trusted list.

    ``verify`` (default) requires the gate's approval and the model file's recorded
    SHA-256; only tests and forensics may look at an unapproved version.
    """
    c = client(tracking_uri)
    mv = c.get_model_version(name, version)
    label = f"{name} v{version}"
    expected = _approved_sha(mv, label) if verify else None
    source = c.get_model_version_download_uri(name, version)
    model = _download_and_load(tracking_uri, source, label, expected)
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
            f"registered model {name!r} has no {CHAMPION!r} alias at {mask_url(tracking_uri)}; "
            "train and promote a model before scoring"
        )
    return load_version(tracking_uri, name, mv.version)


def record_promotion(c: MlflowClient, name: str, version: str) -> str:
    """Record the model file's SHA-256 and the gate's approval in the version's tags."""
    tracking_uri = c._tracking_client.tracking_uri
    source = c.get_model_version_download_uri(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=tracking_uri
            )
        )
        label = f"{name} v{version}"
        path = _model_file(local, label)
        _load_file(path, label)  # never approve what does not load
        sha = file_sha256(path)
    c.set_model_version_tag(name, version, SHA_TAG, sha)
    c.set_model_version_tag(name, version, GATE_TAG, PROMOTED)
    return sha


def promote(c: MlflowClient, name: str, version: str, effective: dt.date | None = None) -> None:
    """Move `champion` to `version` (the gate approved it), sealing it first: its model
    file's SHA-256, the approval and, with ``effective``, the as-of date from which it is
    champion go into its tags before the alias moves."""
    record_promotion(c, name, version)
    if effective is not None:
        record_effective(c, name, version, effective)
    c.set_registered_model_alias(name, CHAMPION, version)
    if (ch := alias_version(c, name, CHALLENGER)) is not None and str(ch.version) == str(version):
        c.delete_registered_model_alias(name, CHALLENGER)


def _effective_dates(mv: ModelVersion) -> list[dt.date]:
    raw = (mv.tags or {}).get(EFFECTIVE_TAG, "")
    try:
        return [dt.date.fromisoformat(p.strip()) for p in raw.split(",") if p.strip()]
    except ValueError as exc:
        raise ModelIntegrityError(
            f"{mv.name} v{mv.version}: unreadable {EFFECTIVE_TAG} tag; refusing to date it"
        ) from exc


def record_effective(c: MlflowClient, name: str, version: str, effective: dt.date) -> None:
    """Add ``effective`` to the as-of dates from which ``version`` is champion; its
    earlier dates stay (a version promoted again keeps its earlier spells)."""
    dates = set(_effective_dates(c.get_model_version(name, version))) | {effective}
    value = ",".join(d.isoformat() for d in sorted(dates))
    c.set_model_version_tag(name, version, EFFECTIVE_TAG, value)


def _undated_promotion(c: MlflowClient, mv: ModelVersion) -> Promotion:
    """A version promoted before ``EFFECTIVE_TAG`` existed: its run's as-of, else the
    day it was registered (it cannot have been champion before it existed)."""
    with contextlib.suppress(MlflowException, ValueError, TypeError):
        raw = c.get_run(mv.run_id).data.params.get(RUN_AS_OF_PARAM) if mv.run_id else None
        if raw:
            return Promotion(str(mv.version), dt.date.fromisoformat(raw), "run_as_of")
    created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC).date()
    return Promotion(str(mv.version), created, "created")


def promotions(c: MlflowClient, name: str) -> list[Promotion]:
    """Every spell as champion of ``name``'s gate-approved versions, oldest first."""
    found: list[Promotion] = []
    for mv in c.search_model_versions(f"name='{name}'"):
        if (mv.tags or {}).get(GATE_TAG) != PROMOTED:
            continue
        dates = _effective_dates(mv)
        if dates:
            found += [Promotion(str(mv.version), d, "tag") for d in dates]
        else:
            found.append(_undated_promotion(c, mv))
    return sorted(found, key=lambda p: (p.effective, int(p.version)))


def champion_as_of(tracking_uri: str, name: str, as_of: dt.date) -> Promotion:
    """The version that was champion for ``as_of``: the latest promotion effective on or
    before it (ties: the highest version). Raises NoChampionError when there is none."""
    eligible = [p for p in promotions(client(tracking_uri), name) if p.effective <= as_of]
    if not eligible:
        raise NoChampionError(
            f"registered model {name!r} at {mask_url(tracking_uri)} had no champion on"
            f" {as_of}: no version was promoted effective on or before that date"
        )
    return eligible[-1]
