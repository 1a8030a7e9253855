"""The one measurement both policies are judged by: pure pandas, no I/O.

Both worlds start from the same twin state on the start date S (same seed, same
portfolio), so every account exists in both and the comparison is **paired by account**.

* **Cohort**: the accounts in collections on S with the tier the pipeline's scoring gave
  them on S and their overdue balance then (``int_account_scores`` of S). The worlds are
  identical up to S, so the cohort does not depend on either policy.
* **Recovery** of a cohort account = what it repaid (net of reversals) in (S, E], capped
  at its overdue balance at entry like ``mart_plan_tracking``; a segment's rate is
  Σ recovered ÷ Σ overdue at entry. Targets are the plan's (60% overall, 70% mild,
  40% severe); they are 90-day figures, so a shorter window reads "so far".
* **Incremental recovery** = rate(pipeline) − rate(status quo) on the same accounts. Its
  interval is a paired bootstrap over accounts: resample accounts with replacement, take
  both rates on the resample, percentile interval of the difference. Accounts are not
  independent inside a world (queues and agencies have capacity), so read the interval
  as the sampling noise of the borrowers, not of the whole operation.
* **Operations**, per segment and for the whole ``portfolio`` (every loan of the world,
  cohort or not): contacts performed, complaints, surveys and mean satisfaction,
  agency placements and recalls, commissions (net of claw-backs).
* **Economics** (``portfolio`` rows): net benefit = (repaid − commissions) of the
  pipeline's world − the same of the status quo's, per month of the window; payback =
  the plan's investment scaled to the portfolio ÷ monthly net benefit (NaN when it never
  pays back); ROI over the plan's payback horizon. No contact cost model exists, so
  benefits are before staff cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nplpipeline.report.kpis._frames import ratio, require_columns
from nplpipeline.report.kpis.plan import PlanTargets, roi_payback

PIPELINE, STATUS_QUO, INCREMENTAL = "pipeline", "status_quo", "incremental"
OVERALL, PORTFOLIO = "overall", "portfolio"
DAYS_PER_MONTH = 30.4375
COHORT_COLUMNS = ("loan_id", "tier", "overdue_at_entry")
# Per-loan outcome columns of a world over the window (loan_id plus these, all sums).
OUTCOME_COLUMNS = (
    "repaid",
    "contacts",
    "complaints",
    "surveys",
    "survey_score_sum",
    "commissions",
    "placements",
    "recalls",
)
COUNTS = ("contacts", "complaints", "surveys", "placements", "recalls")
RESULT_COLUMNS = [
    "segment", "policy", "accounts", "overdue_at_entry", "repaid", "recovery_rate",
    "target_recovery_rate", "gap", "ci_low", "ci_high", "contacts", "complaints",
    "surveys", "satisfaction", "placements", "recalls", "commissions", "net_recovered",
    "investment", "monthly_net_benefit", "payback_months", "target_payback_months", "roi",
]  # fmt: skip


@dataclass(frozen=True)
class WorldOutcomes:
    """One world over the window: sums per loan, and portfolio totals where the truth
    only has aggregates (e.g. complaints raised in surveys, not in a contact).

    ``per_loan``: ``loan_id`` plus any of ``OUTCOME_COLUMNS`` (a missing column is
    unknown per loan: NaN in the cohort's segments). ``totals`` override the per-loan
    sums on the ``portfolio`` rows.
    """

    per_loan: pd.DataFrame
    totals: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    """The measured window (S, E] and how the plan's investment scales to the portfolio."""

    days: int
    investment_scale: float = 1.0
    confidence: float = 0.95
    replicates: int = 1000
    seed: int = 0


def _per_loan(world: WorldOutcomes, loans: pd.Series) -> pd.DataFrame:
    """The world's outcome sums per loan of ``loans`` (zeros where nothing happened;
    NaN throughout for a measure the world's truth does not have per loan)."""
    outcomes = world.per_loan
    require_columns(outcomes, ("loan_id", "repaid"), "outcomes")
    known = [c for c in OUTCOME_COLUMNS if c in outcomes.columns]
    sums = outcomes.groupby("loan_id", sort=False)[known].sum()
    sums = sums.reindex(pd.Index(loans, name="loan_id"), fill_value=0.0).astype("float64")
    return sums.reindex(columns=list(OUTCOME_COLUMNS))  # unknown columns: NaN


def _operations(frame: pd.DataFrame, totals: Mapping[str, float] | None = None) -> dict[str, float]:
    sums = {c: float(frame[c].sum(min_count=1)) for c in OUTCOME_COLUMNS if c != "repaid"}
    sums.update({k: float(v) for k, v in (totals or {}).items() if k in sums})
    out = {c: sums[c] for c in COUNTS}
    out["commissions"] = sums["commissions"]
    out["satisfaction"] = float(ratio(sums["survey_score_sum"], sums["surveys"]))
    return out


def paired_interval(
    overdue: np.ndarray, repaid_a: np.ndarray, repaid_b: np.ndarray, window: Window
) -> tuple[float, float]:
    """Percentile bootstrap interval of Σa/Σx − Σb/Σx, resampling accounts (paired)."""
    n = len(overdue)
    if n < 2 or overdue.sum() <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(window.seed)
    diffs = []
    chunk = max(1, 2_000_000 // n)  # bounded memory: chunk × n indices at a time
    for start in range(0, window.replicates, chunk):
        idx = rng.integers(0, n, size=(min(chunk, window.replicates - start), n))
        x = overdue[idx].sum(axis=1)
        diffs.append(ratio(repaid_a[idx].sum(axis=1) - repaid_b[idx].sum(axis=1), x))
    d = np.concatenate(diffs)
    d = d[np.isfinite(d)]
    alpha = (1 - window.confidence) / 2
    return float(np.quantile(d, alpha)), float(np.quantile(d, 1 - alpha))


def _segment_rows(
    segment: str, cohort: pd.DataFrame, worlds: Mapping[str, WorldOutcomes], window: Window,
    target: float | None,
) -> list[dict[str, object]]:  # fmt: skip
    x = cohort["overdue_at_entry"].to_numpy("float64")
    rows, recovered = [], {}
    for policy in (PIPELINE, STATUS_QUO):
        frame = _per_loan(worlds[policy], cohort["loan_id"])
        recovered[policy] = np.minimum(frame["repaid"].to_numpy(), x)
        ops = _operations(frame)
        repaid = float(recovered[policy].sum())
        rows.append(
            {
                "segment": segment,
                "policy": policy,
                "accounts": len(cohort),
                "overdue_at_entry": float(x.sum()),
                "repaid": repaid,
                "recovery_rate": float(ratio(repaid, x.sum())),
                **ops,
                "net_recovered": repaid - ops["commissions"],
            }
        )
    rows.append(_difference(segment, rows[0], rows[1]))
    rows[-1]["ci_low"], rows[-1]["ci_high"] = paired_interval(
        x, recovered[PIPELINE], recovered[STATUS_QUO], window
    )
    for row in rows:
        row["target_recovery_rate"] = target
        if target is not None and row["policy"] != INCREMENTAL:
            row["gap"] = row["recovery_rate"] - target  # type: ignore[operator]
    return rows


def _difference(segment: str, a: dict[str, object], b: dict[str, object]) -> dict[str, object]:
    keys = ("repaid", "recovery_rate", *COUNTS, "satisfaction", "commissions", "net_recovered")
    out: dict[str, object] = {"segment": segment, "policy": INCREMENTAL}
    out["accounts"], out["overdue_at_entry"] = a["accounts"], a.get("overdue_at_entry")
    out.update({k: float(a[k]) - float(b[k]) for k in keys if k in a})  # type: ignore[arg-type]
    return out


def _portfolio_rows(
    worlds: Mapping[str, WorldOutcomes], plan: PlanTargets, window: Window
) -> list[dict[str, object]]:
    loans = pd.Index(
        pd.concat([worlds[p].per_loan["loan_id"] for p in (PIPELINE, STATUS_QUO)]).unique()
    ).to_series()
    rows = []
    for policy in (PIPELINE, STATUS_QUO):
        frame = _per_loan(worlds[policy], loans)
        ops = _operations(frame, worlds[policy].totals)
        repaid = float(frame["repaid"].sum())
        rows.append(
            {
                "segment": PORTFOLIO,
                "policy": policy,
                "accounts": len(loans),
                "repaid": repaid,
                **ops,
                "net_recovered": repaid - ops["commissions"],
            }
        )
    diff = _difference(PORTFOLIO, rows[0], rows[1])
    diff.pop("recovery_rate", None)
    econ = plan.economics
    investment = econ.investment * window.investment_scale
    monthly = float(diff["net_recovered"]) / (window.days / DAYS_PER_MONTH)  # type: ignore[arg-type]
    roi = roi_payback(investment, monthly, horizon_months=econ.payback_months)
    diff.update(
        investment=investment,
        monthly_net_benefit=monthly,
        payback_months=float(roi["payback_months"].iloc[0]),
        target_payback_months=econ.payback_months,
        roi=float(roi["roi"].iloc[0]),
    )
    return [*rows, diff]


def measure_policies(
    cohort: pd.DataFrame,
    worlds: Mapping[str, WorldOutcomes],
    plan: PlanTargets,
    window: Window,
    tiers: Sequence[str] = (),
) -> pd.DataFrame:
    """Both policies and their difference, per segment (``RESULT_COLUMNS``).

    ``cohort``: ``loan_id, tier, overdue_at_entry`` (one row per account, see module
    docstring). ``worlds``: ``{"pipeline": ..., "status_quo": ...}`` :class:`WorldOutcomes`
    over the window (any number of per-loan rows per loan).
    ``tiers`` orders the tier rows (others follow alphabetically). Segments: ``overall``,
    each tier, ``portfolio``; policies ``pipeline``, ``status_quo``, ``incremental``.
    """
    require_columns(cohort, COHORT_COLUMNS, "cohort")
    missing = {PIPELINE, STATUS_QUO} - set(worlds)
    if missing:
        raise ValueError(f"worlds lacks {sorted(missing)}")
    if window.days < 1:
        raise ValueError(f"the window must span at least one day, got {window.days}")
    cohort = cohort.drop_duplicates("loan_id")
    targets = {OVERALL: plan.recovery_rate.overall, **plan.recovery_rate.by_tier}
    present = set(cohort["tier"].dropna())
    order = [t for t in tiers if t in present] + sorted(present - set(tiers))
    rows = _segment_rows(OVERALL, cohort, worlds, window, targets[OVERALL])
    for tier in order:
        part = cohort[cohort["tier"] == tier]
        rows += _segment_rows(tier, part, worlds, window, targets.get(tier))
    rows += _portfolio_rows(worlds, plan, window)
    out = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    numeric = [c for c in RESULT_COLUMNS if c not in ("segment", "policy")]
    out[numeric] = out[numeric].astype("float64")
    return out
