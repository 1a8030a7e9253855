"""Model-stage knobs: what a lender tunes without touching the modelling code.

Same pattern as ``nplpipeline.config.policy``: validated pydantic models with defaults, so
a typo in a YAML override fails at load time with the field's path. Every threshold of the
promotion gate and of monitoring is here, not in the code that applies it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nplpipeline.config.loading import load_yaml_model

ENV_VAR = "NPL_MODEL_CONFIG"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnsConfig(_Strict):
    """Which columns are ids, label, date and features; features are inferred by default."""

    id_columns: tuple[str, ...] = ("loan_id", "customer_id")
    date_column: str = "as_of_date"
    label_column: str = "label"
    # Segments reported (and gated) on when present. `tier` is derived from a previous
    # model's score, so it is a segment but never a feature (see `exclude_columns`).
    segment_columns: tuple[str, ...] = ("product", "bucket", "tier")
    exclude_columns: tuple[str, ...] = ("tier",)
    # None = infer from dtypes: numeric/bool -> numeric, category/string/object -> categorical.
    feature_columns: tuple[str, ...] | None = None
    categorical_columns: tuple[str, ...] | None = None


class SplitConfig(_Strict):
    """Out-of-time split: test on the latest `test_dates` as-of dates, or from `cutoff` on."""

    test_dates: int | None = Field(default=3, ge=1)
    cutoff: dt.date | None = None
    # Training rows this many days before the test period are dropped: their label
    # horizon reaches into the test period, so they would leak test-period outcomes.
    embargo_days: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _one_rule(self) -> SplitConfig:
        if self.cutoff is None and self.test_dates is None:
            raise ValueError("give test_dates or cutoff")
        return self


class ScorecardConfig(_Strict):
    n_bins: int = Field(default=10, ge=2, le=50)
    smoothing: float = Field(default=0.5, gt=0)  # pseudo-count per bin and class
    min_category_share: float = Field(default=0.005, ge=0, lt=0.5)
    C: float = Field(default=1.0, gt=0)
    pdo: float = Field(default=20.0, gt=0)
    base_score: float = 600.0
    base_odds: float = Field(default=50.0, gt=0)


class BoostingConfig(_Strict):
    """Defaults chosen on a time-ordered validation slice inside the training period
    (``benchmarks/booster_tuning.py``), never on the out-of-time test dates."""

    max_iter: int = Field(default=1000, ge=1)  # upper bound: early stopping picks the count
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_leaf_nodes: int = Field(default=15, ge=2)
    min_samples_leaf: int = Field(default=200, ge=1)
    l2_regularization: float = Field(default=1.0, ge=0)
    # Early stopping validates on the latest dates before the calibration slice (time
    # order, not a random 10% of rows: the model is applied to later months).
    early_stopping: bool = True
    n_iter_no_change: int = Field(default=30, ge=1)
    validation_share: float = Field(default=0.2, gt=0, lt=0.9)
    max_categories: int = Field(default=250, ge=2, le=254)
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    # Share of the training period's latest dates held out to fit the calibrator.
    calibration_share: float = Field(default=0.2, gt=0, lt=0.9)
    # Refit on every training date with the iteration count early stopping chose, keeping
    # the calibrator fitted out of time. The latest months are the most like the months
    # scored; leaving them out costs the booster what the scorecard (fit on all) keeps.
    refit_on_all_dates: bool = True
    # Rows weigh 0.5 ** (days before the latest training date / half-life) in the booster's
    # fits (None: equal weights). Portfolios drift; the latest months are the most like
    # the months scored. Chosen on the validation slice like the other defaults.
    recency_half_life_days: float | None = Field(default=90.0, gt=0)
    random_state: int = 0


class GateConfig(_Strict):
    """Champion/challenger promotion gate; a challenger must pass every check."""

    auc_margin: float = Field(default=0.0, ge=0)
    psi_limit: float = Field(default=0.25, gt=0)
    segment_collapse_limit: float = Field(default=0.05, ge=0)
    min_segment_rows: int = Field(default=200, ge=1)  # smaller segments are too noisy to gate on
    # When the champion cannot score the current frame (e.g. features renamed), refuse by
    # default: a human must decide, never an automatic promotion of an uncompared model.
    promote_if_champion_unscorable: bool = False


class MonitoringConfig(_Strict):
    psi_watch: float = 0.10
    psi_alert: float = 0.25
    auc_drop_watch: float = 0.03
    auc_drop_alert: float = 0.05
    bins: int = Field(default=10, ge=2)
    min_labelled_rows: int = Field(default=200, ge=1)
    # Features summarised for drift; empty = the top features by importance at training.
    key_features: tuple[str, ...] = ()
    n_key_features: int = Field(default=10, ge=0)


class ReasonConfig(_Strict):
    top_k: int = Field(default=3, ge=1)
    # feature -> words a collector understands; extends/overrides reasons.DEFAULT_PHRASES.
    phrases: dict[str, str] = Field(default_factory=dict)


class ModelConfig(_Strict):
    experiment_name: str = "npl-recovery-model"
    registered_model_name: str = "npl_recovery_model"
    columns: ColumnsConfig = ColumnsConfig()
    split: SplitConfig = SplitConfig()
    scorecard: ScorecardConfig = ScorecardConfig()
    boosting: BoostingConfig = BoostingConfig()
    gate: GateConfig = GateConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    reasons: ReasonConfig = ReasonConfig()
    # Rows used for plots, permutation importance and the logged input example.
    evaluation_sample_rows: int = Field(default=20_000, ge=100)
    # Rows for permutation importance (cost: features x repeats predictions of this many).
    importance_sample_rows: int = Field(default=10_000, ge=100)
    seed: int = 0


def load_model_config(path: str | Path | None = None) -> ModelConfig:
    """Defaults, overridden by the YAML at `path` or `$NPL_MODEL_CONFIG` (unknown keys fail)."""
    return load_yaml_model(ModelConfig, path, ENV_VAR)
