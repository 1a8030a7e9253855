"""Scorecards for performance review: per collector, per team, per agency, with a rank.

Each scorecard row holds the performer's KPIs for a period ``[start, end)`` and a
**composite score**, the weighted mean of per-metric percentile ranks among the
performers of the same scorecard:

    composite = Σ w_m · pct_m ÷ Σ w_m,  pct_m = rank of metric m in (0, 1], 1 = best

where "best" is the highest value for metrics where more is better (recovered amount,
PTP kept rate, RPC rate, liquidation rate) and the lowest where less is better
(complaint rate, suppressions per 1,000 accounts, cost to collect). A metric a performer
has no value for (e.g. no promise fell due) gets the neutral 0.5, so missing data neither
rewards nor punishes. ``rank`` orders the composite (1 = best, ties share the better
rank); the top ``reward_share`` of ranks are flagged ``reward``, the bottom
``retrain_share`` ``retrain`` (at least one each when there are 3+ performers, none
below). Weights and shares are a ``ScorecardWeights`` model, so a lender sets them in
YAML; the defaults put recovery first, as the plan ties performance to recovery.

Collector metrics (``performed_by`` / ``collector_id`` = the collector):

* ``recovered``: repayments net of reversals dated in the period whose ``collector_id``
  is the collector (a reversal is taken back from the collector of the original);
* ``accounts_contacted``, ``attempts``, ``rpc_rate``: from their actions in the period;
* ``promises_due``, ``ptp_kept_rate``: their promises with ``ptp_date`` in the period;
* ``complaints``, ``complaint_rate`` (per 1,000 accounts contacted): complaints in the
  period attributed to them (see ``contact.collection_complaints``);
* ``suppressions`` (an input: guardrail suppressions per collector, e.g. counted from
  ``act_suppression_log`` joined to the worklist), ``suppression_rate`` per 1,000
  accounts contacted.

A team's row sums its collectors' counts and amounts and recomputes the rates, then is
ranked among teams. An agency's row joins ``agency.agency_liquidation`` (liquidation
rate, cost to collect) to the same contact metrics of actions performed by the agency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nplpipeline.contract import is_call_attempt, is_right_party_call
from nplpipeline.report.kpis._frames import (
    day,
    group_sum,
    ratio,
    require_columns,
    timestamps,
)
from nplpipeline.report.kpis.contact import (
    collection_complaints,
    promise_outcomes,
)
from nplpipeline.report.kpis.repayments import repayment_flows

HIGHER_IS_BETTER: Mapping[str, bool] = {
    "recovered": True,
    "ptp_kept_rate": True,
    "rpc_rate": True,
    "liquidation_rate": True,
    "complaint_rate": False,
    "suppression_rate": False,
    "cost_to_collect": False,
}
_SUMMED = (
    "recovered",
    "accounts_contacted",
    "attempts",
    "right_party_contacts",
    "promises_due",
    "promises_kept",
    "complaints",
    "suppressions",
)
RANK_COLUMNS = ("composite", "rank", "review")


class ScorecardWeights(BaseModel):
    """Weights of the composite (metric -> weight ≥ 0) and the review shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[str, float]
    reward_share: float = Field(default=0.2, ge=0, le=0.5)
    retrain_share: float = Field(default=0.2, ge=0, le=0.5)

    @model_validator(mode="after")
    def _known_positive(self) -> ScorecardWeights:
        unknown = set(self.weights) - set(HIGHER_IS_BETTER)
        if unknown:
            raise ValueError(
                f"unknown metrics {sorted(unknown)}; known: {sorted(HIGHER_IS_BETTER)}"
            )
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        return self


COLLECTOR_WEIGHTS = ScorecardWeights(
    weights={
        "recovered": 0.40,
        "ptp_kept_rate": 0.25,
        "rpc_rate": 0.10,
        "complaint_rate": 0.15,
        "suppression_rate": 0.10,
    }
)
AGENCY_WEIGHTS = ScorecardWeights(
    weights={
        "liquidation_rate": 0.50,
        "cost_to_collect": 0.20,
        "ptp_kept_rate": 0.15,
        "complaint_rate": 0.15,
    }
)


