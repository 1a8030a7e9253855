"""Credit-scoring metrics: AUC, Gini, KS, Brier, ECE, PSI and per-segment tables.

Written out (not only sklearn calls) where the industry definition has choices -- KS as
the largest gap between the class CDFs, ECE on equal-frequency bins, PSI with a floor for
empty bins -- so the figures in MLflow mean what domain.md says they mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

PSI_FLOOR = 1e-4  # share used for an empty bin, so ln(a/e) stays finite
PSI_STABLE, PSI_SHIFT = 0.10, 0.25


def _both_classes(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def auc(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y)
    return float(roc_auc_score(y, p)) if _both_classes(y) else float("nan")


def auc_difference_variance(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Variance of AUC(a) - AUC(b) on the same rows (DeLong et al. 1988): each row's
    placement value (the share of the other class it outranks, ties half) per score,
    differenced, and their variances per class added. NaN without both classes."""
    y = np.asarray(y).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return float("nan")
    d10, d01 = np.zeros(m), np.zeros(n)
    for s, sign in ((a, 1.0), (b, -1.0)):
        s = np.asarray(s, dtype=float)
        r = rankdata(s)
        d10 += sign * (r[y] - rankdata(s[y])) / n  # positives: share of negatives below
        d01 += sign * (1.0 - (r[~y] - rankdata(s[~y])) / m)  # negatives: positives above
    return float(np.var(d10, ddof=1) / m + np.var(d01, ddof=1) / n)


def gini(y: np.ndarray, p: np.ndarray) -> float:
    return 2.0 * auc(y, p) - 1.0


def ks(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov: max over thresholds of |CDF_recovered - CDF_not_recovered|."""
    y = np.asarray(y)
    if not _both_classes(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(np.abs(tpr - fpr)))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(brier_score_loss(np.asarray(y), np.asarray(p)))


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error on equal-frequency bins of the predicted probability:
    sum_b (n_b / n) * |mean(y_b) - mean(p_b)|. Equal-frequency so every bin has support."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    total = 0.0
    for idx in np.array_split(order, min(bins, len(p))):
        if len(idx):
            total += len(idx) / len(p) * abs(y[idx].mean() - p[idx].mean())
    return float(total)


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    rows = [
        {"bin": i, "n": len(idx), "mean_predicted": p[idx].mean(), "observed_rate": y[idx].mean()}
        for i, idx in enumerate(np.array_split(order, min(bins, len(p))))
        if len(idx)
    ]
    return pd.DataFrame(rows)


# -- population stability -----------------------------------------------------------------
def quantile_edges(expected: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner cut points at the expected sample's deciles (ties merged)."""
    x = np.asarray(expected, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return np.empty(0)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
    return edges[edges > x.min()]


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares per bin: len(edges)+1 value bins, then a missing-value bin."""
    x = np.asarray(values, dtype=float)
    idx = np.searchsorted(edges, x, side="right")
    idx[np.isnan(x)] = len(edges) + 1
    counts = np.bincount(idx, minlength=len(edges) + 2)
    return counts / max(len(x), 1)


def psi_from_shares(expected: Sequence[float], actual: Sequence[float]) -> float:
    """sum (a - e) * ln(a / e), empty bins floored at PSI_FLOOR (both sides)."""
    e = np.maximum(np.asarray(expected, dtype=float), PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """PSI of `actual` against `expected`, bins at the expected sample's quantiles."""
    edges = quantile_edges(expected, bins)
    return psi_from_shares(bin_shares(expected, edges), bin_shares(actual, edges))


def psi_band(value: float, stable: float = PSI_STABLE, shift: float = PSI_SHIFT) -> str:
    """'stable' (< 0.1), 'watch' (0.1-0.25) or 'shift' (> 0.25), per domain.md."""
    if value < stable:
        return "stable"
    return "watch" if value <= shift else "shift"


# -- summaries ----------------------------------------------------------------------------
def summarise(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = np.asarray(y)
    a = auc(y, p)
    return {
        "n": float(len(y)),
        "positive_rate": float(np.mean(y)) if len(y) else float("nan"),
        "auc": a,
        "gini": 2 * a - 1,
        "ks": ks(y, p),
        "brier": brier(y, p) if len(y) else float("nan"),
        "ece": ece(y, p) if len(y) else float("nan"),
        "mean_score": float(np.mean(p)) if len(y) else float("nan"),
    }


def segment_metrics(
    frame: pd.DataFrame, score: str | np.ndarray, label: str | np.ndarray, by: Sequence[str]
) -> pd.DataFrame:
    """One row per (segment column, value): n, positive rate, AUC, Gini, KS, Brier, ECE.

    Each column of `by` is cut separately (product, then bucket, ...), not crossed: crossed
    cells get too small to read. Columns absent from `frame` are skipped.
    """
    p = frame[score].to_numpy() if isinstance(score, str) else np.asarray(score)
    y = frame[label].to_numpy() if isinstance(label, str) else np.asarray(label)
    rows = []
    for col in by:
        if col not in frame.columns:
            continue
        keys = frame[col].astype("string").fillna("<missing>").to_numpy()
        for value in pd.unique(keys):
            m = keys == value
            rows.append({"segment": col, "value": str(value), **summarise(y[m], p[m])})
    return pd.DataFrame(
        rows,
        columns=[
            "segment",
            "value",
            "n",
            "positive_rate",
            "auc",
            "gini",
            "ks",
            "brier",
            "ece",
            "mean_score",
        ],
    )
