"""Training, MLflow registration and the promotion gate, on a throwaway sqlite store.

One registry is built up across the module, in order: first model -> champion; a
better challenger -> promoted; a deliberately worse one (trained on shuffled labels) ->
refused with the champion alias unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from nplpipeline.devtools.synthetic import make_recovery_frame
from nplpipeline.model import registry
from nplpipeline.model.config import (
    OTHER_DATA_EXPERIMENT,
    OTHER_DATA_MODEL_NAME,
    ColumnsConfig,
    GateConfig,
    ModelConfig,
)
from nplpipeline.model.gate import decide
from nplpipeline.model.monitoring import load_reference
from nplpipeline.model.registry import ModelIntegrityError, NoChampionError, load_champion
from nplpipeline.model.train import artifact_root_for, train_and_register

NAME = "npl_recovery_model"
CFG = ModelConfig(evaluation_sample_rows=3000)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("mlflow")
    return {
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifact_location": (root / "artifacts").as_uri(),
    }


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return make_recovery_frame(12_000, n_dates=10, seed=5)


def _train(store, frame, config=CFG, dq="dq-1"):
    return train_and_register(
        frame, config, data_identity={"dq_run_id": dq}, pipeline=True, **store
    )


def _aliases(store) -> dict[str, str]:
    aliases = registry.client(store["tracking_uri"]).get_registered_model(NAME).aliases
    return {k: str(v) for k, v in aliases.items()}


def test_load_champion_refuses_when_none(tmp_path: Path) -> None:
    with pytest.raises(NoChampionError):
        load_champion(f"sqlite:///{tmp_path / 'empty.db'}")


@pytest.fixture(scope="module")
def first(store, base):
    # a weak first model: it may not see the contact and interaction features
    weak = ModelConfig(
        evaluation_sample_rows=3000,
        columns=ColumnsConfig(feature_columns=("dpd", "paid_90d", "balance", "product", "bucket")),
    )
    return _train(store, base, weak)


def test_first_model_becomes_champion(store, base, first) -> None:
    assert first.promoted and first.gate.reason.startswith("no champion")
    assert _aliases(store) == {"champion": first.version}
    run = registry.client(store["tracking_uri"]).get_run(first.run_id)
    assert run.data.tags["gate.decision"] == "promoted"
    assert run.data.tags["data.identity.dq_run_id"] == "dq-1"
    assert run.data.tags["data.test_to"] == str(base.as_of_date.max().date())
    assert run.data.metrics["boosted.oot.auc"] > 0.6
    assert "scorecard.oot.auc.product.cash_loan" in run.data.metrics
    # the champion was chosen on validation rows inside training, and the run says so
    assert run.data.tags["chosen_model"] == first.chosen == run.data.params["selection.chosen"]
    assert run.data.params["selection.method"] == "latest_dates"
    validation = {n: run.data.metrics[f"{n}.validation.auc"] for n in first.selection.auc}
    best, margin = max(validation, key=validation.get), first.selection.margin
    assert validation[first.chosen] >= validation[best] - margin[first.chosen]
    order = list(first.selection.auc)  # simplest first: each earlier one trailed too far
    assert all(
        validation[n] < validation[best] - margin[n] for n in order[: order.index(first.chosen)]
    )
    assert run.data.params["split.kind"] == "out_of_time"
    assert int(run.data.params["boosted.resolved.min_samples_leaf"]) >= 5
    names = {
        a.path for a in registry.client(store["tracking_uri"]).list_artifacts(first.run_id, "plots")
    }
    assert names == {f"plots/{p}.png" for p in ("roc", "calibration", "ks", "importance")}


def test_both_models_of_a_run_load_safely(store, base, first) -> None:
    """The run logs scorecard and booster; the unregistered one loads too (benchmarks)."""
    X = base.head(50)
    for name in ("scorecard", "boosted"):
        model = registry.load_run_model(store["tracking_uri"], first.run_id, name)
        p = model.predict_proba(X)[:, 1]
        assert p.shape == (50,) and ((p >= 0) & (p <= 1)).all()
    chosen = registry.load_run_model(store["tracking_uri"], first.run_id, first.chosen)
    assert np.allclose(chosen.predict_proba(X), first.model.predict_proba(X))
    with pytest.raises(LookupError):
        registry.load_run_model(store["tracking_uri"], first.run_id, "nonexistent")
    ref = load_reference(store["tracking_uri"], first.run_id)
    assert len(ref["score"]["shares"]) == len(ref["score"]["edges"]) + 2
    assert ref["features"] and set(ref["features"]) <= {
        "dpd",
        "paid_90d",
        "balance",
        "product",
        "bucket",
    }


def test_load_champion_round_trips_through_skops(store, base, first) -> None:
    champ = load_champion(store["tracking_uri"])
    assert champ.version == first.version and champ.run_id == first.run_id
    rows = base.tail(500)
    assert np.allclose(champ.score(rows), first.model.predict_proba(rows)[:, 1])


@pytest.fixture(scope="module")
def better(store, base, first):
    return _train(store, base, dq="dq-2")


def test_better_challenger_is_promoted(store, first, better) -> None:
    assert better.promoted, better.gate
    checks = {c.name: c for c in better.gate.checks}
    assert checks["auc"].value > checks["auc"].limit  # beat the champion on the same OOT rows
    assert checks["score_psi_train_to_test"].value < 0.25
    assert better.gate.champion_version == first.version
    assert _aliases(store) == {"champion": better.version}  # challenger alias cleared


@pytest.fixture(scope="module")
def worse(store, base, better):
    # shuffle labels in the training period only: the OOT labels stay real
    frame = base.copy()
    train = frame.as_of_date < sorted(frame.as_of_date.unique())[-CFG.split.test_dates]
    rng = np.random.default_rng(0)
    frame.loc[train, "label"] = rng.permutation(frame.loc[train, "label"].to_numpy())
    return _train(store, frame, dq="dq-3")


def test_worse_challenger_is_refused(store, better, worse) -> None:
    assert not worse.promoted
    assert "auc" in worse.gate.reason
    assert _aliases(store) == {"champion": better.version, "challenger": worse.version}
    assert load_champion(store["tracking_uri"]).version == better.version
    c = registry.client(store["tracking_uri"])
    assert c.get_model_version(NAME, worse.version).tags["gate_decision"] == "refused"
    run = c.get_run(worse.run_id)
    assert run.data.tags["gate.decision"] == "refused"
    assert run.data.metrics["gate.auc"] < run.data.metrics["gate.auc.limit"]
    local = mlflow.artifacts.download_artifacts(
        run_id=worse.run_id, artifact_path="gate/decision.json", tracking_uri=store["tracking_uri"]
    )
    decision = json.loads(Path(local).read_text())
    assert decision["promote"] is False and decision["champion_version"] == better.version


# -- the champion is verified before it scores ----------------------------------------------
def _artifact(store, version: str) -> tuple[Path, Path]:
    """(artifact folder, model file) of a registered version in the local artifact store."""
    from urllib.parse import unquote, urlsplit

    import yaml

    uri = registry.client(store["tracking_uri"]).get_model_version_download_uri(NAME, version)
    folder = Path(unquote(urlsplit(uri).path))
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    return folder, folder / meta["flavors"]["sklearn"]["pickled_model"]


@pytest.fixture
def restore(store, better):
    """Put the champion's files, tags and alias back however a test left them."""
    c = registry.client(store["tracking_uri"])
    folder, model_file = _artifact(store, better.version)
    saved = {p: p.read_bytes() for p in (folder / "MLmodel", model_file)}
    tags = dict(c.get_model_version(NAME, better.version).tags)
    yield c
    for path, data in saved.items():
        path.write_bytes(data)
    for key in (registry.SHA_TAG, registry.GATE_TAG):
        c.set_model_version_tag(NAME, better.version, key, tags[key])
    c.set_registered_model_alias(NAME, registry.CHAMPION, better.version)
    assert load_champion(store["tracking_uri"]).version == better.version