def composite_rank(frame: pd.DataFrame, weights: ScorecardWeights) -> pd.DataFrame:
    """Add ``composite``, ``rank`` and ``review`` to a scorecard (one row per performer).

    Input: any frame with the weighted metric columns. Output: the frame plus
    ``composite`` (0–1, higher better), ``rank`` (1 = best) and ``review`` (``reward``,
    ``retrain`` or empty).
    """
    require_columns(frame, weights.weights, "scorecard")
    out = frame.reset_index(drop=True).copy()
    total = sum(weights.weights.values())
    composite = np.zeros(len(out))
    for metric, weight in weights.weights.items():  # a handful of metrics, not rows
        values = pd.to_numeric(out[metric], errors="coerce").astype("float64")
        pct = values.rank(pct=True, ascending=HIGHER_IS_BETTER[metric], method="average")
        composite += weight * pct.fillna(0.5).to_numpy()
    out["composite"] = composite / total if len(out) else composite
    out["rank"] = out["composite"].rank(ascending=False, method="min").astype("int64")
    n = len(out)
    top = math.ceil(n * weights.reward_share) if n >= 3 else 0
    bottom = math.ceil(n * weights.retrain_share) if n >= 3 else 0
    order = out["composite"].rank(ascending=False, method="first")
    out["review"] = np.select([order <= top, order > n - bottom], ["reward", "retrain"], default="")
    return out


