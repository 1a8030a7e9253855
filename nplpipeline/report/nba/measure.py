"""The learned policy's arm against a baseline: per-account means and their intervals.

Pure pandas/numpy, no I/O. An account's outcome over the window is what the uplift layer
optimises (``nplpipeline.uplift.training``): net recovery = repaid (net of reversals) −
contact cost (``uplift.yaml``'s ``contact_cost`` per performed contact of ours) −
agency commissions (net of claw-backs); beside it, contacts per account and complaints
per 1,000 accounts. Repaid is not capped at the overdue balance: the arms are compared
on the same kind of accounts, so ordinary servicing cancels in the difference.

Intervals are the normal ones ``mart_experiment_uplift`` uses
(``kpis.plan.incremental_recovery``): its delta-method variance of a ratio Σy ÷ Σx with
x ≡ 1 per account is s² ÷ n, the variance of a mean. So:

* **arm vs arm** (``nba`` vs ``static``, independent randomised draws): difference of
  means ± z·√(s²_a/n_a + s²_b/n_b) (Welch);
* **paired** (the nba arm's loans in the pipeline's world vs the same loans in the status
  quo's): mean of the per-loan differences ± z·s_d/√n.

A side with fewer than 2 accounts has NaN interval bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from nplpipeline.report.kpis._frames import require_columns

NBA, STATIC, STATUS_QUO, DIFFERENCE = "nba", "static", "status_quo", "difference"
OVERALL = "overall"
OUTCOMES = ("repaid", "contact_cost", "commissions", "contacts", "complaints")
ACCOUNT_COLUMNS = ("loan_id", "tier", *OUTCOMES)
# metric -> (output column, interval columns, scale per account)
METRICS = {
    "net_recovery": ("net_recovery", "net_recovery_ci", 1.0),
    "contacts": ("contacts", "contacts_ci", 1.0),
    "complaints": ("complaints_per_1000", "complaints_ci", 1000.0),
}
RESULT_COLUMNS = [
    "baseline", "segment", "policy", "accounts", "baseline_accounts", "repaid",
    "contact_cost", "commissions", "net_recovery", "net_recovery_ci_low",
    "net_recovery_ci_high", "contacts", "contacts_ci_low", "contacts_ci_high",
    "complaints_per_1000", "complaints_ci_low", "complaints_ci_high", "confidence",
]  # fmt: skip


def with_net_recovery(accounts: pd.DataFrame) -> pd.DataFrame:
    """``accounts`` with ``net_recovery`` = repaid − contact cost − commissions."""
    require_columns(accounts, OUTCOMES, "accounts")
    out = accounts.copy()
    out[list(OUTCOMES)] = out[list(OUTCOMES)].astype("float64").fillna(0.0)
    out["net_recovery"] = out["repaid"] - out["contact_cost"] - out["commissions"]
    return out


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _mean_var(values: np.ndarray) -> tuple[float, float]:
    """The mean and the variance of the mean (NaN variance below 2 values)."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    var = float(values.var(ddof=1)) / n if n > 1 else float("nan")
    return float(values.mean()), var


def _side(frame: pd.DataFrame, z: float) -> dict[str, float]:
    """One side's per-account means, each metric with the interval of its mean."""
    row: dict[str, float] = {"accounts": float(len(frame))}
    for col in ("repaid", "contact_cost", "commissions"):
        row[col] = float(frame[col].mean()) if len(frame) else float("nan")
    for source, (name, ci, scale) in METRICS.items():
        mean, var = _mean_var(frame[source].to_numpy("float64") * scale)
        row[name], half = mean, z * np.sqrt(var)
        row[f"{ci}_low"], row[f"{ci}_high"] = mean - half, mean + half
    return row


def _difference(a: dict[str, float], b: dict[str, float], half: dict[str, float]) -> dict:
    row = {k: a[k] - b[k] for k in ("repaid", "contact_cost", "commissions")}
    row["accounts"], row["baseline_accounts"] = a["accounts"], b["accounts"]
    for name, ci, _ in METRICS.values():
        row[name] = a[name] - b[name]
        row[f"{ci}_low"], row[f"{ci}_high"] = row[name] - half[name], row[name] + half[name]
    return row


