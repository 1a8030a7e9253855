"""Train the candidates, choose on validation, test out of time, log, register, gate.

`train_and_register` is the one entry point an Airflow task needs. Every figure the gate
uses is logged with the run (metrics, tags, `gate/decision.json`), so a promotion or a
refusal can be audited from MLflow alone.
"""

from __future__ import annotations

import datetime as dt
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
from threadpoolctl import threadpool_limits

from nplpipeline.model import candidates, metrics, monitoring, plots, registry, selection
from nplpipeline.model.boosting import HeldOut
from nplpipeline.model.config import (
    OTHER_DATA_EXPERIMENT,
    OTHER_DATA_MODEL_NAME,
    PIPELINE_MODEL_NAME,
    ModelConfig,
)
from nplpipeline.model.frame import FeatureSpec, infer_feature_spec, label_array
from nplpipeline.model.gate import GateDecision, decide
from nplpipeline.model.scorecard import WoEScorecard
from nplpipeline.model.selection import Selection
from nplpipeline.model.split import OOTSplit, out_of_time_split

# Registered-model names only the pipeline's own training stage may write to.
PROTECTED_MODEL_NAMES = frozenset({PIPELINE_MODEL_NAME, registry.DEFAULT_MODEL_NAME})


@dataclass
class TrainingResult:
    run_id: str
    experiment_id: str
    model_name: str
    version: str
    chosen: str  # "scorecard", "logistic" or "boosted": best on validation, not on test
    oot_metrics: dict[str, dict[str, float]]  # model -> summary on the test rows
    segments: pd.DataFrame  # model, segment, value, n, auc, ...
    gate: GateDecision
    model: Any  # the fitted estimator that was registered
    timings: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    selection: Selection | None = None

    @property
    def promoted(self) -> bool:
        return self.gate.promote


def fit_models(
    split: OOTSplit, spec: FeatureSpec, config: ModelConfig
) -> tuple[dict[str, Any], dict[str, float]]:
    """Every candidate on the whole training period; returns models and seconds."""
    models, _, timings = fit_candidates(split, spec, config)
    return models, timings


def fit_candidates(
    split: OOTSplit, spec: FeatureSpec, config: ModelConfig
) -> tuple[dict[str, Any], dict[str, HeldOut | None], dict[str, float]]:
    """`fit_models`, plus the scores each fit made of rows it held out (the booster's
    calibration slice), which selection reuses."""
    y = label_array(split.train, config.columns.label_column)
    dates = split.train[config.columns.date_column] if split.dated else None
    models: dict[str, Any] = {}
    held: dict[str, HeldOut | None] = {}
    timings: dict[str, float] = {}
    for name in config.selection.candidates:
        t = time.perf_counter()
        model = candidates.build(name, spec, config)
        models[name], held[name] = candidates.fit_holding_out(model, split.train, y, dates)
        timings[f"fit_{name}_s"] = time.perf_counter() - t
    return models, held, timings


def resolve_names(config: ModelConfig, pipeline: bool) -> ModelConfig:
    """The pipeline's names for the pipeline; other data get their own unless set.

    Other data may never register under the pipeline's model name: its `champion` is
    what the daily scoring loads, and even a refused model would take `challenger`.
    """
    if pipeline:
        return config
    explicit = config.model_fields_set
    update: dict[str, str] = {}
    if "experiment_name" not in explicit:
        update["experiment_name"] = OTHER_DATA_EXPERIMENT
    if "registered_model_name" not in explicit:
        update["registered_model_name"] = OTHER_DATA_MODEL_NAME
    elif config.registered_model_name in PROTECTED_MODEL_NAMES:
        raise ValueError(
            f"{config.registered_model_name!r} is the pipeline's registered model; training "
            "on other data must register under its own name (or pass pipeline=True)"
        )
    return config.model_copy(update=update)


