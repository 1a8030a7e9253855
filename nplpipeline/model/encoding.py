"""Turning a feature frame into numbers, identically at fit and score time.

Shared by the scorecard (bins) and the boosted model (native categorical codes). Fitted
state is plain lists/arrays so models stay skops-serialisable with a short trusted list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from nplpipeline.model.frame import is_categorical, numeric_matrix

UNKNOWN = -1  # a category not kept at fit time (rare or unseen)
MISSING = -2


def as_strings(series: pd.Series) -> pd.Series:
    """Categories compared as text, so category/str/object/int-coded inputs agree."""
    return series.astype("string")


def category_levels(
    series: pd.Series, min_share: float = 0.0, max_levels: int | None = None
) -> list[str]:
    """Levels kept at fit time: frequent enough, most frequent first, at most `max_levels`."""
    counts = as_strings(series).value_counts(dropna=True)
    n = max(int(series.notna().sum()), 1)
    counts = counts[counts / n >= min_share] if min_share > 0 else counts
    counts = counts[counts > 0]
    if max_levels is not None:
        counts = counts.iloc[:max_levels]
    return [str(v) for v in counts.index]


def category_codes(series: pd.Series, levels: list[str]) -> np.ndarray:
    """Index into `levels`; UNKNOWN for other values, MISSING for NA. Vectorised.

    Unseen levels are mapped explicitly (a hash lookup, -1 when absent) rather than by
    building a Categorical whose categories lack them, which pandas deprecates.
    """
    s = as_strings(series)
    codes = pd.Index(levels, dtype="string").get_indexer(s).astype(np.int64)
    codes[codes < 0] = UNKNOWN
    codes[s.isna().to_numpy()] = MISSING
    return codes


class FrameEncoder(TransformerMixin, BaseEstimator):
    """Select the model's features from any frame; numerics as float, categoricals as codes.

    Output columns: numerics first, then categoricals (codes as float, NaN for
    missing/unknown, which HistGradientBoosting routes as missing). Extra columns in the
    input are ignored, so a scoring frame may carry ids and segments.
    """

    def __init__(
        self,
        numeric_features: list[str] | None = None,
        categorical_features: list[str] | None = None,
        max_categories: int = 250,
    ):
        self.numeric_features = numeric_features
        self.categorical_features = categorical_features
        self.max_categories = max_categories

    def fit(self, X: pd.DataFrame, y: object = None) -> FrameEncoder:
        if self.numeric_features is None and self.categorical_features is None:
            cats = [c for c in X.columns if is_categorical(X[c])]
            nums = [c for c in X.columns if c not in cats]
        else:
            nums = list(self.numeric_features or [])
            cats = list(self.categorical_features or [])
        self.numeric_features_ = nums
        self.categorical_features_ = cats
        self.levels_ = {c: category_levels(X[c], max_levels=self.max_categories) for c in cats}
        self.feature_names_out_ = [*nums, *cats]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names_out_ if c not in X.columns]
        if missing:
            raise KeyError(f"frame lacks model features: {missing}")
        parts = [numeric_matrix(X, self.numeric_features_)]
        for c in self.categorical_features_:
            codes = category_codes(X[c], self.levels_[c]).astype("float64")
            codes[codes < 0] = np.nan
            parts.append(codes[:, None])
        return np.hstack(parts)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.feature_names_out_, dtype=object)

    @property
    def categorical_mask_(self) -> np.ndarray:
        return np.array(
            [False] * len(self.numeric_features_) + [True] * len(self.categorical_features_)
        )
