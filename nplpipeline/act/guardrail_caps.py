"""The three call caps, decided jointly, and the room they leave.

A call candidate is allowed only if *every* cap still has room after the history and the
higher-priority candidates that were themselves allowed: a candidate that one cap
rejects spends no slot of another. That is the greedy rule "walk the candidates in
priority order, schedule one when all its caps have room", computed in vectorised
rounds: a row is settled allowed when even every unsettled earlier row being allowed
leaves room, settled rejected when the rows already allowed fill a cap. Each round
settles at least the first unsettled row, and in practice a handful of rounds settle all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from nplpipeline.act.guardrail_clock import day_starts, midnight_utc, zone_codes
from nplpipeline.act.guardrails_config import GuardrailPolicy
from nplpipeline.keys import positions

NUMBER_CAP = "cap:call_attempts_day_number"
DEBTOR_CAP = "cap:connected_calls_day_debtor"
DEBT_CAP = "cap:call_attempts_7d_debt"
UNNUMBERED = "debtor:"


@dataclass(frozen=True)
class Cap:
    code: str
    key: str  # candidate column the cap groups by
    limit: int
    used: np.ndarray  # history's count against each competing candidate's group
    remaining_column: str


def _in_day(h: pd.DataFrame, run_date: date, days_back: int) -> np.ndarray:
    """Rows on the last ``days_back + 1`` local days up to ``run_date`` (own zone)."""
    valid = pd.Series(True, index=h.index)
    start = day_starts(h["zone"], run_date - timedelta(days=days_back), valid)
    return (h["instant"] >= start).to_numpy()


def _counted(h: pd.DataFrame, base: np.ndarray, code: str, p: GuardrailPolicy) -> np.ndarray:
    """``base`` rows plus, where the policy says so, the agencies' own-channel contacts."""
    if code in p.agency_contacts_count_for:
        extra = h["agency_answered"] if code == DEBTOR_CAP else h["agency_own"]
        return base | extra.to_numpy()
    return base


def _count(keys: pd.Series, rows: pd.DataFrame, by: str) -> np.ndarray:
    """How many of ``rows`` share each of ``keys`` in column ``by`` (hashed lookup)."""
    sizes = rows.groupby(by).size()
    at = positions(keys, sizes.index)
    counts = np.append(sizes.to_numpy(dtype=int), 0)  # position -1 reads the 0
    return counts[at]


def number_used(
    cand: pd.DataFrame, h: pd.DataFrame, run_date: date, p: GuardrailPolicy
) -> np.ndarray:
    """Calls today (on each candidate's own calendar) to the candidate's number, whoever
    the debtor; unnumbered calls of the same debtor count against every number of theirs."""
    calls = h[_counted(h, h["is_call"].to_numpy(), NUMBER_CAP, p)]
    used = np.zeros(len(cand), dtype=int)
    codes, zones = zone_codes(cand["timezone"])
    for i, zone in enumerate(zones):  # per distinct zone: its own calendar day
        mine = codes == i
        part = cand[mine]
        start, end = midnight_utc(zone, run_date), midnight_utc(zone, run_date + timedelta(1))
        today = calls[((calls["instant"] >= start) & (calls["instant"] < end)).to_numpy()]
        unnumbered = today[today["number_key"].str.startswith(UNNUMBERED).to_numpy()]
        by_key = _count(part["number_key"], today, "number_key")
        loose = _count(part["customer_id"], unnumbered, "customer_id")
        every = _count(part["customer_id"], today, "customer_id")
        pooled = part["number_key"].str.startswith(UNNUMBERED).to_numpy()
        used[mine] = np.where(pooled, every, by_key + loose)
    return used


def caps_for(cand: pd.DataFrame, h: pd.DataFrame, run_date: date, p: GuardrailPolicy) -> list[Cap]:
    """Each configured cap with the history's use against every competing candidate."""
    caps: list[Cap] = []
    if p.max_call_attempts_per_number_per_day is not None:
        used = number_used(cand, h, run_date, p)
        caps.append(
            Cap(
                NUMBER_CAP,
                "number_key",
                p.max_call_attempts_per_number_per_day,
                used,
                "remaining_call_attempts_number_today",
            )
        )
    if p.max_connected_calls_per_debtor_per_day is not None:
        rows = h[_in_day(h, run_date, 0) & _counted(h, h["connected"].to_numpy(), DEBTOR_CAP, p)]
        caps.append(
            Cap(
                DEBTOR_CAP,
                "customer_id",
                p.max_connected_calls_per_debtor_per_day,
                _count(cand["customer_id"], rows, "customer_id"),
                "remaining_connected_calls_debtor_today",
            )
        )
    if p.max_call_attempts_per_debt_per_7_days is not None:
        rows = h[_in_day(h, run_date, 6) & _counted(h, h["is_call"].to_numpy(), DEBT_CAP, p)]
        caps.append(
            Cap(
                DEBT_CAP,
                "loan_id",
                p.max_call_attempts_per_debt_per_7_days,
                _count(cand["loan_id"], rows, "loan_id"),
                "remaining_call_attempts_debt_7d",
            )
        )
    return caps


def _before(flags: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """How many earlier rows of the same group have ``flags`` set (exclusive cumsum)."""
    s = pd.Series(flags.astype(int))
    return (s.groupby(groups).cumsum() - s).to_numpy()


def decide(cand: pd.DataFrame, caps: list[Cap]) -> tuple[np.ndarray, pd.Series]:
    """Allowed mask over ``cand`` (priority order) and the cap each rejected row breaks."""
    n = len(cand)
    groups = [pd.factorize(cand[c.key])[0] for c in caps]
    allowed = np.zeros(n, dtype=bool)
    rejected = np.zeros(n, dtype=bool)
    while not (allowed | rejected).all():
        open_ = ~(allowed | rejected)
        ok = np.ones(n, dtype=bool)
        full = np.zeros(n, dtype=bool)
        for cap, g in zip(caps, groups, strict=True):
            ok &= cap.used + _before(~rejected, g) < cap.limit
            full |= cap.used + _before(allowed, g) >= cap.limit
        rejected |= open_ & full
        allowed |= open_ & ~full & ok
    reason = pd.Series(pd.NA, index=cand.index, dtype="string")
    for cap, g in reversed(list(zip(caps, groups, strict=True))):  # first cap in order wins
        hit = rejected & (cap.used + _before(allowed, g) >= cap.limit)
        reason[hit] = cap.code
    return allowed, reason


def remaining(cand: pd.DataFrame, allowed: np.ndarray, caps: list[Cap]) -> dict[str, np.ndarray]:
    """Room each cap leaves after today's allowed calls, given whole to the group's first
    allowed call and 0 to the rest, so a CRM honouring every item's figure stays in cap."""
    out: dict[str, np.ndarray] = {}
    for cap in caps:
        g = pd.factorize(cand[cap.key])[0]
        taken = pd.Series(allowed.astype(int)).groupby(g).transform("sum").to_numpy()
        first = allowed & (_before(allowed, g) == 0)
        out[cap.remaining_column] = np.where(first, np.maximum(cap.limit - cap.used - taken, 0), 0)
    return out