def train_and_register(
    frame: pd.DataFrame,
    config: ModelConfig | None = None,
    tracking_uri: str | None = None,
    data_identity: dict[str, Any] | None = None,
    artifact_location: str | None = None,
    derived_segments: Callable[[pd.DataFrame, np.ndarray], pd.DataFrame] | None = None,
    pipeline: bool = False,
    as_of: dt.date | None = None,
) -> TrainingResult:
    """Fit, choose on validation, test, log, register the chosen model as `challenger`,
    gate it.

    `pipeline=True` is the training stage's own call: it registers under the config's
    names (the pipeline's by default). Anything else is training on other data: its own
    experiment and registered model unless the config names them, never the pipeline's
    model (see `resolve_names`). `tracking_uri` defaults to the settings' store.
    `artifact_location` applies when the experiment is first created; by default it
    follows the tracking URI (`artifacts/` beside a sqlite file, the settings' artifact
    root for the settings' own store, the server's default for a server).
    `data_identity` (e.g. {"dq_run_id": ..., "feature_table": ...}) is logged verbatim
    beside the as-of range and row counts computed here. `derived_segments(test, p)` may
    add columns that depend on a model's own scores (the pipeline adds the tier each
    model would assign), reported by segment beside product and bucket; the promotion
    gate compares only model-independent segments, so champion and challenger are judged
    on the same rows. `as_of` is the day the training runs for: logged as the run's
    `as_of` param and, when promoted, the date from which the version is champion
    (`registry.champion_as_of`); without it the version is dated by its registration.
    """
    config = resolve_names(config or ModelConfig(), pipeline)
    tracking_uri, artifact_location = _locations(tracking_uri, artifact_location)
    with threadpool_limits(limits=config.threads):
        fitted = _fit_and_evaluate(frame, config, data_identity, derived_segments)
        return _log_and_register(fitted, config, tracking_uri, artifact_location, as_of)


@dataclass
class _Fitted:
    split: OOTSplit
    spec: FeatureSpec
    data: dict[str, Any]
    selection: Selection
    models: dict[str, Any]
    y_te: np.ndarray
    test_scores: dict[str, np.ndarray]
    oot: dict[str, dict[str, float]]
    segs: pd.DataFrame
    train_scores: np.ndarray
    score_psi: float
    timings: dict[str, float]

    @property
    def chosen(self) -> str:
        return self.selection.chosen


def _fit_and_evaluate(
    frame: pd.DataFrame,
    config: ModelConfig,
    data_identity: dict[str, Any] | None,
    derived_segments: Callable[[pd.DataFrame, np.ndarray], pd.DataFrame] | None,
) -> _Fitted:
    """Split, fit every candidate, choose the champion on validation (reusing what the
    fits held out, `selection.choose`), score the test."""
    cols = config.columns
    t0 = time.perf_counter()
    unlabelled = int(frame[cols.label_column].isna().sum())
    frame = frame.loc[frame[cols.label_column].notna()]
    spec = infer_feature_spec(frame, cols)
    split = out_of_time_split(frame, config.split, cols.date_column, cols.label_column, config.seed)
    data = {
        **split.describe(cols.date_column),
        "unlabelled_rows_dropped": unlabelled,
        "n_numeric_features": len(spec.numeric),
        "n_categorical_features": len(spec.categorical),
        **{f"identity.{k}": v for k, v in (data_identity or {}).items()},
    }
    y_tr = label_array(split.train, cols.label_column)
    dates = split.train[cols.date_column] if split.dated else None
    models, held_out, timings = fit_candidates(split, spec, config)
    t = time.perf_counter()
    chosen = selection.choose(split.train, y_tr, dates, spec, config, held_out)
    timings["select_s"] = time.perf_counter() - t
    y_te = label_array(split.test, cols.label_column)
    t = time.perf_counter()
    test_scores = {name: candidates.scores(m, split.test) for name, m in models.items()}
    oot = {name: metrics.summarise(y_te, p) for name, p in test_scores.items()}
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
    train_scores = candidates.scores(models[chosen.chosen], split.train)
    score_psi = metrics.psi(train_scores, test_scores[chosen.chosen])
    timings["evaluate_s"] = time.perf_counter() - t
    timings["fit_and_evaluate_s"] = time.perf_counter() - t0
    return _Fitted(
        split,
        spec,
        data,
        chosen,
        models,
        y_te,
        test_scores,
        oot,
        segs,
        train_scores,
        score_psi,
        timings,
    )


