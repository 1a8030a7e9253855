"""What the dashboard shows, as small typed records read from the KPI tables.

The loader fills these and both renderers (the Airflow UI page and the monthly report
file) and the JSON API read only these, so every figure on screen comes from one place.
Amounts are floats (money as read, in the plan's currency), rates are ratios (0.634, not
63.4), and a missing value is ``None``, never NaN: NaN cannot travel in JSON and would
print as "nan".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Period = Literal["day", "month"]

# Drift statuses of ops_model_monitoring, worst first (the order the table is shown in).
DRIFT_SEVERITY = ("alert", "watch", "ok", "n/a")


@dataclass(frozen=True)
class TierRecovery:
    """Recovery rate against the plan's target for one tier (or ``overall``)."""

    tier: str
    label_zh: str | None
    target: float | None
    actual: float | None
    overdue_at_entry: float | None
    repaid: float | None
    accounts: int | None

    @property
    def gap(self) -> float | None:
        if self.actual is None or self.target is None:
            return None
        return self.actual - self.target

    @property
    def on_target(self) -> bool | None:
        gap = self.gap
        return None if gap is None else gap >= 0


@dataclass(frozen=True)
class NplPoint:
    """One point of the NPL ratio trend (balance over 90 DPD / outstanding)."""

    as_of_date: dt.date
    npl_ratio: float | None
    npl_balance: float | None
    outstanding: float | None
    npl_accounts: int | None


def month_ends(points: Sequence[NplPoint]) -> tuple[NplPoint, ...]:
    """The last point of each calendar month (the points are in date order)."""
    last: dict[tuple[int, int], NplPoint] = {}
    for point in points:
        last[(point.as_of_date.year, point.as_of_date.month)] = point
    return tuple(last.values())


@dataclass(frozen=True)
class RollRate:
    """One cell of the month's roll-rate matrix: share of ``from`` balance now in ``to``."""

    from_bucket: str
    to_bucket: str
    from_balance: float | None
    balance: float | None
    rate: float | None


@dataclass(frozen=True)
class AgencyRank:
    """One row of the agency league table (the agency scorecard, best rank first)."""

    rank: int | None
    agency_id: str
    name: str | None
    placements: int | None
    balance_placed: float | None
    collected: float | None
    liquidation_rate: float | None
    commission: float | None
    net_recovery: float | None
    complaints: int | None
    score: float | None


@dataclass(frozen=True)
class DriftCheck:
    """One model-monitoring check: PSI of the score or a feature, or realised AUC."""

    subject: str
    metric: str
    model_version: str
    value: float | None
    reference: float | None
    band: str | None
    status: str
    n: int


@dataclass(frozen=True)
class Count:
    key: str
    count: int


@dataclass(frozen=True)
class Suppressions:
    """Contacts the fair-collection guardrails held back in ``[start, end]``, counted.

    Counts only: the log's loan and customer ids never leave the warehouse.
    """

    start: dt.date
    end: dt.date
    contacts: int
    accounts: int
    by_reason: tuple[Count, ...]
    by_channel: tuple[Count, ...]
    by_tier: tuple[Count, ...]


@dataclass(frozen=True)
class ComplianceRule:
    """One rule's line of the daily compliance report (``act_compliance_report``)."""

    rule: str
    candidates_checked: int
    allowed: int
    suppressed: int
    scheduled_audited: int
    audit_breaches: int
    audit_result: str  # pass | breach | not_audited


@dataclass(frozen=True)
class Compliance:
    """The guardrails' decisions and the post-scheduling audit for one day (counts only)."""

    day: dt.date
    policy: str
    rules: tuple[ComplianceRule, ...]

    @property
    def passed(self) -> bool:
        return all(r.audit_result != "breach" for r in self.rules)


@dataclass(frozen=True)
class Economics:
    """The plan's economics to date (mart_roi): investment, extra recovery, payback."""

    as_of_date: dt.date
    investment: float | None
    extra_recovery_to_date: float | None
    monthly_extra_recovery: float | None
    monthly_cost: float | None
    payback_months: float | None
    target_payback_months: float | None
    target_extra_recovery: float | None


