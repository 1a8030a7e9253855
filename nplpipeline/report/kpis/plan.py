"""Plan tracking: the plan's targets beside the actuals, arm-vs-arm uplift, ROI, payback.

Targets (``config/policies/plan.yaml``, the mission brief's figures): recovery rate 60%
overall, 70% mild, 40% severe; 1,000,000 yuan invested, 5,000,000 yuan extra recovery,
payback in 6 months. ``load_plan`` validates a lender's own file the same way.

**Incremental recovery of arm A over arm B** (e.g. champion vs control of
``act_treatment_plan.strategy_arm``) is the difference of their amount-based recovery
rates R = Σ repaid ÷ Σ overdue at entry. R is a *ratio estimator* (a ratio of two
random sums, not a mean of per-account rates), so its variance is taken by the delta
method (Cochran, *Sampling Techniques*, §6.4)::

    d_i    = y_i − R·x_i                    (y repaid, x overdue at entry, per account)
    s²     = Σ d_i² / (n − 1)
    Var(R) ≈ s² / (n · x̄²)                  (x̄ = Σ x / n)

computed from per-arm sums (Σx, Σy, Σx², Σy², Σxy), so it stays vectorised. The arms
are independent random samples (the strategy allocation is randomised), so
Var(R_A − R_B) = Var(R_A) + Var(R_B) and the interval is the normal one,
difference ± z·√Var with z for ``confidence`` (two-sided). An arm with fewer than 2
accounts or no overdue has NaN variance. The count-based difference (share of accounts
recovered) uses the Wald interval for two proportions (degenerate, width 0, when
both shares are 0 or 1: read it with the account counts). ``incremental_amount`` is the
difference × arm A's overdue at entry: what A recovered beyond what B's rate would have.

**ROI and payback**: monthly net benefit = extra recovery − running cost per month;
payback months = investment ÷ monthly net benefit (NaN when the benefit is not
positive: it never pays back); ROI over a horizon = (net benefit × horizon months −
investment) ÷ investment (NaN for no investment).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nplpipeline.config.loading import load_yaml_model
from nplpipeline.report.kpis._frames import group_sum, ratio, require_columns

DEFAULT_PLAN_FILE = Path(__file__).resolve().parents[2] / "config" / "policies" / "plan.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecoveryTargets(_Strict):
    overall: float = Field(default=0.60, ge=0, le=1)
    # tier name (as in the tier policy) -> target; tiers without a target show NaN
    by_tier: dict[str, float] = Field(default_factory=lambda: {"mild": 0.70, "severe": 0.40})


class EconomicsTargets(_Strict):
    investment: float = Field(default=1_000_000, ge=0)
    extra_recovery: float = Field(default=5_000_000, ge=0)
    payback_months: float = Field(default=6, gt=0)
    # An input, not a target: what running the programme costs a month (staff, agency
    # fees outside commissions, systems), netted off the extra recovery for payback.
    monthly_running_cost: float = Field(default=0, ge=0)
    # Loans in the book the plan's figures are for: a simulated portfolio of n loans
    # measures its payback against investment × n / portfolio_loans (the twin comparison).
    portfolio_loans: int = Field(default=1_000_000, gt=0)


class PlanTargets(_Strict):
    currency: str = "CNY"
    recovery_rate: RecoveryTargets = RecoveryTargets()
    economics: EconomicsTargets = EconomicsTargets()


def load_plan(path: str | Path | None = None) -> PlanTargets:
    """The plan's targets from ``path`` (default: the packaged ``plan.yaml``), validated."""
    return load_yaml_model(PlanTargets, path or DEFAULT_PLAN_FILE)