def _log_and_register(
    f: _Fitted,
    config: ModelConfig,
    tracking_uri: str,
    artifact_location: str | None,
    as_of: dt.date | None,
) -> TrainingResult:
    """Log the run, register the chosen model as `challenger`, gate it, maybe promote."""
    t0 = time.perf_counter()
    timings = f.timings
    chosen, split, models = f.chosen, f.split, f.models
    fixed = [c for c in config.columns.segment_columns if c in split.test.columns]
    c = registry.client(tracking_uri)
    exp_id = registry.ensure_experiment(c, config.experiment_name, artifact_location)
    name = config.registered_model_name
    with (
        registry.tracking(tracking_uri),
        mlflow.start_run(experiment_id=exp_id) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp)
        _log_setup(config, f.spec, f.data, f.selection, models)
        if as_of is not None:
            mlflow.log_param(registry.RUN_AS_OF_PARAM, as_of.isoformat())
        _log_metrics(f.oot, f.segs, chosen, f.score_psi)
        t = time.perf_counter()
        sample = split.test.sample(
            min(len(split.test), config.evaluation_sample_rows), random_state=config.seed
        )
        importances = _log_plots(
            out, models, chosen, split.test, f.y_te, f.test_scores, sample, config
        )
        timings["plots_s"] = time.perf_counter() - t
        for n, m in models.items():
            if isinstance(m, WoEScorecard):
                mlflow.log_text(m.points_table().to_csv(index=False), f"{n}/points_table.csv")
        key = (
            list(config.monitoring.key_features)
            or importances.feature.head(config.monitoring.n_key_features).tolist()
        )
        monitoring.log_reference(
            monitoring.build_reference(
                split.train, f.train_scores, key, config.monitoring.bins, f.oot[chosen]["auc"]
            )
        )

        t = time.perf_counter()
        example = _example(sample, f.spec)
        uris = {n: registry.log_model(m, n, example) for n, m in models.items()}
        mv = mlflow.register_model(
            uris[chosen], name, tags={"model_type": chosen, "run_id": run.info.run_id}
        )
        c.set_registered_model_alias(name, registry.CHALLENGER, mv.version)
        timings["log_register_s"] = time.perf_counter() - t

        segs = f.segs
        decision = _gate(
            tracking_uri,
            config,
            split,
            f.y_te,
            f.oot[chosen]["auc"],
            f.score_psi,
            segs[(segs.model == chosen) & segs.segment.isin(fixed)],
            str(mv.version),
        )
        _log_decision(c, name, decision)
        if decision.promote:
            registry.promote(c, name, str(mv.version), effective=as_of)
        timings["total_s"] = timings["fit_and_evaluate_s"] + time.perf_counter() - t0
        mlflow.log_metrics({f"time.{k}": v for k, v in timings.items()})
        run_id = run.info.run_id
    result = (run_id, exp_id, name, str(mv.version), chosen, f.oot, f.segs, decision)
    return TrainingResult(*result, models[chosen], timings, f.data, f.selection)


# -- helpers ------------------------------------------------------------------------------
def _locations(tracking_uri: str | None, artifact_location: str | None) -> tuple[str, str | None]:
    """Where runs and artifacts go. Artifacts follow the tracking URI: the settings'
    artifact root for the settings' own store, `artifacts/` beside any other sqlite
    file, and the store's or server's own default otherwise (never the checkout)."""
    from nplpipeline.settings import get_settings

    s = get_settings()
    tracking_uri = tracking_uri or s.mlflow_tracking_uri
    if artifact_location is None:
        if tracking_uri == s.mlflow_tracking_uri and tracking_uri.startswith(("sqlite:", "file:")):
            artifact_location = s.mlflow_artifact_root.as_uri()
        else:
            artifact_location = artifact_root_for(tracking_uri)
    return tracking_uri, artifact_location


def artifact_root_for(tracking_uri: str) -> str | None:
    """`artifacts/` beside a sqlite store's file (absolute, so the working directory at
    run time does not matter); None (the store's default) for anything else."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = tracking_uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not db or db == ":memory:":
        return None
    return (Path(db).resolve().parent / "artifacts").as_uri()


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


def _log_setup(
    config: ModelConfig,
    spec: FeatureSpec,
    data: dict[str, Any],
    chosen: Selection,
    models: dict[str, Any],
) -> None:
    """Config, size-adaptive settings as used, split kind and the champion choice."""
    params = {k: v[:500] for k, v in _flatten(config.model_dump()).items()}
    params |= chosen.params() | {"split.kind": str(data["split_kind"])}
    booster = models.get("boosted")
    if booster is not None:
        params |= {f"boosted.resolved.{k}": str(v) for k, v in booster.resolved_.items()}
    for n, m in models.items():
        if isinstance(m, WoEScorecard):
            params[f"{n}.resolved.C"] = str(m.C_)
    mlflow.log_params(params)
    mlflow.log_dict(
        {"numeric": list(spec.numeric), "categorical": list(spec.categorical)}, "features.json"
    )
    mlflow.log_dict(data, "data_identity.json")
    mlflow.log_dict(
        {
            "chosen": chosen.chosen,
            "method": chosen.method,
            "validation_auc": chosen.auc,
            "margin": chosen.margin,
            "errors": chosen.errors,
            "held_out_scores": list(chosen.held_out),
        },
        "selection.json",
    )
    mlflow.log_metrics({f"{n}.validation.auc": a for n, a in chosen.auc.items() if np.isfinite(a)})
    mlflow.log_metrics({f"{n}.validation.margin": m for n, m in chosen.margin.items()})
    mlflow.set_tags(
        {
            "chosen_model": chosen.chosen,
            "selection.method": chosen.method,
            "split.kind": str(data["split_kind"]),
            **{f"data.{k}": str(v)[:500] for k, v in data.items()},
        }
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
        model,
        small,
        y_s,
        list(model.feature_names_),
        seed=config.seed,
        max_rows=config.importance_sample_rows,
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