def test_promotion_records_the_artifact_sha256_and_the_gate_decision(store, better) -> None:
    tags = registry.client(store["tracking_uri"]).get_model_version(NAME, better.version).tags
    _, model_file = _artifact(store, better.version)
    assert tags[registry.GATE_TAG] == "promoted"
    assert tags[registry.SHA_TAG] == registry.file_sha256(model_file)


def test_a_version_the_gate_refused_is_not_loaded_under_the_alias(store, worse, restore) -> None:
    restore.set_registered_model_alias(NAME, registry.CHAMPION, worse.version)
    with pytest.raises(ModelIntegrityError, match=rf"v{worse.version} was never approved"):
        load_champion(store["tracking_uri"])


def test_a_tampered_artifact_of_trusted_types_is_refused(store, first, better, restore) -> None:
    from nplpipeline.model import serialization

    _, model_file = _artifact(store, better.version)
    serialization.dump(first.model, model_file)  # a real, loadable model: another one
    assert serialization.load(model_file) is not None
    with pytest.raises(ModelIntegrityError, match=rf"v{better.version}: model file SHA-256"):
        load_champion(store["tracking_uri"])


def test_a_model_path_outside_the_artifact_folder_is_refused(store, better, restore) -> None:
    folder, model_file = _artifact(store, better.version)
    outside = folder.parent / "elsewhere.skops"
    outside.write_bytes(model_file.read_bytes())  # same bytes, same digest, wrong place
    mlmodel = folder / "MLmodel"
    text = mlmodel.read_text().replace(model_file.name, f"../{outside.name}")
    mlmodel.write_text(text)
    with pytest.raises(ModelIntegrityError, match=rf"v{better.version}.*inside the artifact"):
        load_champion(store["tracking_uri"])