def plan_vs_actual(
    recovery: pd.DataFrame, plan: PlanTargets, *, tier_column: str = "tier"
) -> pd.DataFrame:
    """Recovery rate against target, overall and per tier.

    Input: ``recovery`` per tier with ``<tier_column>, overdue_at_entry, repaid`` (e.g.
    ``recovery.recovery_rates(..., by=["tier"])``). Output columns: ``segment``
    (``overall``, then the tiers), ``overdue_at_entry, repaid, actual, target, gap``
    (actual − target) and ``on_target`` (nullable bool; NA without target or actual).
    The overall actual is Σ repaid ÷ Σ overdue over all tiers, not a mean of tier rates.
    """
    require_columns(recovery, (tier_column, "overdue_at_entry", "repaid"), "recovery")
    tiers = group_sum(recovery, [tier_column], ["overdue_at_entry", "repaid"])
    tiers = tiers.rename(columns={tier_column: "segment"})
    overall = group_sum(recovery, [], ["overdue_at_entry", "repaid"]).assign(segment="overall")
    out = pd.concat([overall, tiers], ignore_index=True)
    targets = {"overall": plan.recovery_rate.overall, **plan.recovery_rate.by_tier}
    out["actual"] = ratio(out["repaid"], out["overdue_at_entry"])
    out["target"] = out["segment"].map(targets).astype("float64")
    out["gap"] = out["actual"] - out["target"]
    known = out["gap"].notna()
    out["on_target"] = pd.array(np.where(known, out["gap"] >= 0, False), dtype="boolean")
    out.loc[~known, "on_target"] = pd.NA
    return out[["segment", "overdue_at_entry", "repaid", "actual", "target", "gap", "on_target"]]


def _arm_sums(frame: pd.DataFrame, by: list[str], x: str, y: str) -> pd.DataFrame:
    xs = frame[x].astype("float64")
    ys = frame[y].astype("float64")
    stats = frame[by].copy()
    stats["_arm"] = frame["_arm"]
    stats = stats.assign(
        n=1.0,
        sx=xs,
        sy=ys,
        sxx=xs * xs,
        syy=ys * ys,
        sxy=xs * ys,
        k=frame["recovered"].astype(float),
    )
    return group_sum(stats, [*by, "_arm"], ["n", "sx", "sy", "sxx", "syy", "sxy", "k"])


