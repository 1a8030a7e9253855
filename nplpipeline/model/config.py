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
    """Out-of-time split: test on the latest `test_dates` as-of dates, or from `cutoff` on.

    Data without dates (no date column, every value missing, or one value for all rows)
    cannot be split in time. Pseudo dates would make the "out-of-time" test an
    interleaved random slice and recency weights down-weight arbitrary rows, so instead
    (`when_no_dates: random_stratified`) the test is a stated random holdout of
    `holdout_share` of rows stratified by label, every slice inside training is random
    and stratified too, and rows are not weighted by recency. `error` refuses such data.
    """

    test_dates: int | None = Field(default=3, ge=1)
    cutoff: dt.date | None = None
    # Training rows this many days before the test period are dropped: their label
    # horizon reaches into the test period, so they would leak test-period outcomes.
    embargo_days: int = Field(default=0, ge=0)
    when_no_dates: Literal["random_stratified", "error"] = "random_stratified"
    holdout_share: float = Field(default=0.25, gt=0, lt=0.9)

    @model_validator(mode="after")
    def _one_rule(self) -> SplitConfig:
        if self.cutoff is None and self.test_dates is None:
            raise ValueError("give test_dates or cutoff")
        return self


class SelectionConfig(_Strict):
    """How the champion is chosen among the candidates, never on the test rows.

    Candidates are fit on the earlier part of the training period and judged by AUC on
    its latest `validation_share` of rows (by date); without dates, by mean AUC over
    `folds` stratified folds of the training rows. The earliest (simplest) candidate in
    `candidates` within a margin of the best wins: `se_multiplier` standard errors of its
    paired AUC difference to the best (DeLong), or `tie_margin`, whichever is wider. On
    600-row public data the candidates' validation AUCs differ by less than their noise
    (German credit: 0.002 between scorecard and logistic, SE ~0.01), and choosing the
    nominal best there picked a model 0.03 worse on the test.
    """

    candidates: tuple[Literal["scorecard", "logistic", "boosted"], ...] = (
        "scorecard",
        "logistic",
        "boosted",
    )
    validation_share: float = Field(default=0.2, gt=0, lt=0.9)
    folds: int = Field(default=5, ge=2, le=20)
    tie_margin: float = Field(default=0.0, ge=0)
    se_multiplier: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _some(self) -> SelectionConfig:
        if not self.candidates or len(set(self.candidates)) != len(self.candidates):
            raise ValueError("give each candidate once, at least one")
        return self


class ScorecardConfig(_Strict):
    """WoE scorecard. `binning: optimal` (the default; `model/binning.py`) bins as
    optbinning does: a one-feature CART tree cuts at most `max_prebins` prebins of at
    least `min_bin_share` of rows, then adjacent prebins are merged into the partition
    with the most information value whose bins each keep `min_bin_share` of rows and
    `min_bin_class_rows` of each class, and whose event rates follow a `trend` (`auto`:
    rising or falling, a peak or valley only where it keeps `peak_valley_gain` more IV
    and more than chance would add).
    Categorical levels are grouped the same way in event-rate order (levels under
    `min_category_share` pooled first); a level unseen at fit scores neutral (WoE 0).
    German credit, mean of 5 splits, test AUC: deciles 0.771, CART bins (`tree`) 0.783,
    optimal bins 0.799 (benchmarks/README.md). `C` is chosen by stratified 5-fold log
    loss over `C_grid` (empty: the fixed `C`) on at most `cv_max_rows` rows."""

    n_bins: int = Field(default=10, ge=2, le=50)  # for `tree` and `quantile` binning
    binning: Literal["optimal", "tree", "quantile"] = "optimal"
    min_bin_share: float = Field(default=0.05, gt=0, lt=0.5)
    max_prebins: int = Field(default=20, ge=2, le=100)
    min_bin_class_rows: int = Field(default=2, ge=0)
    trend: Literal["auto", "ascending", "descending", "peak", "valley", "none"] = "auto"
    peak_valley_gain: float = Field(default=0.1, ge=0)
    smoothing: float = Field(default=0.5, gt=0)  # pseudo-count per bin and class
    min_category_share: float = Field(default=0.005, ge=0, lt=0.5)
    C: float = Field(default=1.0, gt=0)
    C_grid: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    cv_max_rows: int = Field(default=20_000, ge=100)  # C is searched on a sample this big
    pdo: float = Field(default=20.0, gt=0)
    base_score: float = 600.0
    base_odds: float = Field(default=50.0, gt=0)


class LogisticConfig(_Strict):
    """The regularised logistic-regression candidate: the scorecard's bins one-hot
    encoded (each bin its own coefficient, so no WoE fitted on the same labels) with the
    L2 strength C chosen by stratified cross-validated log loss over `C_grid`."""

    encoding: Literal["onehot", "woe"] = "onehot"
    binning: Literal["optimal", "tree", "quantile"] = "quantile"
    n_bins: int = Field(default=10, ge=2, le=50)
    min_category_share: float = Field(default=0.005, ge=0, lt=0.5)
    C_grid: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    cv_folds: int = Field(default=5, ge=2, le=20)
    cv_max_rows: int = Field(default=20_000, ge=100)  # C is searched on a sample this big


