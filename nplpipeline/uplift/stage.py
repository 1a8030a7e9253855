"""The uplift stages as the CLI (and a DAG task) call them.

1. ``run_uplift_training``: the training table known on A (a Parquet file under
   ``$NPL_HOME/uplift/training/``), the learners fitted on its earlier decisions, the
   out-of-time evaluation and the gate, logged to MLflow (figures and the policy version
   only: no ids, no amounts per account); the fitted policy is kept under
   ``uplift/models/`` as a version with its training date and gate result
   (``uplift.versions``). ``run_scheduled_training`` is the live pipeline's call.
2. ``run_nba_decisions``: for the nba arm's accounts planned on D, the choice of the
   policy selected as of D (the latest trained by D, or the latest promoted one), with
   reasons (``act_nba_decisions``). The plan step itself makes these decisions for the
   live arm (``uplift.live``); this recomputes them.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nplpipeline.act.arms import NBA_ARM
from nplpipeline.act.tables import experiment_arms, treatment_plan
from nplpipeline.config.strategy import StrategyPolicy
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
from nplpipeline.uplift.gate import GAIN_CHECK, PolicyGateDecision, decide
from nplpipeline.uplift.tables import nba_decisions
from nplpipeline.uplift.training import PROPENSITY_PREFIX, build_training_table, design_matrix
from nplpipeline.uplift.treatments import arm_strategies, propensities, strategy_for
from nplpipeline.uplift.versions import (
    VersionRecord,
    gain_passes_before,
    keep_version,
    load_version,
    select_as_of,
)
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.partitions import replace_partition
from nplpipeline.warehouse.shards import Shard, narrow

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


def _skip(as_of: dt.date, reason: str, **counts: int) -> dict[str, Any]:
    """Too little data is a normal state of a young book, not a failure."""
    summary = {"as_of": as_of.isoformat(), "skipped": reason, **counts}
    log.info("uplift training %s skipped: %s", as_of, summary)
    return summary


def run_uplift_training(
    as_of: dt.date, settings: Settings | None = None, uplift: UpliftPolicy | None = None
) -> dict[str, Any]:
    """Build the table known on ``as_of``, fit, evaluate out of time, gate, log, and keep
    the version with its record (``uplift.versions``). Skips (a count dict) while no
    horizon has closed or the dates are too few for the out-of-time split."""
    settings = settings or get_settings()
    uplift = uplift or load_uplift_policy()
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        rows = build_training_table(conn, as_of, settings.policy.strategies, uplift)
    if rows.empty:
        return _skip(as_of, "no_closed_horizon", rows=0)
    folder = uplift_dir(settings)
    (folder / "training").mkdir(parents=True, exist_ok=True)
    rows.to_parquet(folder / "training" / f"{as_of.isoformat()}.parquet", index=False)
    train, test = split_out_of_time(rows, uplift.gate.out_of_time_days)
    counts = {"train_rows": len(train), "oot_rows": len(test), "decision_dates": int(
        rows["as_of_date"].nunique())}  # fmt: skip
    if train.empty or test.empty:
        return _skip(as_of, "too_few_dates_for_out_of_time_split", rows=len(rows), **counts)
    if len(train) < uplift.min_rows_per_treatment:
        return _skip(as_of, "too_few_training_rows", rows=len(rows), **counts)
    version = as_of_version(uplift, as_of)
    learned = fit(train.reset_index(drop=True), uplift, version)
    metrics, gain = evaluate(learned, test, settings.policy.strategies, uplift)
    passes = gain_passes_before(folder, as_of, GAIN_CHECK)
    gate = decide(uplift.gate, gain, version, earlier_passes=passes)
    run_id = _log_mlflow(settings, as_of, uplift, metrics, gate, counts)
    keep_version(folder, learned, VersionRecord(version, as_of, run_id, gate.promote,
                                                gate.to_dict()))  # fmt: skip
    values = {k: round(v, 2) for k, v in metrics.items() if k.startswith(("dr_", "ips_"))}
    summary = {"as_of": as_of.isoformat(), "policy_version": version, "run_id": run_id,
               "promoted": gate.promote, "reason": gate.reason, **counts, **values}  # fmt: skip
    log.info("uplift training %s: %s", as_of, summary)
    return summary


def run_scheduled_training(
    as_of: dt.date, settings: Settings | None = None, uplift: UpliftPolicy | None = None
) -> dict[str, Any]:
    """The live pipeline's training before the plan step: only on dates whose ordinal
    is divisible by ``train_every_days`` (reruns pick the same dates)."""
    uplift = uplift or load_uplift_policy()
    if as_of.toordinal() % uplift.train_every_days:
        return {"as_of": as_of.isoformat(), "skipped": "not_a_training_date"}
    return run_uplift_training(as_of, settings, uplift)


def load_learned(
    settings: Settings, as_of: dt.date, challenger: bool
) -> tuple[Learned, bool] | None:
    """The policy a decision on ``as_of`` uses (``versions.select_as_of``) and whether it
    passed its gate; None when no version was trained by then."""
    folder = uplift_dir(settings)
    record = select_as_of(folder, as_of, challenger)
    if record is None:
        return None
    return load_version(folder, record), record.promoted


DECISION_COLUMNS = (
    "loan_id", "tier", "strategy_arm", "legal_ready", "recovery_probability", "assigned_tier",
)  # fmt: skip


def with_features(
    conn: sa.Connection, as_of: dt.date, rows: pd.DataFrame, shard: Shard | None = None
) -> pd.DataFrame:
    """``rows``' decision columns and their features of ``as_of`` (rows without
    features drop out: no decision for them)."""
    f = int_features.c
    query = sa.select(f.loan_id, *(f[c] for c in NUMERIC_FEATURES)).where(f.as_of_date == as_of)
    feats = read_frame(conn, narrow(query, f.loan_id, shard))
    base = rows[list(DECISION_COLUMNS)].assign(loan_id=lambda r: r["loan_id"].astype(str))
    return base.merge(feats, on="loan_id", how="inner").reset_index(drop=True)


def _decision_frame(conn: sa.Connection, as_of: dt.date) -> pd.DataFrame:
    """The nba arm's planned accounts of ``as_of`` with their decision inputs."""
    p, a = treatment_plan.c, experiment_arms.c
    plan = read_frame(
        conn,
        sa.select(
            p.loan_id, p.tier, p.strategy_arm, p.legal_ready, p.recovery_probability,
            a.assigned_tier,
        )
        .join(experiment_arms, a.loan_id == p.loan_id)
        .where(p.as_of_date == as_of, p.policy_arm == NBA_ARM),
    )  # fmt: skip
    return with_features(conn, as_of, plan)