def _ratio_variance(s: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    rate = ratio(s["sy"], s["sx"])
    ss = s["syy"] - 2 * rate * s["sxy"] + rate**2 * s["sxx"]  # Σ (y − R x)²
    s2 = ratio(np.clip(ss, 0, None), s["n"] - 1)
    return rate, ratio(s2 * s["n"], s["sx"] ** 2)


def incremental_recovery(
    accounts: pd.DataFrame,
    *,
    arm_a: str = "champion",
    arm_b: str = "control",
    arm_column: str = "strategy_arm",
    by: Sequence[str] = (),
    confidence: float = 0.95,
    amount: str = "repaid",
) -> pd.DataFrame:
    """Recovery-rate uplift of ``arm_a`` over ``arm_b`` with a confidence interval.

    Input: per-account rows (``recovery.account_recoveries``) with ``<arm_column>,
    overdue_at_entry, <amount>`` (``repaid`` or ``net_repaid``), ``recovered`` (+ ``by``).
    Output columns: the ``by`` columns, then ``arm_a, arm_b, accounts_a, accounts_b,
    overdue_a, overdue_b, repaid_a, repaid_b, rate_a, rate_b, difference, std_error,
    ci_low, ci_high, incremental_amount, count_rate_a, count_rate_b, count_difference,
    count_ci_low, count_ci_high, confidence``. See the module docstring for the method.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    by = list(by)
    require_columns(
        accounts, (arm_column, "overdue_at_entry", amount, "recovered", *by), "accounts"
    )
    frame = accounts.loc[accounts[arm_column].isin([arm_a, arm_b])].copy()
    frame["_arm"] = frame[arm_column].astype("object")
    sums = _arm_sums(frame, by, "overdue_at_entry", amount)
    sums["rate"], sums["var"] = _ratio_variance(sums)
    sums["p"] = ratio(sums["k"], sums["n"])
    sums["pvar"] = ratio(sums["p"] * (1 - sums["p"]), sums["n"])
    groups = (
        sums[by].drop_duplicates().reset_index(drop=True)
        if by
        else pd.DataFrame(index=pd.RangeIndex(1))
    )

    def arm(name: str, suffix: str) -> pd.DataFrame:
        part = sums.loc[sums["_arm"] == name].drop(columns="_arm")
        part = groups.merge(part, on=by, how="left") if by else _one_row(part, groups)
        return part.rename(columns={c: f"{c}_{suffix}" for c in part.columns if c not in by})

    out = (
        arm(arm_a, "a").merge(arm(arm_b, "b"), on=by)
        if by
        else pd.concat([arm(arm_a, "a"), arm(arm_b, "b")], axis=1)
    )
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    diff = out["rate_a"] - out["rate_b"]
    se = np.sqrt(out["var_a"] + out["var_b"])
    count_diff = out["p_a"] - out["p_b"]
    count_se = np.sqrt(out["pvar_a"] + out["pvar_b"])
    result = out[by].copy() if by else pd.DataFrame(index=out.index)
    result["arm_a"] = arm_a
    result["arm_b"] = arm_b
    result["accounts_a"] = out["n_a"].fillna(0).astype("int64")
    result["accounts_b"] = out["n_b"].fillna(0).astype("int64")
    result["overdue_a"] = out["sx_a"].fillna(0.0)
    result["overdue_b"] = out["sx_b"].fillna(0.0)
    result["repaid_a"] = out["sy_a"].fillna(0.0)
    result["repaid_b"] = out["sy_b"].fillna(0.0)
    result["rate_a"] = out["rate_a"]
    result["rate_b"] = out["rate_b"]
    result["difference"] = diff
    result["std_error"] = se
    result["ci_low"] = diff - z * se
    result["ci_high"] = diff + z * se
    result["incremental_amount"] = diff * out["sx_a"]
    result["count_rate_a"] = out["p_a"]
    result["count_rate_b"] = out["p_b"]
    result["count_difference"] = count_diff
    result["count_ci_low"] = count_diff - z * count_se
    result["count_ci_high"] = count_diff + z * count_se
    result["confidence"] = confidence
    return result.reset_index(drop=True)


def _one_row(part: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """The arm's single overall row, or a row of NaN when the arm has no accounts."""
    if part.empty:
        return pd.DataFrame(np.nan, index=groups.index, columns=part.columns)
    return part.reset_index(drop=True)


def roi_payback(
    investment: float | Sequence[float] | np.ndarray,
    monthly_extra_recovery: float | Sequence[float] | np.ndarray,
    monthly_running_cost: float | Sequence[float] | np.ndarray = 0.0,
    *,
    horizon_months: float = 12,
) -> pd.DataFrame:
    """ROI over ``horizon_months`` and payback months; scalars or arrays (broadcast).

    Output columns: ``investment, monthly_extra_recovery, monthly_running_cost,
    monthly_net_benefit, payback_months`` (NaN if the net benefit is not positive),
    ``horizon_months, net_benefit`` (over the horizon, after the investment), ``roi``
    (net_benefit ÷ investment; NaN for no investment).
    """
    inv, extra, cost = np.broadcast_arrays(
        np.atleast_1d(np.asarray(investment, dtype="float64")),
        np.atleast_1d(np.asarray(monthly_extra_recovery, dtype="float64")),
        np.atleast_1d(np.asarray(monthly_running_cost, dtype="float64")),
    )
    net = extra - cost
    payback = np.where(net > 0, ratio(inv, np.where(net > 0, net, np.nan)), np.nan)
    benefit = net * horizon_months - inv
    return pd.DataFrame(
        {
            "investment": inv,
            "monthly_extra_recovery": extra,
            "monthly_running_cost": cost,
            "monthly_net_benefit": net,
            "payback_months": payback,
            "horizon_months": float(horizon_months),
            "net_benefit": benefit,
            "roi": ratio(benefit, inv),
        }
    )


def economics_vs_plan(
    plan: PlanTargets,
    *,
    investment: float,
    extra_recovery_to_date: float,
    monthly_extra_recovery: float,
    monthly_running_cost: float = 0.0,
) -> pd.DataFrame:
    """The plan's economics against the actuals.

    Output: one row per metric (``investment``, ``extra_recovery``, ``payback_months``)
    with ``actual, target, better`` (``lower`` or ``higher``) and ``on_target``
    (nullable bool; NA when the actual is NaN, e.g. a payback that never comes).
    """
    payback = roi_payback(investment, monthly_extra_recovery, monthly_running_cost)
    targets = plan.economics
    out = pd.DataFrame(
        {
            "metric": ["investment", "extra_recovery", "payback_months"],
            "actual": [investment, extra_recovery_to_date, payback["payback_months"].iloc[0]],
            "target": [targets.investment, targets.extra_recovery, targets.payback_months],
            "better": ["lower", "higher", "lower"],
        }
    )
    lower = out["better"].eq("lower")
    met = np.where(lower, out["actual"] <= out["target"], out["actual"] >= out["target"])
    out["on_target"] = pd.array(met, dtype="boolean")
    out.loc[out["actual"].isna(), "on_target"] = pd.NA
    return out
