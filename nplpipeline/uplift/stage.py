"""The uplift stages as the CLI (and a DAG task) call them.

1. ``run_uplift_training``: the training table known on A (a Parquet file under
   ``$NPL_HOME/uplift/training/``), the learners fitted on its earlier decisions, the
   out-of-time evaluation and the gate, logged to MLflow (figures and the policy version
   only: no ids, no amounts per account); the fitted policy is kept under
   ``uplift/models/`` and becomes the promoted one only if the gate passes.
2. ``run_nba_decisions``: the promoted policy's (or, with ``challenger=True``, the latest
   one's) choice for every account planned on D, with reasons (``act_nba_decisions``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sqlalchemy as sa

from nplpipeline.act.tables import experiment_arms, treatment_plan
from nplpipeline.features.schema import NUMERIC_FEATURES
from nplpipeline.features.tables import int_features
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import Settings, get_settings
from nplpipeline.uplift.config import UpliftPolicy, load_uplift_policy
from nplpipeline.uplift.evaluate import (
    Learned,
    as_of_version,
    decide_rows,
    evaluate,
    fit,
    prob_matrix,
    reference,
    split_out_of_time,
)
from nplpipeline.uplift.explain import top_reasons
from nplpipeline.uplift.gate import PolicyGateDecision, decide
from nplpipeline.uplift.tables import nba_decisions
from nplpipeline.uplift.training import PROPENSITY_PREFIX, build_training_table, design_matrix
from nplpipeline.uplift.treatments import propensities, strategy_for
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.partitions import replace_partition

log = logging.getLogger(__name__)
EXPERIMENT = "npl_uplift"


def uplift_dir(settings: Settings) -> Path:
    return settings.home / "uplift"


def _log_mlflow(
    settings: Settings, as_of: dt.date, uplift: UpliftPolicy, metrics: dict[str, float],
    gate: PolicyGateDecision, rows: dict[str, int],
) -> str:  # fmt: skip
    import mlflow

    from nplpipeline.model import registry

    c = registry.client(settings.mlflow_tracking_uri)
    artifacts = settings.mlflow_artifact_root.as_uri()
    exp_id = registry.ensure_experiment(c, EXPERIMENT, artifacts)
    finite = {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
    with (
        registry.tracking(settings.mlflow_tracking_uri),
        mlflow.start_run(experiment_id=exp_id) as run,
    ):
        mlflow.log_params(
            {
                "policy_version": gate.policy_version,
                "as_of": as_of.isoformat(),
                "horizon_days": uplift.horizon_days,
                "config_version": uplift.version(),
                "learner": "dr_learner",
                "evaluation_outcome_model": "t_learner",
                **rows,
            }
        )
        mlflow.log_metrics(finite)
        mlflow.log_dict(gate.to_dict(), "gate.json")
        mlflow.set_tag("promoted", str(gate.promote).lower())
        return run.info.run_id


def run_uplift_training(
    as_of: dt.date, settings: Settings | None = None, uplift: UpliftPolicy | None = None
) -> dict[str, Any]:
    """Build the table known on ``as_of``, fit, evaluate out of time, gate, log."""
    settings = settings or get_settings()
    uplift = uplift or load_uplift_policy()
    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            ensure_schema(conn)
            rows = build_training_table(conn, as_of, settings.policy.strategies, uplift)
    finally:
        engine.dispose()
    if rows.empty:
        raise RuntimeError(f"no decision whose {uplift.horizon_days}-day horizon closed by {as_of}")
    folder = uplift_dir(settings)
    (folder / "training").mkdir(parents=True, exist_ok=True)
    rows.to_parquet(folder / "training" / f"{as_of.isoformat()}.parquet", index=False)
    train, test = split_out_of_time(rows, uplift.gate.out_of_time_days)
    if train.empty or test.empty:
        raise RuntimeError("the training table spans too few dates for an out-of-time split")
    version = as_of_version(uplift, as_of)
    learned = fit(train.reset_index(drop=True), uplift, version)
    metrics, gain = evaluate(learned, test, settings.policy.strategies, uplift)
    gate = decide(uplift.gate, gain, version)
    counts = {"train_rows": len(train), "oot_rows": len(test), "decision_dates": int(
        rows["as_of_date"].nunique())}  # fmt: skip
    run_id = _log_mlflow(settings, as_of, uplift, metrics, gate, counts)
    (folder / "models").mkdir(parents=True, exist_ok=True)
    joblib.dump(learned, folder / "models" / f"{version}.joblib")
    state = {"version": version, "run_id": run_id, "gate": gate.to_dict()}
    (folder / "latest.json").write_text(json.dumps(state, indent=1))
    if gate.promote:
        (folder / "promoted.json").write_text(json.dumps(state, indent=1))
    values = {k: round(v, 2) for k, v in metrics.items() if k.startswith(("dr_", "ips_"))}
    summary = {"as_of": as_of.isoformat(), "policy_version": version, "run_id": run_id,
               "promoted": gate.promote, "reason": gate.reason, **counts, **values}  # fmt: skip
    log.info("uplift training %s: %s", as_of, summary)
    return summary


def load_learned(settings: Settings, challenger: bool) -> tuple[Learned, bool]:
    """The promoted policy, or the latest fitted one when ``challenger``."""
    folder = uplift_dir(settings)
    promoted = folder / "promoted.json"
    source = folder / "latest.json" if challenger or not promoted.exists() else promoted
    if not source.exists():
        raise RuntimeError("no learned policy: run `nplpipeline uplift train` first")
    state = json.loads(source.read_text())
    if not challenger and source != promoted:
        raise RuntimeError("no learned policy passed its gate: nothing to decide with")
    learned = joblib.load(folder / "models" / f"{state['version']}.joblib")
    is_promoted = (
        promoted.exists() and json.loads(promoted.read_text())["version"] == state["version"]
    )
    return learned, is_promoted


def _decision_frame(conn: sa.Connection, as_of: dt.date) -> pd.DataFrame:
    p, a, f = treatment_plan.c, experiment_arms.c, int_features.c
    plan = read_frame(
        conn,
        sa.select(
            p.loan_id,
            p.tier,
            p.strategy_arm,
            p.legal_ready,
            p.recovery_probability,
            a.assigned_tier,
        )
        .join(experiment_arms, a.loan_id == p.loan_id)
        .where(p.as_of_date == as_of),
    )
    feats = read_frame(
        conn,
        sa.select(f.loan_id, *(f[c] for c in NUMERIC_FEATURES)).where(f.as_of_date == as_of),
    )
    return plan.merge(feats, on="loan_id", how="inner").reset_index(drop=True)


def nba_rows(
    learned: Learned, rows: pd.DataFrame, as_of: dt.date, settings: Settings,
    uplift: UpliftPolicy, promoted: bool,
) -> pd.DataFrame:  # fmt: skip
    """The learned policy's decision per row, with reasons (pure: no warehouse)."""
    policy = settings.policy.strategies
    treatment, prob = propensities(rows, policy, uplift)
    rows = rows.assign(treatment=treatment.to_numpy(), as_of_date=pd.Timestamp(as_of))
    for name in prob.columns:
        rows[PROPENSITY_PREFIX + name] = prob[name].to_numpy()
    ref = reference(rows, policy, uplift)
    choice, _ = decide_rows(learned, rows, ref, uplift)
    x = design_matrix(rows)
    prob = prob_matrix(rows, uplift)

    def uplift_of(xm: np.ndarray) -> np.ndarray:
        v = learned.dr.predict(xm, prob)
        cols = v.columns
        got = v.to_numpy()[np.arange(len(v)), cols.get_indexer(choice.treatment.astype(str))]
        base = v.to_numpy()[np.arange(len(v)), cols.get_indexer(ref.astype(str))]
        return np.nan_to_num(got - base)

    reasons = top_reasons(uplift_of, x, learned.medians, learned.covariates)
    out = pd.DataFrame({
        "as_of_date": as_of, "loan_id": rows["loan_id"].astype(str), "tier": rows["tier"],
        "nba_treatment": choice.treatment.astype(str),
        "nba_strategy": strategy_for(choice.treatment, rows, policy, uplift),
        "static_treatment": ref.astype(str), "nba_uplift": choice.uplift.round(2),
        "nba_explore": choice.explore.astype(bool), "nba_policy_version": learned.version,
        "nba_promoted": promoted,
    })  # fmt: skip
    return pd.concat([out, reasons.set_axis(out.index)], axis=1)


def run_nba_decisions(
    as_of: dt.date, settings: Settings | None = None, challenger: bool = False,
    uplift: UpliftPolicy | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``act_nba_decisions`` for ``as_of`` (replaced), from the day's treatment plan."""
    settings = settings or get_settings()
    uplift = uplift or load_uplift_policy()
    learned, promoted = load_learned(settings, challenger)
    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            ensure_schema(conn)
            rows = _decision_frame(conn, as_of)
            if rows.empty:
                raise RuntimeError(f"no treatment plan on {as_of}: run the plan step first")
            out = nba_rows(learned, rows, as_of, settings, uplift, promoted)
            written = replace_partition(conn, nba_decisions, "as_of_date", as_of, out)
    finally:
        engine.dispose()
    summary = {
        "as_of": as_of.isoformat(), "decisions": written, "policy_version": learned.version,
        "promoted": promoted, "explore_share": round(float(out["nba_explore"].mean()), 3),
        "by_treatment": {str(k): int(v) for k, v in out["nba_treatment"].value_counts().items()},
        "changed_from_static": int((out["nba_treatment"] != out["static_treatment"]).sum()),
    }  # fmt: skip
    log.info("nba decisions %s: %s", as_of, summary)
    return summary
