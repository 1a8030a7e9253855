"""Synthetic model frames with a known signal, in the features-stage contract.

For tests and the 1M-row benchmark: ids, month-end `as_of_date`, segment columns
(`product`, `bucket`, `tier`), numeric and categorical features with NaNs, and a label
drawn from a known logit. The logit has an XOR-like interaction (a scorecard, additive
in its features, cannot represent it; a boosted model can) and a dominant `dpd` effect
(reason codes should name it for very late accounts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PRODUCTS = ["cash_loan", "credit_card", "consumer_durable"]
PRODUCT_EFFECT = {"cash_loan": 0.0, "credit_card": -0.4, "consumer_durable": 0.4}
BUCKET_EDGES = [0, 30, 60, 90, 120, 150, 180]
BUCKET_NAMES = ["M1", "M2", "M3", "M4", "M5", "M6", "M6+"]


def true_logit(frame: pd.DataFrame, interaction: float = 1.5) -> np.ndarray:
    """The generating log-odds of recovery (for checking what the models learnt)."""
    dpd = frame["dpd"].to_numpy(dtype=float)
    rpc = frame["rpc_90d"].fillna(0).to_numpy(dtype=float)
    paid = frame["paid_90d"].fillna(0).to_numpy(dtype=float)
    prod = frame["product"].astype(str).map(PRODUCT_EFFECT).to_numpy(dtype=float)
    x1 = frame["x1"].fillna(0).to_numpy(dtype=float)
    x2 = frame["x2"].fillna(0).to_numpy(dtype=float)
    return (
        1.2
        - 0.02 * dpd
        + 0.45 * np.minimum(rpc, 4)
        + 0.6 * np.log1p(paid / 500)
        + prod
        + interaction * np.sign(x1) * np.sign(x2)
    )


def make_recovery_frame(
    n_rows: int = 20_000,
    n_dates: int = 12,
    n_noise: int = 4,
    seed: int = 0,
    nan_share: float = 0.05,
    interaction: float = 1.5,
    shift: float = 0.0,
    start: str = "2025-01-31",
    shuffle_labels: bool = False,
) -> pd.DataFrame:
    """A contract-shaped frame. `shift` > 0 moves the population later and less reachable
    (for drift tests); `shuffle_labels` breaks the signal (for a deliberately bad model)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_dates, freq="ME")
    as_of = dates[np.sort(rng.integers(0, n_dates, n_rows))]
    dpd = np.minimum(rng.exponential(60 * (1 + shift), n_rows).astype(int) + 1, 720)
    bucket_idx = np.searchsorted(BUCKET_EDGES, dpd, side="left") - 1
    frame = pd.DataFrame(
        {
            "loan_id": [f"L{i:08d}" for i in range(n_rows)],
            "customer_id": [f"C{i // 2:08d}" for i in range(n_rows)],
            "as_of_date": as_of,
            "product": pd.Categorical(
                rng.choice(PRODUCTS, n_rows, p=[0.5, 0.3, 0.2]), categories=PRODUCTS
            ),
            "bucket": pd.Series(np.asarray(BUCKET_NAMES)[np.clip(bucket_idx, 0, 6)], dtype="str"),
            "dpd": dpd,
            "rpc_90d": rng.poisson(2.0 / (1 + shift), n_rows).astype("float64"),
            "paid_90d": rng.gamma(1.0, 400, n_rows) * (rng.random(n_rows) < 0.6),
            "balance": rng.lognormal(9, 0.8, n_rows),
            "province": pd.Categorical(rng.choice([f"P{i:02d}" for i in range(31)], n_rows)),
            "employment_type": pd.Series(
                rng.choice(
                    ["salaried", "self_employed", "none", None], n_rows, p=[0.5, 0.25, 0.15, 0.1]
                ),
                dtype="str",
            ),
            "x1": rng.normal(size=n_rows),
            "x2": rng.normal(size=n_rows),
        }
    )
    for i in range(n_noise):
        frame[f"noise_{i}"] = rng.normal(size=n_rows)
    for col in ("rpc_90d", "paid_90d", "x1", "balance"):
        frame.loc[rng.random(n_rows) < nan_share, col] = np.nan
    logit = true_logit(frame, interaction)
    label = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    if shuffle_labels:
        label = rng.permutation(label)
    frame["label"] = label
    frame["tier"] = np.where(dpd <= 30, "mild", np.where(dpd > 180, "extremely_severe", "severe"))
    return frame
