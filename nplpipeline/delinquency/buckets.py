"""DPD to bucket and regulatory grade, vectorised over a whole portfolio."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.config.policy import DelinquencyPolicy


def bucket_index(dpd: np.ndarray, policy: DelinquencyPolicy) -> np.ndarray:
    """Index into ``policy.buckets`` of each DPD.

    The policy guarantees contiguous buckets from 0 with an open last one, so the lower
    edges alone decide membership.
    """
    dpd = np.asarray(dpd)
    if dpd.size and dpd.min() < 0:
        raise ValueError("dpd must be >= 0")
    edges = np.asarray(policy.bucket_lower_edges, dtype=np.int64)
    return np.searchsorted(edges, dpd, side="right") - 1


def assign_buckets(dpd: np.ndarray, policy: DelinquencyPolicy) -> tuple[np.ndarray, np.ndarray]:
    """Bucket names and regulatory grades (object arrays) for each DPD."""
    idx = bucket_index(dpd, policy)
    names = np.array(policy.bucket_names, dtype=object)
    grades = np.array([b.regulatory_grade for b in policy.buckets], dtype=object)
    return names[idx], grades[idx]


def bucket_categoricals(
    dpd: np.ndarray, policy: DelinquencyPolicy
) -> tuple[pd.Categorical, pd.Categorical]:
    """Buckets and grades as ordered categoricals.

    Ordered so that later stages (roll rates, vintage curves) sort and compare buckets by
    severity rather than alphabetically; categorical so a million rows cost one byte each.
    """
    idx = bucket_index(dpd, policy)
    grade_order = list(dict.fromkeys(b.regulatory_grade for b in policy.buckets))
    grade_of_bucket = np.array(
        [grade_order.index(b.regulatory_grade) for b in policy.buckets], dtype=np.int64
    )
    buckets = pd.Categorical.from_codes(idx, categories=policy.bucket_names, ordered=True)
    grades = pd.Categorical.from_codes(grade_of_bucket[idx], categories=grade_order, ordered=True)
    return buckets, grades
