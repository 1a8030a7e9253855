"""Collectors and agencies: the collection capacity the behaviour model assigns accounts to.

Each call collector has a hidden contact style (how hard they work an account); because
accounts are assigned to collectors at random, contact intensity varies for reasons
unrelated to the account, which makes its effect on cure rates causal and measurable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import reference as ref
from .borrowers import PROV_NAMES
from .columns import decimal, make_table


@dataclass
class Staff:
    collector_id: list[str]
    team: list[str]
    role: np.ndarray  # "call" / "field" / "legal"
    style: np.ndarray  # contact-intensity multiplier (hidden)
    capacity: np.ndarray
    stage: np.ndarray  # "early" / "mid" / "" for call collectors
    deactivated: int  # index of the collector who leaves
    deactivate_day: int
    agency_id: list[str]
    agency_capacity: np.ndarray  # monthly, scaled with portfolio size
    agency_commission: np.ndarray
    agency_mult: np.ndarray  # hidden liquidation multiplier on the cure hazard
    agency_serves: np.ndarray  # (n_agencies, n_provinces) bool
    agency_off_day: np.ndarray  # day from which the agency takes no placements (big = never)
    capacity_change: tuple[int, int, int]  # (agency index, day, new capacity)
    start_day: int


def build_staff(rng: np.random.Generator, n_loans: int, start_day: int, history_days: int) -> Staff:
    cid, team, role, cap, stage = [], [], [], [], []
    for tname, trole, count, (lo, hi) in ref.TEAMS:
        for _ in range(count):
            cid.append(f"E{len(cid) + 1:04d}")
            team.append(tname)
            role.append(trole)
            cap.append(int(rng.integers(lo, hi + 1)))
            stage.append(tname.split("-")[0] if trole == "call" else "")
    n = len(cid)
    style = np.exp(rng.uniform(np.log(0.45), np.log(2.0), size=n))
    scale = max(n_loans / 100_000, 0.05)
    a_ids = [a[0] for a in ref.AGENCIES]
    serves = np.zeros((len(ref.AGENCIES), len(PROV_NAMES)), dtype=bool)
    for i, a in enumerate(ref.AGENCIES):
        serves[i] = True if not a[4] else np.isin(PROV_NAMES, a[4].split(","))
    off = np.full(len(a_ids), 10**9, dtype=np.int64)
    off[a_ids.index(ref.AGENCY_DEACTIVATE[0])] = start_day + int(
        ref.AGENCY_DEACTIVATE[1] * history_days
    )
    capacity = np.array([max(round(a[3] * scale), 20) for a in ref.AGENCIES])
    ci = a_ids.index(ref.AGENCY_CAPACITY_CHANGE[0])
    change = (
        ci,
        start_day + int(ref.AGENCY_CAPACITY_CHANGE[1] * history_days),
        round(capacity[ci] * ref.AGENCY_CAPACITY_CHANGE[2]),
    )
    return Staff(
        collector_id=cid,
        team=team,
        role=np.asarray(role),
        style=style,
        capacity=np.asarray(cap),
        stage=np.asarray(stage),
        deactivated=0,
        deactivate_day=start_day + int(ref.COLLECTOR_DEACTIVATE_FRACTION * history_days),
        agency_id=a_ids,
        agency_capacity=capacity,
        agency_commission=np.array([a[2] for a in ref.AGENCIES]),
        agency_mult=np.array([a[5] for a in ref.AGENCIES]),
        agency_serves=serves,
        agency_off_day=off,
        capacity_change=change,
        start_day=start_day,
    )


def pick_collector(
    rng: np.random.Generator, staff: Staff, mask: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Random collector among `mask` who is still active on `day` (uniform: an experiment)."""
    pool = np.flatnonzero(mask)
    idx = pool[rng.integers(0, len(pool), size=len(day))]
    gone = (idx == staff.deactivated) & (day >= staff.deactivate_day)
    if gone.any():
        others = pool[pool != staff.deactivated]
        idx[gone] = others[rng.integers(0, len(others), size=int(gone.sum()))]
    return idx


def pick_agency(
    rng: np.random.Generator, staff: Staff, province: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Agency by capacity share among those serving the province and active on `day`."""
    w = staff.agency_serves[:, province].T * staff.agency_capacity[None, :].astype(np.float64)
    w = w * (day[:, None] < staff.agency_off_day[None, :])
    ci, cday, ccap = staff.capacity_change
    w[day >= cday, ci] *= ccap / staff.agency_capacity[ci]
    cum = np.cumsum(w, axis=1)
    u = rng.random(len(day)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), w.shape[1] - 1)


def staff_tables(staff: Staff) -> tuple[pa.Table, pa.Table]:
    """Agencies and collectors: full list on the first drop day, changed rows in later drops."""
    na = len(staff.agency_id)
    cap = staff.agency_capacity.copy()
    rows_day = np.full(na, staff.start_day)
    ci, cday, ccap = staff.capacity_change
    off_i = int(np.flatnonzero(staff.agency_off_day < 10**9)[0])
    idx = np.concatenate([np.arange(na), [ci, off_i]])
    cap_col = np.concatenate([cap, [ccap, cap[off_i]]])
    active = np.concatenate([np.ones(na, dtype=bool), [True, False]])
    day = np.concatenate([rows_day, [cday, staff.agency_off_day[off_i]]])
    agencies = make_table(
        "agencies",
        {
            "agency_id": pa.array(staff.agency_id).take(pa.array(idx)),
            "name": pa.array([a[1] for a in ref.AGENCIES]).take(pa.array(idx)),
            "commission_rate": decimal(
                np.round(staff.agency_commission[idx] * 100).astype(np.int64)
            ),
            "monthly_capacity": pa.array(cap_col),
            "provinces": pa.array([a[4] or None for a in ref.AGENCIES]).take(pa.array(idx)),
            "active": pa.array(active),
        },
        day,
    )
    nc = len(staff.collector_id)
    cidx = np.concatenate([np.arange(nc), [staff.deactivated]])
    collectors = make_table(
        "collectors",
        {
            "collector_id": pa.array(staff.collector_id).take(pa.array(cidx)),
            "team": pa.array(staff.team).take(pa.array(cidx)),
            "role": pa.array(staff.role[cidx]),
            "daily_capacity": pa.array(staff.capacity[cidx].astype(np.int64)),
            "active": pa.array(np.r_[np.ones(nc, dtype=bool), False]),
        },
        np.r_[np.full(nc, staff.start_day), staff.deactivate_day],
    )
    return agencies, collectors
