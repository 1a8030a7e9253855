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
from sklearn.metrics import roc_auc_score, roc_curve

from nplpipeline.model import metrics
from nplpipeline.model.boosting import BoostedRecoveryModel
from nplpipeline.model.substitution import TreeSums, has_tree_predictors, internal_matrix


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


IMPORTANCE_MAX_ROWS = 50_000  # never more rows than this, whatever the caller passes


def permutation_importances(
    model: object,
    X: pd.DataFrame,
    y: np.ndarray,
    features: list[str],
    n_repeats: int = 3,
    seed: int = 0,
    max_rows: int = IMPORTANCE_MAX_ROWS,
) -> pd.DataFrame:
    """Drop in OOT AUC when a feature is shuffled: model-agnostic, on held-out data.

    On at most `max_rows` rows (a seeded draw when `X` has more: same rows every run).
    Cost is features x repeats predictions, so a model that can score an encoded frame
    (`encode` / `predict_proba_encoded`: the booster, the scorecards) is encoded once and
    its encoded columns shuffled; the encodings work column by column, so this gives the
    same numbers as shuffling the frame and encoding it again for every prediction. The
    booster goes further: a shuffled column re-walks only the trees that split on it
    (`substitution.TreeSums`), the rest of the raw score is kept from the unshuffled
    rows.
    """
    y = np.asarray(y)
    if len(X) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))
        X, y = X.iloc[keep], y[keep]
    if isinstance(model, BoostedRecoveryModel) and has_tree_predictors(model):
        estimator = _BoosterColumns(model, X, features)
        data = estimator.columns()
    elif hasattr(model, "encode") and hasattr(model, "predict_proba_encoded"):
        estimator = _EncodedColumns(model, X, features)
        data = estimator.columns()
    else:
        estimator, data = model, X[features]
    r = permutation_importance(
        estimator, data, y, scoring=_auc, n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
    return pd.DataFrame(
        {"feature": features, "importance": r.importances_mean, "std": r.importances_std}
    ).sort_values("importance", ascending=False, ignore_index=True)


def _auc(estimator: object, X: object, y: np.ndarray) -> float:
    return float(roc_auc_score(y, estimator.predict_proba(X)[:, 1]))


class _EncodedColumns:
    """`features`' columns of the model's encoding of X, scored with the other columns
    held as encoded: what permutation_importance shuffles instead of the frame."""

    def __init__(self, model: object, X: pd.DataFrame, features: list[str]):
        self.model = model
        self.encoded = model.encode(X)
        names = list(model.feature_names_)
        self.index = [names.index(f) for f in features]

    def columns(self) -> np.ndarray:
        return self.encoded[:, self.index]

    def fit(self, X: object, y: object = None) -> _EncodedColumns:  # for check_scoring
        return self

    def predict_proba(self, columns: np.ndarray) -> np.ndarray:
        full = self.encoded.copy()
        full[:, self.index] = columns
        return self.model.predict_proba_encoded(full)


class _BoosterColumns:
    """The booster's input columns of `features`; a prediction with one of them changed
    re-walks only the trees splitting on it."""

    def __init__(self, model: BoostedRecoveryModel, X: pd.DataFrame, features: list[str]):
        trees = TreeSums.structure(model)
        self.sums = TreeSums(model, internal_matrix(model, X), trees)
        column_of = np.empty(len(trees.order), dtype=np.int64)
        column_of[trees.order] = np.arange(len(trees.order))
        names = list(model.feature_names_)
        self.cols = [int(column_of[names.index(f)]) for f in features]

    def columns(self) -> np.ndarray:
        return self.sums.Z[:, self.cols].copy()

    def fit(self, X: object, y: object = None) -> _BoosterColumns:  # for check_scoring
        return self

    def predict_proba(self, columns: np.ndarray) -> np.ndarray:
        Z = self.sums.Z
        changed = [
            k
            for k, c in enumerate(self.cols)
            if not np.array_equal(columns[:, k], Z[:, c], equal_nan=True)
        ]
        if not changed:
            raw = self.sums.raw
        elif len(changed) == 1:
            raw = self.sums.raw_with(self.cols[changed[0]], columns[:, changed[0]])
        else:  # not what permutation importance does, but still right
            full = Z.copy()
            full[:, self.cols] = columns
            raw = TreeSums(self.sums.model, full, self.sums.t).raw
        p = self.sums.probability(raw)
        return np.column_stack([1.0 - p, p])


def importance_plot(importances: pd.DataFrame, path: str | Path, top: int = 20) -> Path:
    t = importances.head(top).iloc[::-1]
    fig = Figure(figsize=(6, 0.3 * len(t) + 1.2))
    ax = fig.add_subplot()
    ax.barh(t.feature, t.importance, xerr=t["std"])
    ax.set(xlabel="AUC drop when shuffled", title="Permutation importance (OOT sample)")
    return _save(fig, path)
