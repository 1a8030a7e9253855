"""Worklists: today's allowed contacts placed into queues within collectors' capacity.

Contacts arrive in priority order (expected recovery per unit of effort, highest first).
Automated channels (SMS, app push, letter, ...) go to one queue per channel. Channels
worked by people fill the active collectors of the channel's role: capacity is laid
out as *slots* interleaved across collectors (everyone's first slot, then everyone's
second, ...), so the best accounts are spread over the team rather than piled on one
person, and a contact needing two staff (field visits) takes two consecutive slots --
two different people. What does not fit is returned as over capacity, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nplpipeline.config.strategy import ChannelSpec


@dataclass(frozen=True)
class Assignment:
    assigned: pd.DataFrame
    over_capacity: pd.DataFrame


def _slots(collectors: pd.DataFrame) -> pd.DataFrame:
    """One row per unit of capacity, interleaved across collectors."""
    staff = collectors.sort_values("collector_id").reset_index(drop=True)
    caps = staff["daily_capacity"].fillna(0).astype(int).clip(lower=0).to_numpy()
    owner = np.repeat(np.arange(len(staff)), caps)
    nth = np.arange(len(owner)) - np.repeat(np.cumsum(caps) - caps, caps)
    order = np.lexsort((owner, nth))
    return pd.DataFrame(
        {
            "collector_id": staff["collector_id"].to_numpy()[owner[order]],
            "team": staff["team"].to_numpy()[owner[order]],
        }
    )


def _fill_role(contacts: pd.DataFrame, slots: pd.DataFrame, staff_of: pd.Series) -> pd.Series:
    """Index of the first slot each contact takes, or -1 when it does not fit."""
    need = staff_of.to_numpy()
    end = np.cumsum(need)
    start = end - need
    fits = end <= len(slots)
    # Once one contact does not fit, none after it may jump the queue with a smaller need.
    fits &= np.cumsum(~fits) == 0
    return pd.Series(np.where(fits, start, -1), index=contacts.index)


def assign_queues(
    contacts: pd.DataFrame, collectors: pd.DataFrame, channels: dict[str, ChannelSpec]
) -> Assignment:
    """Queue, assignee(s) and rank for each contact; contacts must be in priority order."""
    out = contacts.copy()
    out["queue"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["assignee_id"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["assignee_team"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["second_assignee_id"] = pd.Series(pd.NA, index=out.index, dtype="string")
    role_of = {name: spec.role for name, spec in channels.items()}
    staff_of = {name: spec.staff for name, spec in channels.items()}
    roles = out["channel"].map(role_of)

    automated = roles.isna()
    out.loc[automated, "queue"] = "auto:" + out.loc[automated, "channel"]

    active = collectors[collectors["active"].fillna(False).astype(bool)]
    for role in sorted(set(roles.dropna())):
        mine = out.index[(roles == role).to_numpy()]
        slots = _slots(active[active["role"] == role])
        first = _fill_role(out.loc[mine], slots, out.loc[mine, "channel"].map(staff_of))
        placed = first[first >= 0]
        lead = slots.iloc[placed.to_numpy()]
        out.loc[placed.index, "assignee_id"] = lead["collector_id"].to_numpy()
        out.loc[placed.index, "assignee_team"] = lead["team"].to_numpy()
        out.loc[placed.index, "queue"] = lead["collector_id"].to_numpy()
        pairs = placed[out.loc[placed.index, "channel"].map(staff_of) >= 2]
        if len(pairs):
            second = slots.iloc[(pairs + 1).to_numpy()]["collector_id"].to_numpy()
            out.loc[pairs.index, "second_assignee_id"] = second
            alone = out.loc[pairs.index, "assignee_id"].to_numpy() == second
            out.loc[pairs.index[alone], ["queue", "assignee_id", "assignee_team"]] = pd.NA
            out.loc[pairs.index[alone], "second_assignee_id"] = pd.NA

    fitted = out["queue"].notna()
    assigned = out[fitted].copy()
    assigned["queue_rank"] = assigned.groupby("queue", sort=False).cumcount() + 1
    return Assignment(assigned=assigned, over_capacity=out[~fitted].copy())
