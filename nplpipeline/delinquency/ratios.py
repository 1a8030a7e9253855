"""Portfolio ratios computed from a snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.config.policy import DelinquencyPolicy


def npl_ratio(snapshot: pd.DataFrame, policy: DelinquencyPolicy) -> float:
    """Outstanding principal of on-book loans at >= npl_min_dpd over all on-book principal.

    Recomputed from ``dpd`` and ``status`` with the given policy (not the stored flags) so a
    snapshot can be re-read under another policy. NaN when nothing is on book: a ratio of
    an empty portfolio is undefined, and 0 would look like a healthy book.
    """
    if "as_of_date" in snapshot and snapshot["as_of_date"].nunique() > 1:
        raise ValueError("npl_ratio needs a single as-of date; filter the history first")
    on_book = snapshot["status"].isin(policy.on_book_statuses).to_numpy(dtype=bool)
    npl = snapshot["dpd"].to_numpy() >= policy.npl_min_dpd
    balance = snapshot["outstanding_principal"].to_numpy(dtype=np.float64)
    denominator = balance[on_book].sum()
    if denominator <= 0:
        return float("nan")
    return float(balance[on_book & npl].sum() / denominator)