def test_a_corrupt_model_fails_naming_the_version(store, better, restore) -> None:
    _, model_file = _artifact(store, better.version)
    model_file.write_bytes(b"PK\x03\x04 not really a zip")
    digest = registry.file_sha256(model_file)  # even with a matching digest recorded
    restore.set_model_version_tag(NAME, better.version, registry.SHA_TAG, digest)
    with pytest.raises(ModelIntegrityError, match=rf"v{better.version} cannot be loaded"):
        load_champion(store["tracking_uri"])


def test_other_data_never_touches_the_pipelines_model(store, base, better, worse) -> None:
    """The README path: same store, default config, undated data of another shape."""
    before = _aliases(store)
    versions = len(registry.client(store["tracking_uri"]).search_model_versions(f"name='{NAME}'"))
    public = base.drop(columns=["as_of_date", "tier"]).sample(4000, random_state=1)
    other = train_and_register(public, ModelConfig(evaluation_sample_rows=1000), **store)
    c = registry.client(store["tracking_uri"])
    assert _aliases(store) == before  # neither champion nor challenger moved
    assert len(c.search_model_versions(f"name='{NAME}'")) == versions
    assert other.model_name == OTHER_DATA_MODEL_NAME and other.promoted
    assert c.get_experiment(other.experiment_id).name == OTHER_DATA_EXPERIMENT
    run = c.get_run(other.run_id)
    assert run.data.params["split.kind"] == "random_stratified"
    assert run.data.params["selection.method"] == "stratified_folds"
    assert run.data.params["boosted.resolved.recency_half_life_days"] == "None"
    with pytest.raises(ValueError, match="pipeline's registered model"):
        train_and_register(public, ModelConfig(registered_model_name=NAME), **store)
    assert _aliases(store) == before


def test_artifacts_follow_the_tracking_uri(tmp_path: Path) -> None:
    db = tmp_path / "store" / "mlflow.db"
    assert artifact_root_for(f"sqlite:///{db}") == (db.parent / "artifacts").as_uri()
    assert artifact_root_for("http://127.0.0.1:5000") is None


# -- the gate rule on its own ---------------------------------------------------------------
def _segs(aucs: dict[str, float], n: int = 1000) -> pd.DataFrame:
    return pd.DataFrame(
        [{"segment": "bucket", "value": k, "n": n, "auc": v} for k, v in aucs.items()]
    )


def test_gate_refuses_segment_collapse_and_drift() -> None:
    g = GateConfig(auc_margin=0.005)
    champ = _segs({"M1": 0.80, "M3": 0.75})
    ok = decide(g, 0.86, 0.05, 0.85, _segs({"M1": 0.82, "M3": 0.72}), champ)
    assert ok.promote
    collapse = decide(g, 0.86, 0.05, 0.85, _segs({"M1": 0.85, "M3": 0.69}), champ)
    assert not collapse.promote and "worst_segment_auc_drop" in collapse.reason
    tiny = decide(g, 0.86, 0.05, 0.85, _segs({"M1": 0.85, "M3": 0.50}, n=50), champ)
    assert tiny.promote  # segments below min_segment_rows are too noisy to gate on
    assert not decide(g, 0.86, 0.30, 0.85, None, None).promote  # score PSI over the limit
    assert not decide(g, 0.853, 0.05, 0.85, None, None).promote  # inside the margin
    unscorable = decide(g, 0.9, 0.01, None, champion_error="KeyError: x")
    assert not unscorable.promote and "manual review" in unscorable.reason
