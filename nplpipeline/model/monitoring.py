"""Score and feature drift against the training sample, and realised AUC as labels mature.

The reference is a small JSON summary (bin edges and shares), logged with each training
run: monitoring never needs the training rows, and the summary can be read by anyone.
Rows returned here go straight into a monitoring table: one per (subject, metric) with
status ok / watch / alert by `MonitoringConfig` limits ("n/a" when too few labels).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nplpipeline.model import metrics
from nplpipeline.model.config import MonitoringConfig
from nplpipeline.model.encoding import MISSING, UNKNOWN, category_codes, category_levels
from nplpipeline.model.frame import is_categorical

REFERENCE_ARTIFACT = "monitoring/reference.json"
MAX_LEVELS = 50


def _numeric(values: pd.Series | np.ndarray) -> np.ndarray:
    return (
        pd.to_numeric(pd.Series(values), errors="coerce")
        .astype("float64")
        .to_numpy(na_value=np.nan)
    )


def _categorical_shares(series: pd.Series, levels: list[str]) -> list[float]:
    """Shares per kept level, then 'other', then missing."""
    codes = category_codes(series, levels)
    idx = np.where(
        codes == UNKNOWN, len(levels), np.where(codes == MISSING, len(levels) + 1, codes)
    )
    return (np.bincount(idx, minlength=len(levels) + 2) / max(len(series), 1)).tolist()


def summarise_feature(series: pd.Series, bins: int) -> dict[str, object]:
    if is_categorical(series):
        levels = category_levels(series, max_levels=MAX_LEVELS)
        return {
            "kind": "categorical",
            "levels": levels,
            "shares": _categorical_shares(series, levels),
        }
    x = _numeric(series)
    edges = metrics.quantile_edges(x, bins)
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "shares": metrics.bin_shares(x, edges).tolist(),
    }


def build_reference(
    frame: pd.DataFrame,
    scores: np.ndarray,
    features: Sequence[str],
    bins: int = 10,
    oot_auc: float | None = None,
) -> dict[str, object]:
    """JSON-able summary of the training population: score bins and key features' bins."""
    s = np.asarray(scores, dtype=float)
    edges = metrics.quantile_edges(s, bins)
    return {
        "n": len(frame),
        "bins": bins,
        "oot_auc": oot_auc,
        "score": {
            "kind": "numeric",
            "edges": edges.tolist(),
            "shares": metrics.bin_shares(s, edges).tolist(),
        },
        "features": {f: summarise_feature(frame[f], bins) for f in features if f in frame},
    }


def _current_shares(summary: dict, values: pd.Series | np.ndarray) -> list[float]:
    if summary["kind"] == "categorical":
        return _categorical_shares(pd.Series(values), list(summary["levels"]))
    return metrics.bin_shares(_numeric(values), np.asarray(summary["edges"])).tolist()


def _psi_status(value: float, cfg: MonitoringConfig) -> str:
    if value >= cfg.psi_alert:
        return "alert"
    return "watch" if value >= cfg.psi_watch else "ok"


def monitor(
    reference: dict,
    frame: pd.DataFrame,
    scores: np.ndarray,
    config: MonitoringConfig | None = None,
    labels: pd.Series | np.ndarray | None = None,
) -> pd.DataFrame:
    """Monitoring rows: PSI of the score and each referenced feature, and realised AUC.

    `labels` may hold NaN for accounts whose outcome horizon has not ended; only matured
    rows count towards realised AUC.
    """
    cfg = config or MonitoringConfig()
    rows = []

    def psi_row(subject: str, summary: dict, values: object) -> None:
        value = metrics.psi_from_shares(summary["shares"], _current_shares(summary, values))
        rows.append(
            {
                "subject": subject,
                "metric": "psi",
                "value": value,
                "reference": 0.0,
                "band": metrics.psi_band(value),
                "status": _psi_status(value, cfg),
                "n": len(frame),
            }
        )

    psi_row("score", reference["score"], np.asarray(scores))
    for f, summary in reference["features"].items():
        if f in frame.columns:
            psi_row(f, summary, frame[f])
        else:
            rows.append(
                {
                    "subject": f,
                    "metric": "psi",
                    "value": np.nan,
                    "reference": 0.0,
                    "band": None,
                    "status": "alert",
                    "n": len(frame),
                }
            )
    if labels is not None:
        rows.append(_auc_row(reference, np.asarray(scores, dtype=float), labels, cfg))
    return pd.DataFrame(
        rows, columns=["subject", "metric", "value", "reference", "band", "status", "n"]
    )


def _auc_row(
    reference: dict, scores: np.ndarray, labels: object, cfg: MonitoringConfig
) -> dict[str, object]:
    y = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    matured = ~np.isnan(y)
    n = int(matured.sum())
    ref_auc = reference.get("oot_auc")
    row = {"subject": "score", "metric": "realised_auc", "reference": ref_auc, "band": None, "n": n}
    value = metrics.auc(y[matured].astype(int), scores[matured]) if n else float("nan")
    if n < cfg.min_labelled_rows or np.isnan(value) or ref_auc is None:
        return {**row, "value": value, "status": "n/a"}
    drop = float(ref_auc) - value
    status = (
        "alert" if drop >= cfg.auc_drop_alert else "watch" if drop >= cfg.auc_drop_watch else "ok"
    )
    return {**row, "value": value, "status": status}


def log_reference(reference: dict) -> None:
    """Attach the reference to the active MLflow run."""
    import mlflow

    mlflow.log_dict(reference, REFERENCE_ARTIFACT)


def load_reference(tracking_uri: str, run_id: str) -> dict:
    """The reference summary logged with a training run (e.g. the champion's run)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=tmp, tracking_uri=tracking_uri
        )
        return json.loads(Path(path).read_text())