def _arm_rows(part: pd.DataFrame, arm: str, z: float) -> list[dict[str, object]]:
    a, b = part[part[arm] == NBA], part[part[arm] != NBA]
    side_a, side_b = _side(a, z), _side(b, z)
    half = {}
    for source, (name, _, scale) in METRICS.items():
        _, va = _mean_var(a[source].to_numpy("float64") * scale)
        _, vb = _mean_var(b[source].to_numpy("float64") * scale)
        half[name] = z * float(np.sqrt(va + vb))
    diff = _difference(side_a, side_b, half)
    return [{"policy": NBA, **side_a}, {"policy": STATIC, **side_b},
            {"policy": DIFFERENCE, **diff}]  # fmt: skip


def _paired_rows(part: pd.DataFrame, z: float) -> list[dict[str, object]]:
    mine = part[[f"{c}_nba" for c in (*OUTCOMES, "net_recovery")]]
    theirs = part[[f"{c}_sq" for c in (*OUTCOMES, "net_recovery")]]
    side_a = _side(mine.set_axis([*OUTCOMES, "net_recovery"], axis=1), z)
    side_b = _side(theirs.set_axis([*OUTCOMES, "net_recovery"], axis=1), z)
    half = {}
    for source, (name, _, scale) in METRICS.items():
        d = (part[f"{source}_nba"] - part[f"{source}_sq"]).to_numpy("float64") * scale
        half[name] = z * float(np.sqrt(_mean_var(d)[1]))
    diff = _difference(side_a, side_b, half)
    return [{"policy": NBA, **side_a}, {"policy": STATUS_QUO, **side_b},
            {"policy": DIFFERENCE, **diff}]  # fmt: skip


def _segments(frame: pd.DataFrame, tiers: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    present = set(frame["tier"].dropna().astype(str))
    order = [t for t in tiers if t in present] + sorted(present - set(tiers))
    return [(OVERALL, frame)] + [(t, frame[frame["tier"] == t]) for t in order]


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    out = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    numeric = [c for c in RESULT_COLUMNS if c not in ("baseline", "segment", "policy")]
    out[numeric] = out[numeric].astype("float64")
    return out


def compare_arms(
    accounts: pd.DataFrame, tiers: Sequence[str] = (), confidence: float = 0.95
) -> pd.DataFrame:
    """The nba arm against the static arm, overall and per tier (``RESULT_COLUMNS``).

    ``accounts``: one row per cohort account with ``loan_id, tier, policy_arm`` and the
    window's ``OUTCOMES`` (missing or null ``policy_arm`` is ``static``). Empty when no
    account is in the nba arm: there is nothing to compare yet.
    """
    require_columns(accounts, ACCOUNT_COLUMNS, "accounts")
    frame = with_net_recovery(accounts.drop_duplicates("loan_id"))
    arm = frame["policy_arm"] if "policy_arm" in frame else pd.Series(STATIC, index=frame.index)
    frame["_arm"] = arm.fillna(STATIC).astype(str)
    if not (frame["_arm"] == NBA).any():
        return _frame([])
    z = _z(confidence)
    rows = []
    for segment, part in _segments(frame, tiers):
        rows += [{"segment": segment, **r} for r in _arm_rows(part, "_arm", z)]
    return _frame(rows).assign(baseline=STATIC, confidence=confidence)


def compare_paired(
    nba_world: pd.DataFrame,
    status_quo_world: pd.DataFrame,
    tiers: Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The nba arm's loans in the pipeline's world against the same loans in the status
    quo's, paired by ``loan_id`` (``RESULT_COLUMNS``; empty without nba loans).

    ``nba_world``: ``loan_id, tier`` and ``OUTCOMES`` per nba-arm loan (the pipeline's
    world); ``status_quo_world``: ``loan_id`` and ``OUTCOMES`` (any loans; a loan missing
    there did nothing in that world: zeros).
    """
    require_columns(nba_world, ACCOUNT_COLUMNS, "nba_world")
    require_columns(status_quo_world, ("loan_id", *OUTCOMES), "status_quo_world")
    mine = with_net_recovery(nba_world.drop_duplicates("loan_id"))
    theirs = with_net_recovery(status_quo_world.drop_duplicates("loan_id"))
    cols = [*OUTCOMES, "net_recovery"]
    both = mine[["loan_id", "tier", *cols]].merge(
        theirs[["loan_id", *cols]], on="loan_id", how="left", suffixes=("_nba", "_sq")
    )
    both[[f"{c}_sq" for c in cols]] = both[[f"{c}_sq" for c in cols]].fillna(0.0)
    if both.empty:
        return _frame([])
    z = _z(confidence)
    rows = []
    for segment, part in _segments(both, tiers):
        rows += [{"segment": segment, **r} for r in _paired_rows(part, z)]
    return _frame(rows).assign(baseline=STATUS_QUO, confidence=confidence)
