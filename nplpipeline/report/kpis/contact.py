"""Contact KPIs from the contact history: reach, promises, promises kept, complaints, CSAT.

Definitions (decisions on what the domain table leaves open):

* **Call attempt** and **right-party contact (RPC)**: the contract's contact vocabulary
  (``nplpipeline.contract``: ``is_call_attempt``, ``is_right_party_call``), the one
  definition the guardrails, ``fact_action`` and ``mart_kpi`` share. An attempt is any
  placed call, agent or IVR; an RPC is an attempt whose outcome shows the debtor was
  reached (``CONVERSATION_OUTCOMES``). ``no_answer``, ``wrong_party``, ``delivered`` and
  a missing outcome are not; a field visit is a conversation but not a call attempt.
* **PTP rate** = promises (RPCs with outcome ``promise_to_pay``) ÷ RPCs; the numerator is a
  subset of the denominator, so it lies in [0, 1].
* **PTP kept rate** = promises kept ÷ promises due. A promise is every
  ``promise_to_pay`` row with a ``ptp_date`` and ``ptp_amount`` (any channel -- a promise
  made in the app is still a promise); it is *due* when ``ptp_date <= as_of``. It is
  *kept* when the loan's repayments net of reversals dated from the promise's day to its
  ``ptp_date`` (both inclusive, calendar days) reach ``ptp_amount`` (less 0.005). Part
  paid is not kept; paid after the date is not kept. Overlapping promises on one loan
  are judged each on its own, so one payment can keep both. Beside the count rate, an
  amount rate: Σ min(paid, promised) ÷ Σ promised.
* **Complaint rate** = complaints ÷ accounts contacted × 1,000. *Accounts contacted*: the
  distinct ``loan_id`` with at least one collection action (any channel, any outcome:
  an unanswered call can annoy as much as a conversation). *Complaints*: actions with
  outcome ``complaint`` plus ``satisfaction`` rows with ``complaint`` true. A survey
  complaint is attributed to the customer's latest collection action at or before it
  (its loan, collector, dimensions); one with no earlier action is not a collection
  complaint and is left out; one on the same customer and day as an action complaint is
  the same complaint and is counted once.
* **Customer satisfaction** = mean ``score`` (1–5) of the surveys, with a score, of
  customers in collection (the ``in_collection`` frame you pass, e.g. the scored accounts
  of the period); a customer with loans in two groups counts in both groups but once
  overall.

Pass the rows of the period you report on (actions, surveys); repayments as known on
the as-of date (see ``repayments``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nplpipeline.contract import (
    COMPLAINT_OUTCOME,
    PROMISE_OUTCOME,
    is_call_attempt,
    is_right_party_call,
)
from nplpipeline.report.kpis._frames import (
    day,
    days,
    group_sum,
    merge_on,
    money,
    ratio,
    require_columns,
    timestamps,
)
from nplpipeline.report.kpis.repayments import repayment_flows, sum_per_row

PTP_OUTCOME = PROMISE_OUTCOME
PAID_TOLERANCE = 0.005
PROMISE_COLUMNS = (
    "action_id",
    "loan_id",
    "customer_id",
    "performed_by",
    "promise_date",
    "ptp_date",
    "ptp_amount",
    "paid_toward",
    "kept",
)


def contact_rates(
    actions: pd.DataFrame,
    *,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Right-party-contact rate and PTP rate per ``by`` group.

    Input: ``actions`` with ``channel, outcome`` (+ ``by`` columns, e.g. ``performed_by``).
    Output columns: the ``by`` columns, then ``attempts, right_party_contacts, promises,
    rpc_rate`` (RPC ÷ attempts), ``ptp_rate`` (promises ÷ RPC); NaN on a zero denominator.
    """
    require_columns(actions, ("channel", "outcome", *by), "actions")
    attempted = is_call_attempt(actions["channel"]).to_numpy()
    attempts = actions.loc[attempted, list(by)].copy()
    outcome = actions.loc[attempted, "outcome"]
    rpc = is_right_party_call(actions.loc[attempted, "channel"], outcome)
    attempts["attempts"] = 1.0
    attempts["right_party_contacts"] = rpc.astype(float)
    attempts["promises"] = (rpc & outcome.eq(PTP_OUTCOME)).astype(float)
    sums = group_sum(attempts, by, ["attempts", "right_party_contacts", "promises"])
    sums["rpc_rate"] = ratio(sums["right_party_contacts"], sums["attempts"])
    sums["ptp_rate"] = ratio(sums["promises"], sums["right_party_contacts"])
    counts = ["attempts", "right_party_contacts", "promises"]
    sums[counts] = sums[counts].astype("int64")
    return sums


