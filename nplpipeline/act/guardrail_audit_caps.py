"""The audit's re-count of the three call caps over the scheduled worklist.

For each scheduled call: what the history already used against its number (today, on
the debtor's calendar, whoever the debtor), its debtor (connected calls today, agencies
included where the policy says so) and its debt (attempts over 7 local days), plus
every scheduled call sharing that group, plus the redials the worklist still allows in
that group (``remaining_call_attempts``). Any total above the cap is a breach.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from nplpipeline.act.guardrail_audit import _Audit


def _group_total(calls: pd.DataFrame, key: pd.Series) -> pd.Series:
    """Scheduled calls in each item's group plus the redials the group still allows."""
    extra = calls.get("remaining_call_attempts", 0)
    extra = pd.Series(extra, index=calls.index).astype("Float64").fillna(0)
    return (1 + extra).groupby(key.to_numpy()).transform("sum")


def _number_used(a: _Audit, calls: pd.DataFrame, number: pd.Series) -> pd.Series:
    from nplpipeline.act.guardrail_audit import _local_dates

    h = a.h[a.h["call"] | (a.h["agency_own"] & _listed(a, "cap:call_attempts_day_number"))]
    used = pd.Series(0, index=calls.index)
    zones = a._zone(calls["customer_id"])
    for zone in zones.unique():
        mine = zones == zone
        day = _local_dates(h["instant"], pd.Series(zone, index=h.index))
        today = h[day == a.run]
        part = calls[mine.to_numpy()]
        n, c = number[mine.to_numpy()], part["customer_id"]
        by_number = n.map(today.groupby("number").size()).fillna(0)
        loose_rows = today[today["number"].str.startswith("debtor:").to_numpy()]
        loose = c.map(loose_rows.groupby("customer_id").size()).fillna(0)
        every = c.map(today.groupby("customer_id").size()).fillna(0)
        pooled = n.str.startswith("debtor:").to_numpy()
        used[part.index] = np.where(pooled, every, by_number + loose).astype(int)
    return used


def _listed(a: _Audit, rule: str) -> bool:
    return rule in a.p.agency_contacts_count_for


def cap_checks(a: _Audit) -> None:
    """Flag scheduled calls whose group goes over a cap."""
    it, h, p = a.items, a.h, a.p
    is_call = it["channel"].isin(p.call_channels)
    calls = it[is_call]
    over = {rule: pd.Series(False, index=it.index) for rule in _RULES}
    if p.max_call_attempts_per_number_per_day is not None and len(calls):
        number = a._number(calls)
        total = _number_used(a, calls, number) + _group_total(calls, number)
        over[_RULES[0]][calls.index] = total > p.max_call_attempts_per_number_per_day
    if p.max_connected_calls_per_debtor_per_day is not None and len(calls):
        rows = h[h["day"] == a.run]
        rows = rows[rows["connected"] | (rows["agency_answered"] & _listed(a, _RULES[1]))]
        used = calls["customer_id"].map(rows.groupby("customer_id").size()).fillna(0)
        total = used + _group_total(calls, calls["customer_id"])
        over[_RULES[1]][calls.index] = total > p.max_connected_calls_per_debtor_per_day
    if p.max_call_attempts_per_debt_per_7_days is not None and len(calls):
        rows = h[h["day"] >= a.run - timedelta(days=6)]
        rows = rows[rows["call"] | (rows["agency_own"] & _listed(a, _RULES[2]))]
        used = calls["loan_id"].map(rows.groupby("loan_id").size()).fillna(0)
        total = used + _group_total(calls, calls["loan_id"])
        over[_RULES[2]][calls.index] = total > p.max_call_attempts_per_debt_per_7_days
    for rule, mask in over.items():
        a.flag(rule, mask, is_call)


_RULES = (
    "cap:call_attempts_day_number",
    "cap:connected_calls_day_debtor",
    "cap:call_attempts_7d_debt",
)
