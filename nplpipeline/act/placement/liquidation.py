"""Agency liquidation rates (``domain.md``: collected by the agency ÷ balance placed).

A new or rarely used agency has too few finished placements for its own ratio to mean
much, so the ratio is shrunk toward the pool with the credibility weight n / (n + k)
(n = its finished placements, k = ``credibility_k``): with thin data an agency looks
like the average, with plenty it looks like itself. The pool is shrunk toward
``prior_liquidation_rate`` the same way, so with no history at all every agency gets
the prior. Amount-based throughout: big balances weigh more, as in the KPI.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

RATE_COLUMNS = (
    "agency_id",
    "placements",
    "balance_placed",
    "collected",
    "raw_rate",
    "weight",
    "liquidation_rate",
)


def _ratio(collected: np.ndarray, balance: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(balance > 0, collected / np.where(balance > 0, balance, 1.0), np.nan)
    return np.clip(r, 0.0, 1.0)


def shrink(raw: np.ndarray, n: np.ndarray, toward: float | np.ndarray, k: float) -> np.ndarray:
    """Credibility-weighted mean n/(n+k)·raw + k/(n+k)·toward; a missing raw gets ``toward``."""
    n = np.asarray(n, dtype=float)
    w = n / (n + k)
    raw = np.where(np.isnan(raw), toward, raw)
    return w * raw + (1.0 - w) * toward


def pool_rate(history: pd.DataFrame, prior: float, credibility_k: float) -> float:
    """All agencies' measured placements together, shrunk toward the prior."""
    done = history[history["measured"].astype(bool) & (history["balance_placed"] > 0)]
    raw = _ratio(
        np.array([done["collected"].sum()], float), np.array([done["balance_placed"].sum()], float)
    )
    n = np.array([float(len(done))])
    return float(shrink(raw, n, prior, credibility_k)[0])


def liquidation_rates(
    history: pd.DataFrame, agency_ids: Sequence[str], prior: float, credibility_k: float
) -> pd.DataFrame:
    """One row per agency in ``agency_ids`` (order kept) with its shrunk liquidation rate.

    ``history``: agency_id, measured, balance_placed, collected (see ``history``).
    Placements with no balance placed carry no information and are not counted.
    """
    done = history[history["measured"].astype(bool) & (history["balance_placed"] > 0)]
    per = done.groupby("agency_id").agg(
        placements=("balance_placed", "size"),
        balance_placed=("balance_placed", "sum"),
        collected=("collected", "sum"),
    )
    per = per.reindex(pd.Index(list(agency_ids), name="agency_id"))
    per = per.fillna({"placements": 0, "balance_placed": 0.0, "collected": 0.0})
    pool = pool_rate(history, prior, credibility_k)
    n = per["placements"].to_numpy(float)
    raw = _ratio(per["collected"].to_numpy(float), per["balance_placed"].to_numpy(float))
    out = per.reset_index()
    out["placements"] = out["placements"].astype(np.int64)
    out["raw_rate"] = raw
    out["weight"] = n / (n + credibility_k)
    out["liquidation_rate"] = shrink(raw, n, pool, credibility_k)
    return out.loc[:, list(RATE_COLUMNS)]