def promise_outcomes(
    actions: pd.DataFrame,
    repayments: pd.DataFrame,
    *,
    as_of: object,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Every promise due by ``as_of`` and whether it was kept.

    Inputs: ``actions`` with ``action_id, loan_id, action_at, outcome, ptp_date,
    ptp_amount`` (+ ``customer_id, performed_by``, + ``extra_columns`` carried through);
    ``repayments`` as raw_repayments. Output columns: ``action_id, loan_id, customer_id,
    performed_by, promise_date, ptp_date, ptp_amount, paid_toward`` (net repaid on the loan
    from the promise's day to ``ptp_date``), ``kept`` (bool), then ``extra_columns``.
    """
    need = ("action_id", "loan_id", "action_at", "outcome", "ptp_date", "ptp_amount")
    require_columns(actions, (*need, *extra_columns), "actions")
    promises = actions.loc[actions["outcome"].eq(PTP_OUTCOME)].copy()
    for column in ("customer_id", "performed_by"):
        if column not in promises:
            promises[column] = pd.NA
    promises["promise_date"] = days(promises["action_at"])
    promises["ptp_date"] = days(promises["ptp_date"])
    promises["ptp_amount"] = money(promises["ptp_amount"])
    complete = promises["ptp_date"].notna() & promises["ptp_amount"].notna()
    promises = promises.loc[complete & (promises["ptp_date"] <= day(as_of))]
    promises = promises.reset_index(drop=True)
    promises["_end"] = promises["ptp_date"] + pd.Timedelta(days=1)  # ptp_date inclusive
    flows = repayment_flows(repayments)
    promises["paid_toward"] = sum_per_row(promises, flows, start="promise_date", end="_end")
    promises["kept"] = promises["paid_toward"] >= promises["ptp_amount"] - PAID_TOLERANCE
    return promises[[*PROMISE_COLUMNS, *extra_columns]]


def ptp_kept_rate(
    actions: pd.DataFrame,
    repayments: pd.DataFrame,
    *,
    as_of: object,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """PTP kept rate (count and amount) per ``by`` group of promises due by ``as_of``.

    Inputs as ``promise_outcomes`` (``by`` columns on ``actions``). Output columns: the
    ``by`` columns, then ``promises_due, promises_kept, promised_amount, kept_amount``
    (Σ min(paid, promised)), ``ptp_kept_rate`` (count), ``ptp_kept_amount_rate``.
    """
    carried = [c for c in by if c not in PROMISE_COLUMNS]
    promises = promise_outcomes(actions, repayments, as_of=as_of, extra_columns=carried)
    promises["promises_due"] = 1.0
    promises["promises_kept"] = promises["kept"].astype(float)
    promises["promised_amount"] = promises["ptp_amount"]
    promises["kept_amount"] = np.minimum(
        promises["paid_toward"].clip(lower=0.0), promises["ptp_amount"]
    )
    sums = group_sum(
        promises, by, ["promises_due", "promises_kept", "promised_amount", "kept_amount"]
    )
    sums["ptp_kept_rate"] = ratio(sums["promises_kept"], sums["promises_due"])
    sums["ptp_kept_amount_rate"] = ratio(sums["kept_amount"], sums["promised_amount"])
    counts = ["promises_due", "promises_kept"]
    sums[counts] = sums[counts].astype("int64")
    return sums


def collection_complaints(
    actions: pd.DataFrame, satisfaction: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per collection complaint, with the action it is attributed to.

    Inputs: ``actions`` with ``action_id, loan_id, customer_id, action_at, outcome`` (+ any
    columns, carried); ``satisfaction`` (optional) with ``survey_id, customer_id,
    surveyed_at, complaint``. Output: the attributed action's columns plus
    ``complaint_at`` and ``source`` (``action`` or ``survey``).
    """
    need = ("action_id", "loan_id", "customer_id", "action_at", "outcome")
    require_columns(actions, need, "actions")
    acts = actions.copy()
    acts["action_at"] = timestamps(acts["action_at"])
    from_actions = acts.loc[acts["outcome"].eq(COMPLAINT_OUTCOME)].copy()
    from_actions["complaint_at"] = from_actions["action_at"]
    from_actions["source"] = "action"
    if satisfaction is None or satisfaction.empty:
        return from_actions.reset_index(drop=True)

    require_columns(satisfaction, ("customer_id", "surveyed_at", "complaint"), "satisfaction")
    surveys = satisfaction.loc[
        satisfaction["complaint"].fillna(False).astype(bool), ["customer_id", "surveyed_at"]
    ]
    surveys = pd.DataFrame(
        {
            "customer_id": surveys["customer_id"].astype("object"),
            "complaint_at": timestamps(surveys["surveyed_at"]),
        }
    ).dropna()
    history = acts.dropna(subset=["action_at", "customer_id"]).copy()
    history["customer_id"] = history["customer_id"].astype("object")
    attributed = pd.merge_asof(
        surveys.sort_values("complaint_at"),
        history.sort_values("action_at"),
        left_on="complaint_at",
        right_on="action_at",
        by="customer_id",
        direction="backward",
    ).dropna(subset=["action_id"])
    attributed["source"] = "survey"
    # the same complaint logged as an action outcome and as a survey row counts once
    seen = pd.MultiIndex.from_arrays(
        [from_actions["customer_id"].astype("object"), from_actions["complaint_at"].dt.normalize()]
    )
    key = pd.MultiIndex.from_arrays(
        [attributed["customer_id"], attributed["complaint_at"].dt.normalize()]
    )
    attributed = attributed.loc[~key.isin(seen)]
    return pd.concat([from_actions, attributed[from_actions.columns]], ignore_index=True)


def complaint_rate(
    actions: pd.DataFrame,
    satisfaction: pd.DataFrame | None = None,
    *,
    by: Sequence[str] = (),
    per: float = 1000.0,
) -> pd.DataFrame:
    """Complaints per ``per`` (1,000) accounts contacted, per ``by`` group.

    Inputs as ``collection_complaints`` (``by`` columns on ``actions``). Output columns:
    the ``by`` columns, then ``accounts_contacted, complaints, complaint_rate``.
    """
    require_columns(actions, ("loan_id", *by), "actions")
    contacted = actions[["loan_id", *by]].drop_duplicates().assign(accounts_contacted=1.0)
    accounts = group_sum(contacted, by, ["accounts_contacted"])
    complaints = collection_complaints(actions, satisfaction).assign(complaints=1.0)
    counted = group_sum(complaints, by, ["complaints"])
    out = merge_on(accounts, counted, by)
    out["complaints"] = out["complaints"].fillna(0.0)
    out["complaint_rate"] = per * ratio(out["complaints"], out["accounts_contacted"])
    out[["accounts_contacted", "complaints"]] = out[["accounts_contacted", "complaints"]].astype(
        "int64"
    )
    return out


def customer_satisfaction(
    satisfaction: pd.DataFrame,
    in_collection: pd.DataFrame,
    *,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Mean survey score (1–5) of customers in collection, per ``by`` group.

    Inputs: ``satisfaction`` with ``customer_id, score``; ``in_collection`` with
    ``customer_id`` (+ ``by`` columns). Output columns: the ``by`` columns, then
    ``surveys`` (with a score), ``score_sum``, ``mean_score`` (NaN without surveys).
    """
    require_columns(satisfaction, ("customer_id", "score"), "satisfaction")
    require_columns(in_collection, ("customer_id", *by), "in_collection")
    members = in_collection[["customer_id", *by]].drop_duplicates()
    scores = pd.DataFrame(
        {
            "customer_id": satisfaction["customer_id"],
            "score_sum": pd.to_numeric(satisfaction["score"], errors="coerce"),
        }
    ).dropna(subset=["score_sum"])
    # members are unique per (customer, group): without ``by`` each survey counts once
    scored = scores.merge(members, on="customer_id", how="inner").assign(surveys=1.0)
    out = group_sum(scored, by, ["surveys", "score_sum"])
    out["mean_score"] = ratio(out["score_sum"], out["surveys"])
    out["surveys"] = out["surveys"].astype("int64")
    return out
