"""Which columns of a model frame are features, and of which kind.

The training code must run on any tabular frame (our features stage or public credit
data), so the feature list is inferred from dtypes unless the config names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from nplpipeline.model.config import ColumnsConfig


@dataclass(frozen=True)
class FeatureSpec:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def is_categorical(series: pd.Series) -> bool:
    return bool(
        isinstance(series.dtype, pd.CategoricalDtype)
        or pdt.is_string_dtype(series.dtype)
        or pdt.is_object_dtype(series.dtype)
    )


def infer_feature_spec(frame: pd.DataFrame, columns: ColumnsConfig) -> FeatureSpec:
    """Features = every column but ids, label, date and exclusions; kind from dtype."""
    reserved = {
        *columns.id_columns,
        columns.label_column,
        columns.date_column,
        *columns.exclude_columns,
    }
    if columns.feature_columns is not None:
        names = list(columns.feature_columns)
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise KeyError(f"configured feature columns not in frame: {missing}")
    else:
        names = [c for c in frame.columns if c not in reserved]
    numeric: list[str] = []
    categorical: list[str] = []
    forced = set(columns.categorical_columns or ())
    for name in names:
        s = frame[name]
        if name in forced or is_categorical(s):
            categorical.append(name)
        elif pdt.is_bool_dtype(s.dtype) or pdt.is_numeric_dtype(s.dtype):
            numeric.append(name)
        elif columns.feature_columns is not None:
            raise TypeError(f"feature {name!r} has unsupported dtype {s.dtype}")
        # inferred mode: datetimes/timedeltas etc. are silently not features
    if not numeric and not categorical:
        raise ValueError("no feature columns found")
    return FeatureSpec(tuple(numeric), tuple(categorical))


def label_array(frame: pd.DataFrame, label_column: str) -> np.ndarray:
    """0/1 int labels; fails on anything but booleans/0/1 so a mislabelled frame stops here."""
    y = frame[label_column]
    if y.isna().any():
        raise ValueError(f"{y.isna().sum()} rows have no label; drop immature rows first")
    values = y.astype("int64").to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"label column {label_column!r} must be boolean or 0/1")
    return values


def numeric_matrix(frame: pd.DataFrame, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Float64 matrix with NaN for missing (nullable ints and booleans included)."""
    if not names:
        return np.empty((len(frame), 0))
    return np.column_stack(
        [
            pd.to_numeric(frame[n], errors="coerce").astype("float64").to_numpy(na_value=np.nan)
            for n in names
        ]
    )
