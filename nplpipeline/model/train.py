"""Train both models, validate out of time, log to MLflow, register, and run the gate.

`train_and_register` is the one entry point an Airflow task needs. Every figure the gate
uses is logged with the run (metrics, tags, `gate/decision.json`), so a promotion or a
refusal can be audited from MLflow alone.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from nplpipeline.model import metrics, monitoring, plots, registry
from nplpipeline.model.boosting import BoostedRecoveryModel
from nplpipeline.model.config import ModelConfig
from nplpipeline.model.frame import FeatureSpec, infer_feature_spec, label_array
from nplpipeline.model.gate import GateDecision, decide
from nplpipeline.model.scorecard import WoEScorecard
from nplpipeline.model.split import OOTSplit, out_of_time_split


@dataclass
class TrainingResult:
    run_id: str
    experiment_id: str
    model_name: str
    version: str
    chosen: str  # "boosted" or "scorecard"
    oot_metrics: dict[str, dict[str, float]]  # model -> summary
    segments: pd.DataFrame  # model, segment, value, n, auc, ...
    gate: GateDecision
    model: Any  # the fitted estimator that was registered
    timings: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return self.gate.promote


def fit_models(
    split: OOTSplit, spec: FeatureSpec, config: ModelConfig
) -> tuple[dict[str, Any], dict[str, float]]:
    """Scorecard and boosted model on the training period; returns models and seconds."""
    cols = config.columns
    y = label_array(split.train, cols.label_column)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    sc = WoEScorecard(
        list(spec.numeric), list(spec.categorical), **config.scorecard.model_dump()
    ).fit(split.train, y)
    timings["fit_scorecard_s"] = time.perf_counter() - t
    t = time.perf_counter()
    bo = BoostedRecoveryModel.from_config(
        config.boosting, list(spec.numeric), list(spec.categorical)
    )
    bo.fit(split.train, y, split.train[cols.date_column])
    timings["fit_boosted_s"] = time.perf_counter() - t
    return {"scorecard": sc, "boosted": bo}, timings


def train_and_register(
    frame: pd.DataFrame,
    config: ModelConfig | None = None,
    tracking_uri: str | None = None,
    data_identity: dict[str, Any] | None = None,
    artifact_location: str | None = None,
    derived_segments: Callable[[pd.DataFrame, np.ndarray], pd.DataFrame] | None = None,
) -> TrainingResult:
    """Fit, validate out of time, log, register the better model as `challenger`, gate it.

    `data_identity` (e.g. {"dq_run_id": ..., "feature_table": ...}) is logged verbatim
    beside the as-of range and row counts computed here. `artifact_location` applies when
    the experiment is first created (default: the settings' artifact root for a local
    sqlite/file store, the server's default otherwise). `derived_segments(test, p)` may add
    columns that depend on a model's own scores (the pipeline adds the tier each model
    would assign), reported by segment beside product and bucket; the promotion gate
    compares only model-independent segments, so champion and challenger are judged on
    the same rows.
    """
    config = config or ModelConfig()
    tracking_uri, artifact_location = _locations(tracking_uri, artifact_location)
    cols = config.columns
    t0 = time.perf_counter()

    unlabelled = int(frame[cols.label_column].isna().sum())
    frame = frame.loc[frame[cols.label_column].notna()]
    spec = infer_feature_spec(frame, cols)
    split = out_of_time_split(frame, config.split, cols.date_column)
    data = {
        **split.describe(cols.date_column),
        "unlabelled_rows_dropped": unlabelled,
        "n_numeric_features": len(spec.numeric),
        "n_categorical_features": len(spec.categorical),
        **{f"identity.{k}": v for k, v in (data_identity or {}).items()},
    }

    models, timings = fit_models(split, spec, config)
    y_te = label_array(split.test, cols.label_column)
    t = time.perf_counter()
    test_scores = {name: m.predict_proba(split.test)[:, 1] for name, m in models.items()}
    oot = {name: metrics.summarise(y_te, p) for name, p in test_scores.items()}
    fixed = [c for c in cols.segment_columns if c in split.test.columns]
    segs = pd.concat(
        [
            metrics.segment_metrics(
                derived_segments(split.test, p) if derived_segments else split.test,
                p,
                y_te,
                cols.segment_columns,
            ).assign(model=name)
            for name, p in test_scores.items()
        ],
        ignore_index=True,
    )
    chosen = "boosted" if oot["boosted"]["auc"] >= oot["scorecard"]["auc"] else "scorecard"
    model = models[chosen]
    train_scores = model.predict_proba(split.train)[:, 1]
    score_psi = metrics.psi(train_scores, test_scores[chosen])
    timings["evaluate_s"] = time.perf_counter() - t

    c = registry.client(tracking_uri)
    exp_id = registry.ensure_experiment(c, config.experiment_name, artifact_location)
    name = config.registered_model_name
    with (
        registry.tracking(tracking_uri),
        mlflow.start_run(experiment_id=exp_id) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp)
        _log_setup(config, spec, data, chosen)
        _log_metrics(oot, segs, chosen, score_psi)
        t = time.perf_counter()
        sample = split.test.sample(
            min(len(split.test), config.evaluation_sample_rows), random_state=config.seed
        )
        importances = _log_plots(out, models, chosen, split.test, y_te, test_scores, sample, config)
        timings["plots_s"] = time.perf_counter() - t
        mlflow.log_text(
            models["scorecard"].points_table().to_csv(index=False), "scorecard/points_table.csv"
        )
        key = (
            list(config.monitoring.key_features)
            or importances.feature.head(config.monitoring.n_key_features).tolist()
        )
        monitoring.log_reference(
            monitoring.build_reference(
                split.train, train_scores, key, config.monitoring.bins, oot[chosen]["auc"]
            )
        )

        t = time.perf_counter()
        example = _example(sample, spec)
        uris = {n: registry.log_model(m, n, example) for n, m in models.items()}
        mv = mlflow.register_model(
            uris[chosen], name, tags={"model_type": chosen, "run_id": run.info.run_id}
        )
        c.set_registered_model_alias(name, registry.CHALLENGER, mv.version)
        timings["log_register_s"] = time.perf_counter() - t

        decision = _gate(
            tracking_uri,
            config,
            split,
            y_te,
            oot[chosen]["auc"],
            score_psi,
            segs[(segs.model == chosen) & segs.segment.isin(fixed)],
            str(mv.version),
        )
        _log_decision(c, name, decision)
        if decision.promote:
            registry.promote(c, name, str(mv.version))
        timings["total_s"] = time.perf_counter() - t0
        mlflow.log_metrics({f"time.{k}": v for k, v in timings.items()})
        run_id = run.info.run_id
    return TrainingResult(
        run_id, exp_id, name, str(mv.version), chosen, oot, segs, decision, model, timings, data
    )


# -- helpers ------------------------------------------------------------------------------
def _locations(tracking_uri: str | None, artifact_location: str | None) -> tuple[str, str | None]:
    if tracking_uri is None or artifact_location is None:
        from nplpipeline.settings import get_settings

        s = get_settings()
        tracking_uri = tracking_uri or s.mlflow_tracking_uri
        if artifact_location is None and tracking_uri.startswith(("sqlite:", "file:")):
            artifact_location = s.mlflow_artifact_root.as_uri()
    return tracking_uri, artifact_location


def _example(sample: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Five rows for the MLflow signature; categoricals as plain strings (MLflow's schema
    has no category type, and the models accept strings for categoricals anyway)."""
    ex = sample[spec.all].head(5).copy()
    for c in spec.categorical:
        ex[c] = ex[c].astype(object).where(ex[c].notna(), None)
    for c in spec.numeric:  # ints would make the schema reject NaN at scoring time
        ex[c] = pd.to_numeric(ex[c], errors="coerce").astype("float64")
    return ex


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k != "phrases":
            out.update(_flatten(v, key + "."))
        else:
            out[key] = json.dumps(v, default=str) if not isinstance(v, str) else v
    return out


