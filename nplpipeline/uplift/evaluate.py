"""Fit the learners on the earlier decisions, judge the learned policy on the later ones.

The training table is split by decision date: the last ``gate.out_of_time_days`` are
held out. On them, with an outcome model fitted on the earlier rows only, the static
tier policy (every account's champion-arm treatment), the logged arms and the learned
policy get IPS and DR values with bootstrap CIs over accounts, and the learned policy's
paired DR gain over the static one goes to the gate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from nplpipeline.act.arms import uniform_draw
from nplpipeline.config.strategy import StrategyPolicy
from nplpipeline.uplift.config import UpliftPolicy
from nplpipeline.uplift.estimators import DRLearner, TLearner, default_regressor
from nplpipeline.uplift.evaluation import (
    Estimate,
    bootstrap_mean,
    deterministic,
    dr_terms,
    ips_terms,
    ranking_metrics,
)
from nplpipeline.uplift.policy import Choice, choose, policy_matrix
from nplpipeline.uplift.training import PROPENSITY_PREFIX, covariate_columns, design_matrix
from nplpipeline.uplift.treatments import arm_treatments


@dataclass
class Learned:
    """What the decisions need: the DR-learner (values), the T-learner (the evaluation's
    outcome model), the covariates' medians (for reasons) and the version."""

    dr: DRLearner
    t: TLearner
    medians: np.ndarray
    version: str
    covariates: list[str] = field(default_factory=covariate_columns)


def prob_matrix(rows: pd.DataFrame, uplift: UpliftPolicy) -> pd.DataFrame:
    return pd.DataFrame(
        {n: rows[PROPENSITY_PREFIX + n].to_numpy(float) for n in uplift.treatment_names},
        index=rows.index,
    )


def reference(rows: pd.DataFrame, policy: StrategyPolicy, uplift: UpliftPolicy) -> pd.Series:
    """The static tier policy's treatment: the champion arm's, or the row's own arm's
    where the assigned tier has no champion (never: every tier has one)."""
    by_arm = arm_treatments(rows, policy, uplift)
    return by_arm["champion"].fillna(rows["treatment"].astype("string"))


def split_out_of_time(rows: pd.DataFrame, days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    dates = pd.to_datetime(rows["as_of_date"])
    cutoff = dates.max() - pd.Timedelta(days=days)
    return rows[(dates <= cutoff).to_numpy()], rows[(dates > cutoff).to_numpy()]


def fit(rows: pd.DataFrame, uplift: UpliftPolicy, version: str) -> Learned:
    x, prob = design_matrix(rows), prob_matrix(rows, uplift)
    t, y = rows["treatment"].to_numpy(dtype=object), rows["net_recovery"].to_numpy(float)
    make = partial(default_regressor, uplift.seed)  # picklable: the policy is kept on disk
    n, f = uplift.min_rows_per_treatment, uplift.cross_fit_folds
    dr = DRLearner(make, make, min_rows=n, folds=f, seed=uplift.seed).fit(x, t, y, prob)
    tl = TLearner(make, min_rows=n).fit(x, t, y, prob)
    return Learned(dr, tl, np.nanmedian(x, axis=0), version)


def decide_rows(
    learned: Learned, rows: pd.DataFrame, ref: pd.Series, uplift: UpliftPolicy
) -> tuple[Choice, pd.DataFrame]:
    """The learned policy's choice per row, capacity applied per decision date."""
    x, prob = design_matrix(rows), prob_matrix(rows, uplift)
    values = learned.dr.predict(x, prob)
    draw = uniform_draw(rows["loan_id"], uplift.seed)
    parts = []
    for _, idx in rows.groupby("as_of_date", sort=True).indices.items():
        sub = rows.index[idx]
        parts.append(
            choose(
                values.loc[sub],
                ref.loc[sub],
                rows.loc[sub, "treatment"].astype("string"),
                draw[idx],
                uplift.min_randomised_share,
                uplift.capacity,
            )
        )
    choice = Choice(*(pd.concat([getattr(c, f) for c in parts]).reindex(rows.index)
                      for f in ("best", "treatment", "uplift", "explore")))  # fmt: skip
    return choice, values


def _estimates(terms: np.ndarray, groups: np.ndarray, uplift: UpliftPolicy) -> Estimate:
    return bootstrap_mean(
        terms, groups, uplift.bootstrap_samples, uplift.gate.ci_level, uplift.seed
    )


def evaluate(
    learned: Learned, test: pd.DataFrame, policy: StrategyPolicy, uplift: UpliftPolicy
) -> tuple[dict[str, float], Estimate]:
    """Off-policy values on ``test`` and the learned policy's paired DR gain."""
    test = test.reset_index(drop=True)
    x, prob = design_matrix(test), prob_matrix(test, uplift)
    t, y = test["treatment"].to_numpy(dtype=object), test["net_recovery"].to_numpy(float)
    groups = test["loan_id"].astype(str).to_numpy()
    ref = reference(test, policy, uplift)
    choice, values = decide_rows(learned, test, ref, uplift)
    mu = learned.t.predict(x, prob)
    policies = {
        "static": deterministic(ref, prob.columns),
        "logged": prob,
        "learned": policy_matrix(choice, prob),
    }
    metrics: dict[str, float] = {"oot_rows": float(len(test)), "oot_mean_outcome": float(y.mean())}
    dr_of = {}
    for name, pi in policies.items():
        metrics.update(_estimates(ips_terms(t, y, prob, pi), groups, uplift).as_dict(f"ips_{name}"))
        dr_of[name] = dr_terms(t, y, prob, pi, mu)
        metrics.update(_estimates(dr_of[name], groups, uplift).as_dict(f"dr_{name}"))
    gain = _estimates(dr_of["learned"] - dr_of["static"], groups, uplift)
    metrics.update(gain.as_dict("dr_gain_vs_static"))
    ref_values = values.to_numpy()[np.arange(len(test)), values.columns.get_indexer(ref)]
    uplift_frame = values.sub(ref_values, axis=0)
    metrics.update(ranking_metrics(t, y, prob, uplift_frame, ref))
    for name, share in choice.treatment.value_counts(normalize=True).items():
        metrics[f"learned_share_{name}"] = float(share)
    return metrics, gain


def as_of_version(uplift: UpliftPolicy, as_of: dt.date) -> str:
    """The learned policy's version: its configuration's hash and its training date."""
    return f"{uplift.version()}-{as_of:%Y%m%d}"
