"""A randomised log whose true effects are known: for the tests and the benchmark.

Two strata at different known shares (like two tiers), three treatments whose net
effects cross (calls pay where x0 is high, visits where it is low), noise sd 10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NAMES = ["no_extra_action", "call", "visit"]
# Two strata with different known arm shares, like two tiers.
SHARES = {0: [0.1, 0.8, 0.1], 1: [0.3, 0.4, 0.3]}


def true_effects(x: np.ndarray) -> pd.DataFrame:
    """True net outcome per treatment: calls pay where x0 is high, visits where low."""
    base = 50 + 20 * x[:, 1]
    return pd.DataFrame(
        {
            "no_extra_action": base,
            "call": base + 30 * x[:, 0] - 5,
            "visit": base + 20 - 30 * x[:, 0],
        }
    )


def synthetic_log(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(0, 1, n), rng.normal(0, 1, n), rng.integers(0, 2, n)])
    prob = pd.DataFrame([SHARES[int(s)] for s in x[:, 2]], columns=NAMES)
    cum = prob.cumsum(axis=1).to_numpy()
    t = np.asarray(NAMES, dtype=object)[(rng.uniform(0, 1, (n, 1)) > cum).sum(axis=1)]
    mu = true_effects(x)
    y = mu.to_numpy()[np.arange(n), [NAMES.index(v) for v in t]] + rng.normal(0, 10, n)
    return x, t, y, prob