def _log_setup(config: ModelConfig, spec: FeatureSpec, data: dict[str, Any], chosen: str) -> None:
    mlflow.log_params({k: v[:500] for k, v in _flatten(config.model_dump()).items()})
    mlflow.log_dict(
        {"numeric": list(spec.numeric), "categorical": list(spec.categorical)}, "features.json"
    )
    mlflow.log_dict(data, "data_identity.json")
    mlflow.set_tags(
        {"chosen_model": chosen, **{f"data.{k}": str(v)[:500] for k, v in data.items()}}
    )


def _metric_name(*parts: str) -> str:
    return ".".join(re.sub(r"[^0-9A-Za-z_\-. /]", "_", p) for p in parts)


def _log_metrics(
    oot: dict[str, dict[str, float]], segs: pd.DataFrame, chosen: str, score_psi: float
) -> None:
    values = {_metric_name(m, "oot", k): v for m, s in oot.items() for k, v in s.items()}
    for r in segs.itertuples():
        for k in ("auc", "ks", "n"):
            values[_metric_name(r.model, "oot", k, r.segment, r.value)] = getattr(r, k)
    values["chosen.score_psi_train_to_test"] = score_psi
    mlflow.log_metrics({k: float(v) for k, v in values.items() if np.isfinite(v)})
    mlflow.set_tag("chosen.score_psi_band", metrics.psi_band(score_psi))
    mlflow.log_text(segs.to_csv(index=False), "evaluation/segment_metrics.csv")


