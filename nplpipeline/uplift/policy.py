"""The learned policy: per account, the treatment of highest expected net recovery.

Constraints, in the order they bind:

1. support -- only treatments the log gives this account with positive propensity and
   the learner fitted (``values`` is NaN elsewhere), so the choice stays inside the
   experiment's evidence and inside what the tier's strategies can execute;
2. measurement -- a stable-hash share (``min_randomised_share``) keeps its randomised
   arm draw, so propensities stay known and the next model can be learned;
3. capacity -- a treatment with a daily cap keeps the accounts that lose most by
   falling back to their next best treatment; the rest fall back. Loops run over the
   handful of treatments, never over accounts.

Guardrails are not re-implemented: the chosen treatment maps to a strategy of the
account's tier, and the worklist step screens its contacts like any other plan's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Choice:
    best: pd.Series  # the constrained best treatment per row (what the policy exploits)
    treatment: pd.Series  # what the row gets: ``best``, or its arm's draw where exploring
    uplift: pd.Series  # value of the choice minus value of the reference treatment
    explore: pd.Series  # True where the randomised arm draw was kept


def _best(values: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index of the best allowed column, its value and the runner-up's value per row."""
    v = np.where(allowed, values, -np.inf)
    order = np.argsort(-v, axis=1, kind="stable")
    rows = np.arange(len(v))
    first = v[rows, order[:, 0]]
    runner = v[rows, order[:, 1]] if v.shape[1] > 1 else np.full(len(v), -np.inf)
    return order[:, 0], first, runner


def choose(
    values: pd.DataFrame,
    reference: pd.Series,
    logged: pd.Series,
    explore_draw: np.ndarray,
    min_randomised_share: float,
    capacity: Mapping[str, int | None] | None = None,
) -> Choice:
    """The constrained choice per row; ``reference`` is the static policy's treatment
    (always supported), ``logged`` the row's randomised arm treatment, ``explore_draw``
    a stable uniform number per row."""
    names = list(values.columns)
    vals = values.to_numpy(dtype=float)
    allowed = np.isfinite(vals)
    explore = explore_draw < min_randomised_share
    caps = {k: v for k, v in (capacity or {}).items() if v is not None and k in names}
    for _ in range(len(names) + 1):
        pick, best, runner = _best(vals, allowed)
        over = False
        for name, cap in caps.items():
            j = names.index(name)
            mine = np.flatnonzero((pick == j) & ~explore & allowed[:, j])
            taken = int(((logged.to_numpy() == name) & explore).sum())
            room = max(cap - taken, 0)
            if len(mine) <= room:
                continue
            regret = best[mine] - np.where(np.isfinite(runner[mine]), runner[mine], -1e18)
            drop = mine[np.argsort(-regret, kind="stable")[room:]]
            allowed[drop, j] = False
            over = True
        if not over:
            break
    chosen = pd.Series(np.asarray(names, dtype=object)[pick], index=values.index, dtype="string")
    no_option = ~allowed.any(axis=1)
    chosen[no_option] = reference[no_option]
    final = chosen.where(~explore, logged.astype("string"))
    uplift = _value_of(vals, names, final) - _value_of(vals, names, reference)
    return Choice(
        chosen, final, pd.Series(uplift, index=values.index), pd.Series(explore, index=values.index)
    )


def _value_of(vals: np.ndarray, names: list[str], which: pd.Series) -> np.ndarray:
    idx = which.map({n: i for i, n in enumerate(names)}).fillna(-1).astype(int).to_numpy()
    got = vals[np.arange(len(vals)), np.clip(idx, 0, None)]
    return np.where((idx >= 0) & np.isfinite(got), got, np.nan)


def policy_matrix(choice: Choice, prob: pd.DataFrame) -> pd.DataFrame:
    """The learned policy as ``pi(t|x)``: the choice, except on the randomised share,
    where it gives treatments at the arms' own propensities."""
    share = float(choice.explore.mean()) if len(choice.explore) else 0.0
    chosen = pd.DataFrame(
        {c: (choice.best == c).to_numpy(dtype=float) for c in prob.columns},
        index=prob.index,
    )
    return (1 - share) * chosen + share * prob
