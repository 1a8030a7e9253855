"""Agency KPIs: liquidation rate, commissions and cost to collect.

    liquidation rate = amount collected during placements ÷ balance placed
    cost to collect  = (operating cost + commissions) ÷ amount collected

A **placement** is one row of ``placements``: ``loan_id, agency_id, placed_at,
recalled_at, placed_balance`` -- the account went to the agency on ``placed_at`` with
``placed_balance`` owed and came back on ``recalled_at`` (exclusive; empty = still
placed). A second placement of the same loan is another row.

**Collected** is the loan's repayments net of reversals dated in ``[placed_at,
recalled_at)``. By default (``attribution="placement"``) every such payment counts, as
contingency agreements usually pay commission on all money received while an account is
placed, whoever it was paid to; with ``attribution="agency_id"`` only repayment rows whose
``agency_id`` is the placement's agency count (a reversal follows its original).

**Commission** = the agency's ``commission_rate`` (from ``agencies``) × collected, flow by
flow, so a reversal also takes back its commission. Operating cost is an input (e.g.
monthly fees, the lender's vendor-management cost per agency) per ``by`` group. Cost to
collect is NaN when nothing was collected.

Count-based beside the amounts: ``paying_rate`` = share of placements with a net
collection above zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd

from nplpipeline.report.kpis._frames import (
    days,
    group_sum,
    merge_on,
    money,
    ratio,
    require_columns,
)
from nplpipeline.report.kpis.repayments import flows_in_windows, repayment_flows

PLACEMENT_COLUMNS = ("loan_id", "agency_id", "placed_at", "placed_balance")
Attribution = Literal["placement", "agency_id"]
COLLECTION_COLUMNS = ("placement", "loan_id", "agency_id", "paid_date", "amount")
OUTPUT_COLUMNS = (
    "placements",
    "placed_balance",
    "collected",
    "placements_paying",
    "liquidation_rate",
    "paying_rate",
    "commissions",
    "operating_cost",
    "cost_to_collect",
)


def _placements(placements: pd.DataFrame) -> pd.DataFrame:
    require_columns(placements, PLACEMENT_COLUMNS, "placements")
    frame = placements.reset_index(drop=True).copy()
    frame["_start"] = days(frame["placed_at"])
    if "recalled_at" in frame:
        frame["_end"] = days(frame["recalled_at"])
    else:
        frame["_end"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    frame["placed_balance"] = money(frame["placed_balance"]).fillna(0.0)
    return frame


def placement_collections(
    placements: pd.DataFrame,
    repayments: pd.DataFrame,
    *,
    attribution: Attribution = "placement",
) -> pd.DataFrame:
    """The net flows credited to each placement, one row per (placement, flow).

    Inputs: ``placements`` (see module docstring), ``repayments`` as raw_repayments.
    Output columns: ``placement`` (row position in ``placements``), ``loan_id,
    agency_id`` (the placement's), ``paid_date, amount`` (signed; reversals negative).
    """
    if attribution not in ("placement", "agency_id"):
        raise ValueError(f"attribution must be 'placement' or 'agency_id', got {attribution!r}")
    frame = _placements(placements)
    flows = repayment_flows(repayments).rename(columns={"agency_id": "paid_to"})
    inside = flows_in_windows(frame, flows, start="_start", end="_end", carry=("paid_to",))
    inside = inside.rename(columns={"_row": "placement"})
    inside["agency_id"] = frame["agency_id"].to_numpy()[inside["placement"].to_numpy()]
    if attribution == "agency_id":
        inside = inside.loc[inside["paid_to"].astype("object") == inside["agency_id"]]
    return inside[list(COLLECTION_COLUMNS)].reset_index(drop=True)


def agency_commissions(
    placements: pd.DataFrame,
    repayments: pd.DataFrame,
    agencies: pd.DataFrame,
    *,
    attribution: Attribution = "placement",
) -> pd.DataFrame:
    """Commission owed per collected flow: ``commission_rate × amount``.

    Inputs: as ``placement_collections`` plus ``agencies`` with ``agency_id,
    commission_rate``. Output columns: ``loan_id, agency_id, cost_date, amount`` -- the
    shape ``recovery.account_recoveries`` takes as ``commissions``.
    """
    require_columns(agencies, ("agency_id", "commission_rate"), "agencies")
    collected = placement_collections(placements, repayments, attribution=attribution)
    rates = agencies.drop_duplicates("agency_id").set_index("agency_id")["commission_rate"]
    rate = money(collected["agency_id"].map(rates)).fillna(0.0)
    return pd.DataFrame(
        {
            "loan_id": collected["loan_id"],
            "agency_id": collected["agency_id"],
            "cost_date": collected["paid_date"],
            "amount": collected["amount"] * rate,
        }
    )


def agency_liquidation(
    placements: pd.DataFrame,
    repayments: pd.DataFrame,
    agencies: pd.DataFrame,
    *,
    by: Sequence[str] = ("agency_id",),
    operating_costs: pd.DataFrame | None = None,
    attribution: Attribution = "placement",
) -> pd.DataFrame:
    """Liquidation rate, commissions and cost to collect per ``by`` group.

    Inputs: ``placements`` (+ ``by`` columns, e.g. ``agency_id``, tier, province);
    ``repayments`` as raw_repayments; ``agencies`` with ``agency_id, commission_rate``;
    ``operating_costs`` (optional) with the ``by`` columns and ``operating_cost``.
    Output columns: the ``by`` columns, then ``placements, placed_balance, collected,
    placements_paying, liquidation_rate, paying_rate, commissions, operating_cost,
    cost_to_collect``. Groups come from the placements: an operating cost of a group
    without placements is not listed.
    """
    by = list(by)
    frame = _placements(placements)
    require_columns(frame, by, "placements")
    collected = placement_collections(placements, repayments, attribution=attribution)
    rates = agencies.drop_duplicates("agency_id").set_index("agency_id")["commission_rate"]
    collected["commission"] = collected["amount"] * money(collected["agency_id"].map(rates)).fillna(
        0.0
    )
    per_placement = collected.groupby("placement")[["amount", "commission"]].sum()
    frame["collected"] = per_placement["amount"].reindex(frame.index, fill_value=0.0)
    frame["commissions"] = per_placement["commission"].reindex(frame.index, fill_value=0.0)
    frame["placements"] = 1.0
    frame["placements_paying"] = (frame["collected"] > 0).astype(float)
    out = group_sum(
        frame, by, ["placements", "placed_balance", "collected", "placements_paying", "commissions"]
    )
    if operating_costs is None:
        out["operating_cost"] = 0.0
    else:
        require_columns(operating_costs, (*by, "operating_cost"), "operating_costs")
        costs = operating_costs.assign(operating_cost=money(operating_costs["operating_cost"]))
        out = merge_on(out, group_sum(costs, by, ["operating_cost"]), by)
        out["operating_cost"] = out["operating_cost"].fillna(0.0)
    out["liquidation_rate"] = ratio(out["collected"], out["placed_balance"])
    out["paying_rate"] = ratio(out["placements_paying"], out["placements"])
    out["cost_to_collect"] = ratio(out["operating_cost"] + out["commissions"], out["collected"])
    counts = ["placements", "placements_paying"]
    out[counts] = out[counts].astype("int64")
    return out[[*by, *OUTPUT_COLUMNS]]