def _log_plots(
    out: Path,
    models: dict[str, Any],
    chosen: str,
    test: pd.DataFrame,
    y_te: np.ndarray,
    test_scores: dict[str, np.ndarray],
    sample: pd.DataFrame,
    config: ModelConfig,
) -> pd.DataFrame:
    plots.roc_plot(y_te, test_scores, out / "roc.png")
    plots.calibration_plot(y_te, test_scores, out / "calibration.png")
    plots.ks_plot(y_te, test_scores[chosen], out / "ks.png")
    small = sample.head(config.importance_sample_rows)
    y_s = test.loc[small.index, config.columns.label_column].astype(int).to_numpy()
    model = models[chosen]
    imp = plots.permutation_importances(
        model, small, y_s, list(model.feature_names_), seed=config.seed
    )
    plots.importance_plot(imp, out / "importance.png")
    for png in ("roc", "calibration", "ks", "importance"):
        mlflow.log_artifact(str(out / f"{png}.png"), "plots")
    mlflow.log_text(imp.to_csv(index=False), "evaluation/permutation_importance.csv")
    return imp


def _gate(
    tracking_uri: str,
    config: ModelConfig,
    split: OOTSplit,
    y_te: np.ndarray,
    challenger_auc: float,
    score_psi: float,
    challenger_segs: pd.DataFrame,
    version: str,
) -> GateDecision:
    """Score the current champion on the same OOT rows, then apply the gate."""
    c = registry.client(tracking_uri)
    name = config.registered_model_name
    current = registry.alias_version(c, name, registry.CHAMPION)
    if current is None:
        return decide(config.gate, challenger_auc, score_psi, None, challenger_version=version)
    try:
        champ = registry.load_version(tracking_uri, name, current.version)
        p = champ.score(split.test)
    except Exception as exc:  # unscorable champion: refuse (by default), never crash
        return decide(
            config.gate,
            challenger_auc,
            score_psi,
            None,
            champion_error=f"{type(exc).__name__}: {exc}"[:300],
            challenger_version=version,
            champion_version=str(current.version),
        )
    champ_segs = metrics.segment_metrics(split.test, p, y_te, config.columns.segment_columns)
    return decide(
        config.gate,
        challenger_auc,
        score_psi,
        metrics.auc(y_te, p),
        challenger_segs,
        champ_segs,
        challenger_version=version,
        champion_version=str(current.version),
    )


def _log_decision(c: Any, name: str, decision: GateDecision) -> None:
    d = decision.to_dict()
    mlflow.log_dict(d, "gate/decision.json")
    mlflow.set_tags(
        {
            "gate.decision": "promoted" if decision.promote else "refused",
            "gate.reason": decision.reason[:500],
            "gate.champion_version": str(decision.champion_version),
        }
    )
    mlflow.log_metrics(
        {f"gate.{ch.name}": float(ch.value) for ch in decision.checks if np.isfinite(ch.value)}
        | {f"gate.{ch.name}.limit": float(ch.limit) for ch in decision.checks}
        | {"gate.promoted": float(decision.promote)}
    )
    if decision.challenger_version is not None:
        c.set_model_version_tag(
            name,
            decision.challenger_version,
            "gate_decision",
            "promoted" if decision.promote else "refused",
        )
        c.set_model_version_tag(
            name, decision.challenger_version, "gate_reason", decision.reason[:500]
        )