@dataclass(frozen=True)
class PolicyLine:
    """One (segment, policy) line of ``mart_policy_comparison``: the pipeline's world,
    the status quo's, or their difference (``incremental``, with its interval)."""

    segment: str
    policy: str
    accounts: int | None
    overdue_at_entry: float | None
    repaid: float | None
    recovery_rate: float | None
    target: float | None
    ci_low: float | None
    ci_high: float | None
    contacts: float | None
    complaints: float | None
    satisfaction: float | None
    placements: float | None
    recalls: float | None
    commissions: float | None
    net_recovered: float | None
    investment: float | None
    monthly_net_benefit: float | None
    payback_months: float | None
    target_payback_months: float | None
    roi: float | None


@dataclass(frozen=True)
class PolicyComparison:
    """The pipeline's policy against the status quo on the lender twin, (start, as_of]."""

    as_of_date: dt.date
    start_date: dt.date
    days: int
    lines: tuple[PolicyLine, ...]

    def line(self, segment: str, policy: str) -> PolicyLine | None:
        return next((x for x in self.lines if (x.segment, x.policy) == (segment, policy)), None)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(x.segment for x in self.lines))


@dataclass(frozen=True)
class NbaLine:
    """One (baseline, segment, policy) line of ``mart_nba_comparison``: per-account means
    of the learned policy's arm, its baseline, or their ``difference``, with intervals."""

    baseline: str
    segment: str
    policy: str
    accounts: int | None
    baseline_accounts: int | None
    net_recovery: float | None
    net_recovery_ci_low: float | None
    net_recovery_ci_high: float | None
    contacts: float | None
    contacts_ci_low: float | None
    contacts_ci_high: float | None
    complaints_per_1000: float | None
    complaints_ci_low: float | None
    complaints_ci_high: float | None


@dataclass(frozen=True)
class NbaComparison:
    """The learned policy's arm against the static arm (and the status quo), (start, as_of]."""

    as_of_date: dt.date
    start_date: dt.date
    days: int
    confidence: float | None
    lines: tuple[NbaLine, ...]

    def line(self, baseline: str, segment: str, policy: str) -> NbaLine | None:
        key = (baseline, segment, policy)
        return next((x for x in self.lines if (x.baseline, x.segment, x.policy) == key), None)

    def segments(self, baseline: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(x.segment for x in self.lines if x.baseline == baseline))


@dataclass(frozen=True)
class Dashboard:
    """Everything one dashboard page or monthly report shows, as of one date.

    Each section carries the date its data is from: the latest on or before ``as_of``
    (roll rates are monthly, monitoring may lag a day), so a lagging mart shows its own
    date instead of an empty panel.
    """

    as_of: dt.date
    period: Period
    first_date: dt.date | None
    last_date: dt.date
    recovery_date: dt.date | None
    recovery: tuple[TierRecovery, ...]
    npl_trend: tuple[NplPoint, ...]
    roll_month_end: dt.date | None
    buckets: tuple[str, ...]
    roll_rates: tuple[RollRate, ...]
    agencies_date: dt.date | None
    agencies: tuple[AgencyRank, ...]
    drift_date: dt.date | None
    drift: tuple[DriftCheck, ...]
    suppressions: Suppressions | None
    economics: Economics | None
    compliance: Compliance | None = None
    policy_comparison: PolicyComparison | None = None
    nba_comparison: NbaComparison | None = None

    @property
    def overall(self) -> TierRecovery | None:
        return next((r for r in self.recovery if r.tier == "overall"), None)

    @property
    def latest_npl(self) -> NplPoint | None:
        return self.npl_trend[-1] if self.npl_trend else None

    def roll_rate(self, from_bucket: str, to_bucket: str) -> float | None:
        cell = next(
            (
                r
                for r in self.roll_rates
                if r.from_bucket == from_bucket and r.to_bucket == to_bucket
            ),
            None,
        )
        return None if cell is None else cell.rate

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (ISO dates, ``None`` for missing) for the summary API."""
        data = _jsonable(asdict(self))
        data["recovery"] = [
            {**row, "gap": r.gap, "on_target": r.on_target}
            for row, r in zip(data["recovery"], self.recovery, strict=True)
        ]
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