class BoostingConfig(_Strict):
    """Defaults chosen on a time-ordered validation slice inside the training period
    (``benchmarks/booster_tuning.py``), never on the out-of-time test dates.

    Settings left at None adapt to the size of the data (the tuned values were chosen on
    ~46k training rows; sized for those they overfit a thousand rows). The values used
    are logged to MLflow as ``boosted.resolved.*`` params:

    - ``min_samples_leaf``: ``leaf_share * rows`` within [`min_samples_leaf_floor`,
      `min_samples_leaf_cap`]: the tuned 200 from 10k rows up, 15 at 750 (public German
      credit: 20 gave +0.047 AUC over 200). On 11k simulated rows a leaf of 106 lost
      0.01 AUC to 200, so the tuned value is kept wherever there are rows for it.
    - ``n_iter_no_change``: ``sqrt(rows) / rows_sqrt_per_patience`` within
      [`patience_floor`, `patience_cap`]: 30 at 46k rows, 10 below ~5k. The booster keeps
      the trees grown while it waits, so a patience sized for hundreds of trees overshoots
      the few dozen that small data support.
    - ``calibration: auto``: isotonic when the calibration slice has at least
      `isotonic_min_rows` rows, else sigmoid (Platt). Isotonic on a few hundred rows is a
      step function with a dozen steps: ties cost AUC (16 distinct scores on German credit).
      ``beta`` (logistic on ln p and -ln(1-p)) is available for skewed small slices.
    - recency weights never cut Kish's effective sample size ``(sum w)^2 / sum w^2`` below
      ``max(min_effective_share * rows, min(rows, min_effective_rows))``: the half-life is
      lengthened until they do not (so below `min_effective_rows` rows there are none).
    """

    max_iter: int = Field(default=1000, ge=1)  # upper bound: early stopping picks the count
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_leaf_nodes: int = Field(default=15, ge=2)
    min_samples_leaf: int | None = Field(default=None, ge=1)  # None: scaled with rows
    leaf_share: float = Field(default=0.02, gt=0, lt=1)
    min_samples_leaf_floor: int = Field(default=5, ge=1)
    min_samples_leaf_cap: int = Field(default=200, ge=1)
    l2_regularization: float = Field(default=1.0, ge=0)
    # Early stopping validates on the latest dates before the calibration slice (time
    # order, not a random 10% of rows: the model is applied to later months).
    early_stopping: bool = True
    n_iter_no_change: int | None = Field(default=None, ge=1)  # None: scaled with rows
    rows_sqrt_per_patience: float = Field(default=7.0, gt=0)
    patience_floor: int = Field(default=10, ge=1)
    patience_cap: int = Field(default=30, ge=1)
    validation_share: float = Field(default=0.2, gt=0, lt=0.9)
    max_categories: int = Field(default=250, ge=2, le=254)
    calibration: Literal["auto", "isotonic", "sigmoid", "beta"] = "auto"
    isotonic_min_rows: int = Field(default=2000, ge=1)
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
    min_effective_share: float = Field(default=0.5, gt=0, le=1)
    min_effective_rows: int = Field(default=2000, ge=1)
    random_state: int = 0

    @model_validator(mode="after")
    def _bounds(self) -> BoostingConfig:
        if self.min_samples_leaf_floor > self.min_samples_leaf_cap:
            raise ValueError("min_samples_leaf_floor exceeds min_samples_leaf_cap")
        if self.patience_floor > self.patience_cap:
            raise ValueError("patience_floor exceeds patience_cap")
        return self


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


PIPELINE_EXPERIMENT = "npl-recovery-model"
PIPELINE_MODEL_NAME = "npl_recovery_model"  # = registry.DEFAULT_MODEL_NAME, what scoring loads
OTHER_DATA_EXPERIMENT = "npl-other-data"
OTHER_DATA_MODEL_NAME = "npl_other_data_model"


class ModelConfig(_Strict):
    """Everything the training stage reads. The names below are the pipeline's own; a
    caller training on other data (``train_and_register(..., pipeline=False)``, the
    default) gets `OTHER_DATA_EXPERIMENT` / `OTHER_DATA_MODEL_NAME` instead unless it sets
    the names itself, and may never register under the pipeline's model name."""

    experiment_name: str = PIPELINE_EXPERIMENT
    registered_model_name: str = PIPELINE_MODEL_NAME
    columns: ColumnsConfig = ColumnsConfig()
    split: SplitConfig = SplitConfig()
    selection: SelectionConfig = SelectionConfig()
    scorecard: ScorecardConfig = ScorecardConfig()
    logistic: LogisticConfig = LogisticConfig()
    boosting: BoostingConfig = BoostingConfig()
    # Threads for the booster (OpenMP) and linear algebra (BLAS) while training and
    # scoring. 1 suits Airflow, which runs one task per core side by side: on a busy
    # two-core machine two OpenMP threads per fit were 3-60x slower than one. None: all.
    threads: int | None = Field(default=1, ge=1)
    gate: GateConfig = GateConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    reasons: ReasonConfig = ReasonConfig()
    # Rows used for plots, permutation importance and the logged input example.
    evaluation_sample_rows: int = Field(default=20_000, ge=100)
    # Rows for permutation importance: the first rows of the seeded evaluation sample, so
    # the same rows every run (cost: features x repeats predictions of this many, through
    # only the trees that split on the shuffled feature for the booster). At most 50k.
    importance_sample_rows: int = Field(default=10_000, ge=100, le=50_000)
    seed: int = 0


def load_model_config(path: str | Path | None = None) -> ModelConfig:
    """Defaults, overridden by the YAML at `path` or `$NPL_MODEL_CONFIG` (unknown keys fail)."""
    return load_yaml_model(ModelConfig, path, ENV_VAR)