def _static_strategy(rows: pd.DataFrame, policy: StrategyPolicy) -> pd.Series:
    """The base arm's own strategy today (``keep_arms``' rule)."""
    out = pd.Series(pd.NA, index=rows.index, dtype="string")
    for arm, strategy in arm_strategies(rows, policy).items():
        mine = (rows["strategy_arm"] == arm).to_numpy()
        out[mine] = strategy[mine]
    return out


def nba_rows(
    learned: Learned, rows: pd.DataFrame, as_of: dt.date, settings: Settings,
    uplift: UpliftPolicy, promoted: bool,
) -> pd.DataFrame:  # fmt: skip
    """The learned policy's decision per row, with reasons (pure: no warehouse). An
    exploring row keeps its base arm's own strategy (a randomised execution)."""
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
    static = _static_strategy(rows, policy)
    chosen = strategy_for(choice.treatment, rows, policy, uplift)
    strategy = chosen.where(~choice.explore.to_numpy(), static).fillna(static)
    out = pd.DataFrame({
        "as_of_date": as_of, "loan_id": rows["loan_id"].astype(str), "tier": rows["tier"],
        "nba_treatment": choice.treatment.astype(str), "nba_strategy": strategy,
        "static_treatment": ref.astype(str), "nba_uplift": choice.uplift.round(2),
        "nba_explore": choice.explore.astype(bool), "nba_policy_version": learned.version,
        "nba_promoted": promoted,
    })  # fmt: skip
    return pd.concat([out, reasons.set_axis(out.index)], axis=1)


def run_nba_decisions(
    as_of: dt.date, settings: Settings | None = None, challenger: bool = True,
    uplift: UpliftPolicy | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Recompute ``act_nba_decisions`` for ``as_of`` (replaced) for the nba arm's planned
    accounts, with the policy selected as of ``as_of``: with ``challenger`` (the arm's
    own selection) the rows the plan step wrote, byte for byte."""
    settings = settings or get_settings()
    uplift = uplift or load_uplift_policy()
    selected = load_learned(settings, as_of, challenger)
    if selected is None:
        raise RuntimeError(f"no learned policy trained by {as_of}: run `nplpipeline uplift train`")
    learned, promoted = selected
    with transaction(settings.warehouse_url) as conn:
        ensure_schema(conn)
        rows = _decision_frame(conn, as_of)
        if rows.empty:
            raise RuntimeError(f"no nba-arm plan rows on {as_of}: run the plan step first")
        out = nba_rows(learned, rows, as_of, settings, uplift, promoted)
        written = replace_partition(conn, nba_decisions, "as_of_date", as_of, out)
    summary = decision_summary(as_of, out, learned.version, promoted) | {"decisions": written}
    log.info("nba decisions %s: %s", as_of, summary)
    return summary


def decision_summary(
    as_of: dt.date, out: pd.DataFrame, version: str | None, promoted: bool
) -> dict[str, Any]:
    """Counts only (no ids): what the day's decisions were."""
    return {
        "as_of": as_of.isoformat(), "decisions": len(out), "policy_version": version,
        "promoted": promoted,
        "explore_share": round(float(out["nba_explore"].mean()), 3) if len(out) else None,
        "by_treatment": {str(k): int(v) for k, v in out["nba_treatment"].value_counts().items()},
        "changed_from_static": int((out["nba_treatment"] != out["static_treatment"]).sum()),
    }  # fmt: skip
