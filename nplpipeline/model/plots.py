"""Validation charts as PNG files for the MLflow run.

Built on `matplotlib.figure.Figure` with the Agg canvas, never pyplot: no display, no
global figure state shared between Airflow tasks running in one worker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_curve

from nplpipeline.model import metrics


def _save(fig: Figure, path: str | Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def roc_plot(y: np.ndarray, scores: dict[str, np.ndarray], path: str | Path) -> Path:
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} AUC {metrics.auc(y, p):.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (out of time)")
    ax.legend(loc="lower right")
    return _save(fig, path)


def calibration_plot(
    y: np.ndarray, scores: dict[str, np.ndarray], path: str | Path, bins: int = 10
) -> Path:
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for name, p in scores.items():
        t = metrics.calibration_table(y, p, bins)
        ax.plot(
            t.mean_predicted,
            t.observed_rate,
            marker="o",
            label=f"{name} ECE {metrics.ece(y, p, bins):.3f}",
        )
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(
        xlabel="predicted recovery probability",
        ylabel="observed recovery rate",
        title="Calibration (equal-frequency bins)",
    )
    ax.legend(loc="upper left")
    return _save(fig, path)


def ks_plot(y: np.ndarray, p: np.ndarray, path: str | Path) -> Path:
    y, p = np.asarray(y), np.asarray(p)
    grid = np.sort(np.unique(p))
    cdf_pos = np.searchsorted(np.sort(p[y == 1]), grid, side="right") / max((y == 1).sum(), 1)
    cdf_neg = np.searchsorted(np.sort(p[y == 0]), grid, side="right") / max((y == 0).sum(), 1)
    i = int(np.argmax(np.abs(cdf_neg - cdf_pos)))
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(grid, cdf_neg, label="not recovered")
    ax.plot(grid, cdf_pos, label="recovered")
    ax.vlines(
        grid[i],
        cdf_pos[i],
        cdf_neg[i],
        colors="red",
        label=f"KS {abs(cdf_neg[i] - cdf_pos[i]):.3f}",
    )
    ax.set(xlabel="score", ylabel="cumulative share", title="KS")
    ax.legend()
    return _save(fig, path)


def permutation_importances(
    model: object,
    X: pd.DataFrame,
    y: np.ndarray,
    features: list[str],
    n_repeats: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """Drop in OOT AUC when a feature is shuffled: model-agnostic, on held-out data."""
    r = permutation_importance(
        model, X[features], y, scoring="roc_auc", n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
    return pd.DataFrame(
        {"feature": features, "importance": r.importances_mean, "std": r.importances_std}
    ).sort_values("importance", ascending=False, ignore_index=True)


def importance_plot(importances: pd.DataFrame, path: str | Path, top: int = 20) -> Path:
    t = importances.head(top).iloc[::-1]
    fig = Figure(figsize=(6, 0.3 * len(t) + 1.2))
    ax = fig.add_subplot()
    ax.barh(t.feature, t.importance, xerr=t["std"])
    ax.set(xlabel="AUC drop when shuffled", title="Permutation importance (OOT sample)")
    return _save(fig, path)
