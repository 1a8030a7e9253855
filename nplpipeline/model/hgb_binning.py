"""One sort per feature for the booster's weighted bin edges, instead of 254.

scikit-learn 1.9's HistGradientBoosting cuts each numeric feature at 254 percentiles
before growing trees. Fit with sample weights (our recency weights) on at most 200k rows
(above that it draws a weighted subsample and takes plain percentiles), it calls
`_weighted_percentile` once per percentile, and every call re-sorts the column and
re-sums its weights: 254 sorts per feature per fit. That was 42% of a whole training run
on 100k synthetic rows x 40 features (271 of 650 s, cProfile; benchmarks/README.md,
"#14 kernels"), and it repeats for each of the booster's three fits per candidate.

`_weighted_percentile` takes an array of percentiles and computes the same numbers from
one sort and one cumulative sum (the per-call sort of an already sorted column gives the
same order every time, so the per-percentile calls see exactly what the single call
sees). `one_sort_per_feature()` swaps that call in for the duration of a fit; the
unweighted and few-distinct-values paths stay scikit-learn's own. Remove this module
once scikit-learn vectorises the loop itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sklearn.ensemble._hist_gradient_boosting import binning
from sklearn.ensemble._hist_gradient_boosting.common import ALMOST_INF, X_DTYPE
from sklearn.utils.stats import _weighted_percentile

_LOCK = threading.RLock()
_ORIGINAL = binning._find_binning_thresholds


@contextmanager
def one_sort_per_feature() -> Iterator[None]:
    """Within the block, booster fits compute weighted bin edges in one call per feature."""
    with _LOCK:
        binning._find_binning_thresholds = weighted_thresholds
        try:
            yield
        finally:
            binning._find_binning_thresholds = _ORIGINAL


def weighted_thresholds(
    col_data: np.ndarray, max_bins: int, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """scikit-learn's `_find_binning_thresholds`, its weighted-percentile loop as one call."""
    if sample_weight is None:
        return _ORIGINAL(col_data, max_bins)
    keep = ~np.isnan(col_data) & (sample_weight != 0)
    col, w = col_data[keep], sample_weight[keep]
    if np.unique(col).size <= max_bins:  # midpoints of the distinct values: cheap as is
        return _ORIGINAL(col_data, max_bins, sample_weight=sample_weight)
    order = np.argsort(col)
    col, w = col[order], w[order]
    percentiles = np.linspace(0, 100, num=max_bins + 1)[1:-1]
    edges = np.asarray(_weighted_percentile(col, w, percentiles, average=True))
    edges = np.unique(edges) if np.unique(edges).shape[0] != edges.shape[0] else edges
    np.clip(edges, a_min=None, a_max=ALMOST_INF, out=edges)
    return edges.astype(X_DTYPE, copy=False)
