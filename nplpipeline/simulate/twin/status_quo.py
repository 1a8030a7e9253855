"""The status quo: the lender's pre-pipeline policy, computed from the twin's own book.

Same call cadence for every delinquent account (no model, no offers), reminder SMS on
fixed days past due, and every account still unpaid at ``placement_dpd`` placed with an
agency (capacity share among those serving its province) for ``placement_days``. Calls
fill the call collectors' capacity of the account's stage (early below DPD 30, else
mid); what does not fit is not called. Decisions have the ``DayDecisions`` columns.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nplpipeline.simulate.config import DAY, from_day, to_day
from nplpipeline.simulate.staff import pick_agency

from .agencies import AGENCY_IDS
from .config import day_rng, staff_for
from .decisions import DayDecisions
from .response import open_episodes
from .state import load, snapshots

DEFAULT_STATUS_QUO_FILE = (
    Path(__file__).resolve().parents[2] / "config" / "policies" / "status_quo.yaml"
)
ENV_VAR = "NPL_STATUS_QUO_POLICY"


class StatusQuoPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "status_quo"
    first_call_dpd: int = Field(default=1, ge=1)
    call_every_days: int = Field(default=3, ge=1)
    last_call_dpd: int = Field(default=89, ge=1)
    sms_dpd: tuple[int, ...] = (1, 7, 15, 25)
    placement_dpd: int = Field(default=90, ge=1)
    placement_days: int = Field(default=120, ge=1)
    window_start: dt.time = dt.time(9, 0)
    window_end: dt.time = dt.time(20, 0)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> StatusQuoPolicy:
        if self.last_call_dpd < self.first_call_dpd:
            raise ValueError("last_call_dpd must be >= first_call_dpd")
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if any(d < 1 for d in self.sms_dpd):
            raise ValueError("sms_dpd days must be >= 1")
        return self


def load_status_quo_policy(path: str | Path | None = None) -> StatusQuoPolicy:
    """The shipped status quo, or a lender's YAML at ``path`` / ``$NPL_STATUS_QUO_POLICY``."""
    import os

    from nplpipeline.config.loading import load_yaml_model

    path = path or os.environ.get(ENV_VAR) or DEFAULT_STATUS_QUO_FILE
    return load_yaml_model(StatusQuoPolicy, path)


def _slots(ids: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Collector of each unit of capacity, interleaved across collectors."""
    owner = np.repeat(np.arange(len(ids)), caps)
    nth = np.arange(len(owner)) - np.repeat(np.cumsum(caps) - caps, caps)
    return ids[owner[np.lexsort((owner, nth))]]


def _window(tz_offset: np.ndarray, day: int, at: dt.time) -> pd.Series:
    secs = day * DAY + at.hour * 3600 + at.minute * 60 - tz_offset
    return pd.Series(secs.astype("datetime64[s]"))


def status_quo_decisions(twin_dir: Path, day: dt.date, policy: StatusQuoPolicy) -> DayDecisions:
    """The status quo's worklist and placements for ``day`` (the twin's current day)."""
    d = to_day(day)
    if d not in snapshots(twin_dir):
        raise FileNotFoundError(f"no twin state for {day} in {twin_dir}")
    st = load(twin_dir, d)
    staff = staff_for(st.meta)
    ln_, bw = st.loans, st.borrowers
    op = open_episodes(st, d + 1)  # unpaid after day d: delinquent on d
    op = op[(ln_["d0"][op] <= d)]
    dpd = d - ln_["d0"][op]
    placed = (ln_["agency"][op] >= 0) & (ln_["period_end"][op] >= d)
    inhouse = op[~placed]
    idpd = dpd[~placed]
    call = (idpd >= policy.first_call_dpd) & (idpd <= policy.last_call_dpd)
    call &= (idpd - policy.first_call_dpd) % policy.call_every_days == 0
    sms = np.isin(idpd, policy.sms_dpd)
    items = [_sms_items(inhouse[sms])]
    for stage, sel in (("early", idpd < 30), ("mid", idpd >= 30)):
        items.append(_call_items(st, staff, inhouse[call & sel], stage, d))
    w = (
        pd.concat([x for x in items if len(x)], ignore_index=True)
        if any(len(x) for x in items)
        else pd.DataFrame(columns=["loan"])
    )
    cust = ln_["cust"][w["loan"].to_numpy(np.int64)]
    off = np.where(bw["urumqi"][cust], 6 * 3600, 8 * 3600)
    w["timezone"] = np.where(bw["urumqi"][cust], "Asia/Urumqi", "Asia/Shanghai")
    w["window_start_utc"] = _window(off, d, policy.window_start)
    w["window_end_utc"] = _window(off, d, policy.window_end)
    w["loan_id"] = "L" + pd.Series(w["loan"]).astype(str).str.zfill(9)
    w["customer_id"] = "C" + pd.Series(bw["cust_no"][cust]).astype(str).str.zfill(9)
    w["item_id"] = f"{day:%Y%m%d}-" + w["loan_id"] + "-" + w["channel"]
    placements = _placements(st, staff, op[(dpd >= policy.placement_dpd) & ~placed], d, policy)
    return DayDecisions.build(day, w.drop(columns=["loan"]), placements)


def _sms_items(loans: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "loan": loans,
            "channel": "sms",
            "queue": "auto:sms",
            "queue_rank": np.arange(1, len(loans) + 1),
        }
    )


def _call_items(st, staff, loans: np.ndarray, stage: str, d: int) -> pd.DataFrame:
    pool = (staff.role == "call") & (staff.stage == stage)
    pool &= ~((np.arange(len(pool)) == staff.deactivated) & (d >= staff.deactivate_day))
    ids = np.asarray(staff.collector_id, dtype=object)[pool]
    slots = _slots(ids, staff.capacity[pool].astype(np.int64))
    loans = np.sort(loans)[: len(slots)]
    q = slots[: len(loans)]
    w = pd.DataFrame({"loan": loans, "channel": "call", "queue": q, "assignee_id": q})
    w["queue_rank"] = w.groupby("queue", sort=False).cumcount() + 1
    return w


def _placements(st, staff, loans: np.ndarray, d: int, policy: StatusQuoPolicy) -> pd.DataFrame:
    ln_, bw = st.loans, st.borrowers
    never = loans[ln_["placements"][loans] == 0]
    rng = day_rng(st.meta, d, 100 + policy.seed)
    if len(never) == 0:
        return pd.DataFrame(
            columns=["placement_id", "loan_id", "agency_id", "placed_on", "period_end"]
        )
    a = pick_agency(rng, staff, bw["province"][ln_["cust"][never]], np.full(len(never), d))
    loan_id = "L" + pd.Series(never).astype(str).str.zfill(9)
    return pd.DataFrame(
        {
            "placement_id": f"SQ{from_day(d):%Y%m%d}-" + loan_id,
            "loan_id": loan_id,
            "agency_id": np.asarray(AGENCY_IDS, dtype=object)[a],
            "placed_on": from_day(d),
            "period_end": from_day(d + policy.placement_days),
        }
    )
