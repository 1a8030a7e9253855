"""Delinquency path features from month-end snapshots: lagged DPD and roll counts.

Each snapshot uses only payments and due dates up to its own date, so lagged values
are point-in-time by construction. Snapshots are cached by date: twelve consecutive
month-ends with six months of history need eighteen snapshots, not 84.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from nplpipeline.delinquency import DelinquencyEngine
from nplpipeline.delinquency.buckets import bucket_index
from nplpipeline.delinquency.coerce import to_arrow_strings
from nplpipeline.delinquency.encode import KeyIndex
from nplpipeline.features.calendar import previous_month_ends
from nplpipeline.features.config import FeatureConfig

NOT_ON_BOOK = -1  # DPD placeholder for a loan not yet originated on a date


class DpdHistory:
    """DPD per loan position on any date, from the engine, computed once per date."""

    def __init__(self, engine: DelinquencyEngine, index: KeyIndex) -> None:
        self.engine = engine
        self.index = index
        self._dpd: dict[dt.date, np.ndarray] = {}

    def snapshot(self, as_of: dt.date) -> tuple[pd.DataFrame, np.ndarray]:
        """The engine's snapshot and the loan position of each of its rows."""
        snap = self.engine.snapshot(as_of)
        pos = self.index.positions(to_arrow_strings(snap["loan_id"])).astype(np.int64)
        if as_of not in self._dpd:
            self._store(as_of, pos, snap["dpd"].to_numpy())
        return snap, pos

    def dpd(self, as_of: dt.date) -> np.ndarray:
        if as_of not in self._dpd:
            self.snapshot(as_of)
        return self._dpd[as_of]

    def _store(self, as_of: dt.date, pos: np.ndarray, dpd: np.ndarray) -> None:
        full = np.full(len(self.index), NOT_ON_BOOK, dtype=np.int64)
        full[pos] = dpd
        self._dpd[as_of] = full

    def path_features(
        self, as_of: dt.date, rows: np.ndarray, dpd_now: np.ndarray, config: FeatureConfig
    ) -> dict[str, np.ndarray]:
        """Lagged DPD, roll counts, months delinquent and max DPD over the prior month-ends.

        Rolls are bucket moves between consecutive month-ends over the last ``r`` months
        (``r + 1`` points ending on the as-of date); moves from or to "not yet
        originated" are not counted.
        """
        policy = self.engine.policy
        depth = max(config.dpd_lag_months, config.roll_months)
        earlier = previous_month_ends(as_of, depth)  # most recent first
        path = [dpd_now] + [self.dpd(d)[rows] for d in earlier]  # index m = m months back
        out: dict[str, np.ndarray] = {}
        for m in range(1, config.dpd_lag_months + 1):
            lag = path[m].astype(np.float64)
            lag[path[m] == NOT_ON_BOOK] = np.nan
            out[f"dpd_lag_{m}m"] = lag
        r = config.roll_months
        window = np.stack(path[: r + 1][::-1])  # oldest first, shape (r + 1, rows)
        on_book = window != NOT_ON_BOOK
        bucket = bucket_index(np.where(on_book, window, 0), policy)
        both = on_book[1:] & on_book[:-1]
        step = np.diff(bucket, axis=0)
        out[f"roll_forward_{r}m"] = ((step > 0) & both).sum(axis=0).astype(np.int64)
        out[f"roll_back_{r}m"] = ((step < 0) & both).sum(axis=0).astype(np.int64)
        # The as-of date itself is delinquent for every row, so these look only back.
        before = window[:-1]
        out[f"months_delinquent_{r}m"] = (before > 0).sum(axis=0).astype(np.int64)
        out[f"max_dpd_{r}m"] = np.maximum(before, 0).max(axis=0).astype(np.int64)
        return out