def _in_period(values: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    ts = timestamps(values).dt.normalize()
    return (ts >= start) & (ts < end)


def performer_metrics(
    actions: pd.DataFrame,
    repayments: pd.DataFrame,
    *,
    start: object,
    end: object,
    satisfaction: pd.DataFrame | None = None,
    repayment_performer: Literal["collector_id", "agency_id"] = "collector_id",
) -> pd.DataFrame:
    """Per performer (``performed_by``): recovered, contact, promise and complaint counts.

    Inputs: ``actions`` (contact history, full rows: promises made before ``start`` fall
    due inside it), ``repayments`` as raw_repayments, ``satisfaction`` (optional);
    ``start``/``end`` the period (``end`` exclusive). Output columns: ``performer``,
    ``recovered, accounts_contacted, attempts, right_party_contacts, promises_due,
    promises_kept, complaints``.
    """
    need = ("action_id", "loan_id", "customer_id", "action_at", "channel", "performed_by")
    require_columns(actions, (*need, "outcome"), "actions")
    lo, hi = day(start), day(end)
    flows = repayment_flows(repayments)
    flows = flows.loc[(flows["paid_date"] >= lo) & (flows["paid_date"] < hi)]
    recovered = flows.rename(columns={repayment_performer: "performer"})
    recovered = group_sum(recovered.dropna(subset=["performer"]), ["performer"], ["amount"])
    recovered = recovered.rename(columns={"amount": "recovered"})

    acts = actions.loc[_in_period(actions["action_at"], lo, hi)]
    contacted = acts[["performed_by", "loan_id"]].drop_duplicates().assign(accounts_contacted=1.0)
    attempted = is_call_attempt(acts["channel"]).to_numpy()
    attempts = acts.loc[attempted, ["performed_by"]].assign(
        attempts=1.0,
        right_party_contacts=is_right_party_call(acts["channel"], acts["outcome"])
        .to_numpy()[attempted]
        .astype(float),
    )
    promises = promise_outcomes(actions, repayments, as_of=hi - pd.Timedelta(days=1))
    promises = promises.loc[promises["ptp_date"] >= lo].assign(
        promises_due=1.0, promises_kept=lambda p: p["kept"].astype(float)
    )
    complaints = collection_complaints(actions, satisfaction)
    complaints = complaints.loc[_in_period(complaints["complaint_at"], lo, hi)].assign(
        complaints=1.0
    )
    parts = [
        recovered,
        group_sum(contacted, ["performed_by"], ["accounts_contacted"]),
        group_sum(attempts, ["performed_by"], ["attempts", "right_party_contacts"]),
        group_sum(promises, ["performed_by"], ["promises_due", "promises_kept"]),
        group_sum(complaints, ["performed_by"], ["complaints"]),
    ]
    merged = pd.concat(
        [p.rename(columns={"performed_by": "performer"}).set_index("performer") for p in parts],
        axis=1,
    )
    merged = merged.fillna(0.0).rename_axis("performer").reset_index()
    return merged.loc[merged["performer"].notna()].reset_index(drop=True)


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    frame["rpc_rate"] = ratio(frame["right_party_contacts"], frame["attempts"])
    frame["ptp_kept_rate"] = ratio(frame["promises_kept"], frame["promises_due"])
    frame["complaint_rate"] = 1000 * ratio(frame["complaints"], frame["accounts_contacted"])
    frame["suppression_rate"] = 1000 * ratio(frame["suppressions"], frame["accounts_contacted"])
    counts = [c for c in _SUMMED if c != "recovered"]
    frame[counts] = frame[counts].astype("int64")
    return frame


def _suppressions(suppressions: pd.DataFrame | None, key: str) -> pd.Series:
    if suppressions is None:
        return pd.Series(dtype="float64")
    require_columns(suppressions, (key, "suppressions"), "suppressions")
    return suppressions.groupby(key)["suppressions"].sum().astype("float64")


def collector_scorecard(
    actions: pd.DataFrame,
    repayments: pd.DataFrame,
    collectors: pd.DataFrame,
    *,
    start: object,
    end: object,
    satisfaction: pd.DataFrame | None = None,
    suppressions: pd.DataFrame | None = None,
    level: Literal["collector", "team"] = "collector",
    weights: ScorecardWeights = COLLECTOR_WEIGHTS,
) -> pd.DataFrame:
    """Collector (or team) scorecard for ``[start, end)`` with a composite rank.

    Inputs: ``actions``, ``repayments``, ``satisfaction`` as ``performer_metrics``;
    ``collectors`` with ``collector_id, team``; ``suppressions`` (optional) with
    ``collector_id, suppressions``. Output columns: ``collector_id, team`` (level
    ``collector``) or ``team`` (level ``team``), then ``recovered, accounts_contacted,
    attempts, right_party_contacts, promises_due, promises_kept, complaints,
    suppressions, rpc_rate, ptp_kept_rate, complaint_rate, suppression_rate, composite,
    rank, review``. Every collector in ``collectors`` has a row (zeros when idle).
    """
    require_columns(collectors, ("collector_id", "team"), "collectors")
    metrics = performer_metrics(
        actions, repayments, start=start, end=end, satisfaction=satisfaction
    ).set_index("performer")
    card = collectors[["collector_id", "team"]].drop_duplicates("collector_id").copy()
    ids = card["collector_id"]
    for column in _SUMMED:
        if column == "suppressions":
            values = ids.map(_suppressions(suppressions, "collector_id"))
        else:
            values = ids.map(metrics[column]) if column in metrics else np.nan
        card[column] = pd.Series(values, index=card.index).fillna(0.0).astype("float64")
    if level == "team":
        card = group_sum(card, ["team"], list(_SUMMED))
    elif level != "collector":
        raise ValueError(f"level must be 'collector' or 'team', got {level!r}")
    return composite_rank(_rates(card), weights)


def agency_scorecard(
    liquidation: pd.DataFrame,
    actions: pd.DataFrame,
    repayments: pd.DataFrame,
    *,
    start: object,
    end: object,
    satisfaction: pd.DataFrame | None = None,
    suppressions: pd.DataFrame | None = None,
    weights: ScorecardWeights = AGENCY_WEIGHTS,
) -> pd.DataFrame:
    """Agency scorecard: ``agency_liquidation`` rows joined to the agency's contact KPIs.

    Inputs: ``liquidation`` from ``agency.agency_liquidation(by=["agency_id"])``;
    ``actions`` (``performed_by`` = agency_id for the agency's contacts), ``repayments``
    and ``satisfaction`` as ``performer_metrics``; ``suppressions`` (optional) with
    ``agency_id, suppressions``. ``recovered`` is repayments whose ``agency_id`` is the
    agency. Output columns: the ``liquidation`` columns, then the collector scorecard's
    counts and rates, then ``composite, rank, review``.
    """
    require_columns(liquidation, ("agency_id",), "liquidation")
    metrics = performer_metrics(
        actions,
        repayments,
        start=start,
        end=end,
        satisfaction=satisfaction,
        repayment_performer="agency_id",
    ).set_index("performer")
    card = liquidation.reset_index(drop=True).copy()
    ids = card["agency_id"]
    for column in _SUMMED:
        if column == "suppressions":
            values = ids.map(_suppressions(suppressions, "agency_id"))
        else:
            values = ids.map(metrics[column]) if column in metrics else np.nan
        card[column] = pd.Series(values, index=card.index).fillna(0.0).astype("float64")
    return composite_rank(_rates(card), weights)
