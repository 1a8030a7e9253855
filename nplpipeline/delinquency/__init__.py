"""Delinquency engine: DPD, buckets, arrears and NPL ratio on an as-of date.

``compute_snapshot`` for one date; ``DelinquencyEngine`` to prepare a portfolio once and
snapshot many dates (monthly histories, roll rates, vintage curves).
"""

from nplpipeline.delinquency.buckets import assign_buckets
from nplpipeline.delinquency.engine import DelinquencyEngine, compute_snapshot
from nplpipeline.delinquency.ratios import npl_ratio
from nplpipeline.delinquency.schema import SNAPSHOT_COLUMNS

__all__ = [
    "SNAPSHOT_COLUMNS",
    "DelinquencyEngine",
    "assign_buckets",
    "compute_snapshot",
    "npl_ratio",
]
