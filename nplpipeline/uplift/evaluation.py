"""Off-policy evaluation from the logged arms, and ranking quality per treatment.

A policy is a matrix ``pi`` (rows x treatments) of the probability it gives each
treatment; a deterministic policy has one 1 per row. With the logged treatment T, its
known propensity p(T|x) and outcome Y:

* IPS: ``mean(pi(T|x) / p(T|x) * Y)`` -- unbiased whenever pi only uses treatments
  with p > 0, whatever the outcome model;
* DR: ``mean(sum_t pi(t|x) mu_t(x) + pi(T|x) / p(T|x) * (Y - mu_T(x)))`` -- unbiased
  with the known propensities even when ``mu`` is wrong, and of lower variance when
  ``mu`` is good.

Confidence intervals come from a bootstrap over accounts (``groups``): the rows of one
account share its future, so they are resampled together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def _take(frame: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    cols = {c: i for i, c in enumerate(frame.columns)}
    idx = np.array([cols.get(v, -1) for v in t])
    vals = frame.to_numpy(dtype=float)
    out = np.where(idx >= 0, vals[np.arange(len(t)), np.clip(idx, 0, None)], 0.0)
    return out


def ips_terms(t: np.ndarray, y: np.ndarray, prob: pd.DataFrame, pi: pd.DataFrame) -> np.ndarray:
    p = _take(prob, t)
    w = _take(pi.reindex(columns=prob.columns, fill_value=0.0), t)
    if np.any((w > 0) & (p <= 0)):
        raise ValueError("the policy chooses a treatment the log never gives (propensity 0)")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w > 0, w / p * y, 0.0)


def dr_terms(
    t: np.ndarray, y: np.ndarray, prob: pd.DataFrame, pi: pd.DataFrame, mu: pd.DataFrame
) -> np.ndarray:
    pi = pi.reindex(columns=prob.columns, fill_value=0.0)
    mu = mu.reindex(columns=prob.columns).fillna(0.0)
    direct = (pi.to_numpy(float) * mu.to_numpy(float)).sum(axis=1)
    return direct + ips_terms(t, y - _take(mu, t), prob, pi)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {prefix: self.value, f"{prefix}_low": self.low, f"{prefix}_high": self.high}


def bootstrap_mean(
    terms: np.ndarray,
    groups: np.ndarray | None = None,
    samples: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> Estimate:
    """The mean of per-row terms with a percentile CI, resampling whole groups."""
    n = len(terms)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    codes = pd.factorize(pd.Series(groups if groups is not None else np.arange(n)))[0]
    k = codes.max() + 1
    sums = np.bincount(codes, weights=terms, minlength=k)
    sizes = np.bincount(codes, minlength=k).astype(float)
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    for b in range(samples):
        draw = np.bincount(rng.integers(0, k, k), minlength=k)
        means[b] = (draw * sums).sum() / (draw * sizes).sum()
    a = (1 - level) / 2
    low, high = np.quantile(means, [a, 1 - a])
    return Estimate(float(terms.mean()), float(low), float(high), n)


def deterministic(actions: pd.Series, columns: pd.Index) -> pd.DataFrame:
    """The ``pi`` matrix of a policy that gives row i the treatment ``actions[i]``."""
    return pd.DataFrame(
        {c: (actions == c).to_numpy(dtype=float) for c in columns}, index=actions.index
    )


def qini_curve(
    score: np.ndarray, treated: np.ndarray, y: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve over rows ranked by ``score`` (best first): the cumulative weighted
    treated outcome minus the control outcome scaled to the treated count. Returns
    (fraction targeted, incremental outcome)."""
    order = np.argsort(-score, kind="stable")
    t, yy, w = treated[order], y[order], weight[order]
    nt, nc = np.cumsum(w * t), np.cumsum(w * (1 - t))
    yt, yc = np.cumsum(w * t * yy), np.cumsum(w * (1 - t) * yy)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = yt - np.where(nc > 0, yc * nt / nc, 0.0)
    frac = np.arange(1, len(order) + 1) / len(order)
    return np.concatenate([[0.0], frac]), np.concatenate([[0.0], q])


def qini_coefficient(frac: np.ndarray, q: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting line, per row."""
    area = np.trapezoid(q, frac)
    return float((area - q[-1] / 2.0) / max(len(q) - 1, 1))


def uplift_at_k(
    score: np.ndarray, treated: np.ndarray, y: np.ndarray, weight: np.ndarray, k: float
) -> float:
    """Weighted mean outcome treated minus control among the top ``k`` share by score."""
    top = np.argsort(-score, kind="stable")[: max(1, round(k * len(score)))]
    t, yy, w = treated[top], y[top], weight[top]
    if (w * t).sum() == 0 or (w * (1 - t)).sum() == 0:
        return float("nan")
    treated_mean = (w * t * yy).sum() / (w * t).sum()
    return float(treated_mean - (w * (1 - t) * yy).sum() / (w * (1 - t)).sum())


def ranking_metrics(
    t: np.ndarray,
    y: np.ndarray,
    prob: pd.DataFrame,
    uplift: pd.DataFrame,
    reference: pd.Series,
    ks: tuple[float, ...] = (0.1, 0.3),
) -> dict[str, float]:
    """Per treatment, on rows that got it or their reference treatment (both with
    support): Qini coefficient, AUUC (mean normalised uplift curve) and uplift@k, with
    inverse-propensity weights so tiers at different shares count fairly."""
    out: dict[str, float] = {}
    ref = reference.to_numpy()
    for name in uplift.columns:
        p_t, score = prob[name].to_numpy(), uplift[name].to_numpy()
        p_r = _take(prob, ref)
        rows = ((t == name) | (t == ref)) & (ref != name) & (p_t > 0) & (p_r > 0)
        rows &= np.isfinite(score)
        if rows.sum() < 20 or (t[rows] == name).all() or (t[rows] != name).all():
            continue
        treated = (t[rows] == name).astype(float)
        w = np.where(treated > 0, 1 / p_t[rows], 1 / p_r[rows])
        frac, q = qini_curve(score[rows], treated, y[rows], w)
        out[f"qini_{name}"] = qini_coefficient(frac, q)
        out[f"auuc_{name}"] = float(np.trapezoid(q, frac) / w.sum())
        for k in ks:
            at_k = uplift_at_k(score[rows], treated, y[rows], w, k)
            out[f"uplift_at_{int(k * 100)}_{name}"] = at_k
    return out
