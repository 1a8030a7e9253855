"""The candidate models a training run fits, built from the config in one place.

- ``scorecard``: WoE logistic scorecard, the transparent baseline (points per bin);
- ``logistic``: regularised logistic regression on the same bins one-hot encoded, L2
  strength chosen by cross-validated log loss (what "five lines of scikit-learn" give);
- ``boosted``: calibrated HistGradientBoosting, for interactions and non-linearities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nplpipeline.model.boosting import BoostedRecoveryModel, HeldOut
from nplpipeline.model.config import ModelConfig
from nplpipeline.model.frame import FeatureSpec
from nplpipeline.model.scorecard import WoEScorecard


def build(name: str, spec: FeatureSpec, config: ModelConfig) -> Any:
    """An unfitted candidate `name` on the features of `spec`."""
    num, cat = list(spec.numeric), list(spec.categorical)
    if name == "scorecard":
        return WoEScorecard(num, cat, random_state=config.seed, **config.scorecard.model_dump())
    if name == "logistic":
        lc = config.logistic
        points = config.scorecard.model_dump(
            include={"smoothing", "pdo", "base_score", "base_odds"}
        )
        return WoEScorecard(
            num,
            cat,
            n_bins=lc.n_bins,
            binning=lc.binning,
            min_category_share=lc.min_category_share,
            encoding=lc.encoding,
            C_grid=lc.C_grid,
            cv_folds=lc.cv_folds,
            cv_max_rows=lc.cv_max_rows,
            random_state=config.seed,
            **points,
        )
    if name == "boosted":
        return BoostedRecoveryModel.from_config(config.boosting, num, cat, n_threads=config.threads)
    raise ValueError(f"unknown candidate {name!r}")


def fit(model: Any, frame: pd.DataFrame, y: np.ndarray, dates: pd.Series | None) -> Any:
    """Fit a candidate; the booster also takes the as-of dates (None for undated data)."""
    if isinstance(model, BoostedRecoveryModel):
        return model.fit(frame, y, dates)
    return model.fit(frame, y)


def fit_holding_out(
    model: Any, frame: pd.DataFrame, y: np.ndarray, dates: pd.Series | None
) -> tuple[Any, HeldOut | None]:
    """`fit`, plus the rows the fit held out of the model that scored them and those
    scores (the booster's calibration slice); None for a model fit on every row."""
    if isinstance(model, BoostedRecoveryModel):
        return model, model.fit_holding_out(frame, y, dates)
    return model.fit(frame, y), None


def scores(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """P(recovery) per row: `predict_proba[:, 1]`, the booster's through its bin codes
    (the same numbers, about half the CPU; `binned_scores`)."""
    if isinstance(model, BoostedRecoveryModel):
        return model.predict_proba_by_bins(frame)[:, 1]
    return model.predict_proba(frame)[:, 1]
