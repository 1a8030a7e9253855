"""Top reasons for a chosen treatment: which covariates move its estimated uplift.

For each covariate, the uplift is re-predicted with that covariate set to its training
median; the difference is the covariate's contribution. The largest absolute
contributions are the reasons, worded with the covariate's name and direction only --
never its value, so no account's figures leave in a reason string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

TOP_NBA_REASONS = 3


def top_reasons(
    uplift_of: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    medians: np.ndarray,
    names: Sequence[str],
    top: int = TOP_NBA_REASONS,
) -> pd.DataFrame:
    """``nba_reason_1..top`` per row: '<covariate> raises|lowers the gain'."""
    base = uplift_of(x)
    contrib = np.empty((len(x), len(names)))
    for j in range(len(names)):
        moved = x.copy()
        moved[:, j] = medians[j]
        contrib[:, j] = base - uplift_of(moved)
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top]
    rows = np.arange(len(x))[:, None]
    picked = contrib[rows, order]
    label = np.asarray(names, dtype=object)[order]
    words = np.where(picked > 0, " raises the gain", " lowers the gain")
    text = np.where(np.abs(picked) > 1e-9, label + words, None)
    return pd.DataFrame({f"nba_reason_{i + 1}": text[:, i] for i in range(min(top, len(names)))})
