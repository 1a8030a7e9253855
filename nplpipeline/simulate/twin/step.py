"""One twin day: what was decided on D, performed and answered, becomes the drop of D + 1.

Order: the CRM works D's worklist inside D's windows (contacts dated D, on the
customer's clock); D's placements and recalls reach the agencies; then day D + 1 runs:
intensity fades, new loans originate, agencies work, cures are drawn from the hazard
(kept promises pay on their date), regular instalments are paid, bounces and agency
reversals come back, statuses change, disputes close, surveys arrive. Everything lands in
the drop folder of D + 1 (D's CRM contacts included: the CRM's export of D arrives with
the core system's extract of D + 1), truth apart, and the state after D + 1 is saved.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nplpipeline.simulate.config import DAY, from_day, to_day

from . import agencies as ag
from . import crm, drops, origination, world
from . import response as rs
from .config import day_rng, staff_for
from .decisions import DayDecisions
from .state import BIG, WorldState, load, save, snapshots


class TwinDayError(RuntimeError):
    """The requested day is not the twin's next day (nor a re-step of its last).

    Permanent for a day already behind the twin; a day ahead of it may run once the days
    before it have been stepped, so a retry later can succeed.
    """

    def __init__(self, message: str, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


def _state_for(twin_dir: Path, day: int) -> WorldState:
    days = snapshots(twin_dir)
    if not days:
        raise TwinDayError(f"no twin state in {twin_dir}: run the warm-up first")
    last = days[-1]
    if day == last:
        return load(twin_dir, day)
    if day == last - 1 and day in days:
        return load(twin_dir, day)  # re-step of the last day: rewind to its saved state
    raise TwinDayError(
        f"the twin's next day to step is {from_day(last)} (state after it is saved);"
        f" {from_day(day)} is neither that nor a re-step of {from_day(last - 1)}",
        permanent=day < last,
    )


def _crm_actions(w: pd.DataFrame) -> dict[str, np.ndarray]:
    n = len(w)
    if n == 0:
        return {}
    return {
        "loan": w["loan"].to_numpy(np.int64),
        "ts": w["ts"].to_numpy(np.int64),
        "channel": w["channel"].astype(str).to_numpy(object),
        "performer": w["performer"].to_numpy(np.int64),
        "performer_agency": np.full(n, -1, dtype=np.int64),
        "outcome": w["outcome"].to_numpy(np.int64),
        "ptp_amount": w["ptp_amount"].to_numpy(np.int64),
        "ptp_day": w["ptp_day"].to_numpy(np.int64),
        "offer": w["offer_made"].astype(str).to_numpy(object),
        "item_id": w["item_id"].astype(str).to_numpy(object),
    }


def _agency_actions(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(a["loan"])
    return {
        **a,
        "performer": np.full(n, -1, dtype=np.int64),
        "offer": np.full(n, "", dtype=object),
        "item_id": np.full(n, "", dtype=object),
    }


def _cat_actions(parts: list[dict[str, np.ndarray]], rng) -> dict[str, np.ndarray]:
    parts = [p for p in parts if p and len(p["loan"])]
    keys = ("loan", "ts", "channel", "performer", "performer_agency", "outcome")
    keys += ("ptp_amount", "ptp_day", "offer", "item_id")
    if not parts:
        out = {k: np.zeros(0, dtype=np.int64) for k in keys}
        out["channel"] = out["offer"] = out["item_id"] = np.zeros(0, dtype=object)
    else:
        out = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    out["recorded"] = rng.random(len(out["loan"])) < 0.97
    order = np.lexsort((out["channel"].astype(str), out["ts"], out["loan"]))
    return {k: v[order] for k, v in out.items()}


def _complaints(acts, day: int, rng) -> dict[str, np.ndarray]:
    """Half of the complaints raised in contacts become complaint records (as history)."""
    c = np.flatnonzero(
        (acts["outcome"] == rs.OC["complaint"]) & (rng.random(len(acts["loan"])) < 0.5)
    )
    ts = np.minimum(acts["ts"][c] + rng.integers(3600, 30 * 3600, len(c)), day * DAY + 23 * 3600)
    return {"loan": acts["loan"][c], "ts": ts}


def step_day(
    twin_dir: Path, day: dt.date, decisions: DayDecisions, landing_dir: Path, truth_dir: Path
) -> dict[str, Any]:
    """Consume what was decided on ``day``; write the drops and truth of ``day + 1``."""
    twin_dir, landing_dir, truth_dir = Path(twin_dir), Path(landing_dir), Path(truth_dir)
    d = to_day(day)
    st = _state_for(twin_dir, d)
    t = d + 1
    staff = staff_for(st.meta)
    rng = lambda k: day_rng(st.meta, t, k)  # noqa: E731

    worked = crm.work_worklist(st, staff, decisions.worklist, d, rng(1))
    n_pl, n_rc = ag.apply_exports(st, decisions.placements, decisions.recalls, d)
    world.decay(st, t)
    ag.end_expired(st, t)
    tables = origination.originate(st, t, rng(2))
    agency_acts = ag.agency_work(st, t, rng(3))
    pay = world.Payments()
    cured = world.cures(st, t, rng(4), pay)
    n_regular = world.regular(st, t, rng(5), pay)
    today = pay.cat()
    n_bounced = world.bounces(st, t, rng(6), pay, today)
    payments = pay.cat()
    changed, code = world.status_events(st, t)
    resolved = world.disputes(st, t, rng(7))
    bw = st.borrowers
    events = np.flatnonzero((bw["event"] > 0) & (bw["event_day"] == t))
    surveys = world.surveys_due(st, t, cured, rng(8))

    acts = _cat_actions([_crm_actions(worked), _agency_actions(agency_acts)], rng(9))
    comp = _complaints(acts, t, rng(10))
    sat_rows = _satisfaction_rows(st, surveys, comp, t, rng(11))
    r12 = rng(12)
    upd_cust = np.unique(np.concatenate([resolved, events]))
    day_tables = {
        "customers": _concat(tables.get("customers"), drops.customers_update(st, upd_cust, t, r12)),
        "loans": _concat(tables.get("loans"), drops.loans_table(st, changed, code, t, r12)),
        "installments": tables.get("installments"),
        "repayments": drops.repayments_table(st, payments, t, staff),
        "collection_actions": drops.actions_table(st, acts, t, staff),
        "satisfaction": drops.satisfaction_table(st, sat_rows, t),
    }
    rows, dirty = drops.write_drops(st, day_tables, t, landing_dir, rng(13))
    st.meta["day"] = t
    st.meta["steps"] = int(st.meta["steps"]) + 1
    summary = _truth(st, t, truth_dir, payments, acts, worked, sat_rows, dirty)
    save(st, twin_dir)
    return {
        "day": day.isoformat(),
        "drop_date": from_day(t).isoformat(),
        "worklist_items": len(decisions.worklist),
        "performed": len(worked),
        "placements": n_pl,
        "recalls": n_rc,
        "cures": len(cured),
        "regular_payments": n_regular,
        "reversals": n_bounced,
        "rows_written": rows,
        "dirty_rows": int(dirty.num_rows),
        **{k: summary[k] for k in ("recovered", "agency_collected", "commission", "complaints")},
    }


def _concat(*tables: pa.Table | None) -> pa.Table | None:
    present = [t for t in tables if t is not None and t.num_rows]
    return pa.concat_tables(present) if present else None


def _satisfaction_rows(st, surveys, comp, day: int, rng) -> dict[str, np.ndarray]:
    ns = len(surveys["cust"])
    complaint = (surveys["score"] <= 2) & (rng.random(ns) < 0.35)
    return {
        "cust": np.r_[surveys["cust"], st.loans["cust"][comp["loan"]]].astype(np.int64),
        "ts": np.r_[day * DAY + surveys["tod"], comp["ts"]].astype(np.int64),
        "score": np.r_[surveys["score"], np.full(len(comp["loan"]), -1)].astype(np.int64),
        "complaint": np.r_[complaint, np.ones(len(comp["loan"]), dtype=bool)],
    }


def _blank_to_null(values: np.ndarray) -> pa.Array:
    arr = pa.array(values.astype(str), pa.string())
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _truth(st, day, truth_dir, payments, acts, worked, sat, dirty) -> dict[str, Any]:
    """truth_dir/days/<D+1>/: repayments, contacts, dirty rows, summary.json."""
    folder = truth_dir / "days" / from_day(day).isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    rev = payments["rev"] >= 0
    sign = np.where(rev, -1, 1)
    is_ag = payments["agency"] >= 0
    # commission at the agency's base rate; a reversal of an agency payment claws it back
    rate = ag.AGENCY_COMMISSION[np.maximum(payments["agency"], 0)]
    comm = rate * payments["amount"] * sign * is_ag
    pq.write_table(
        pa.table(
            {
                "loan_id": drops.loan_ids(payments["loan"]),
                "paid_on": drops.dates(np.full(len(rev), day)),
                "amount_cents": pa.array(payments["amount"] * sign),
                "channel": pa.array(payments["channel"]),
                "agency": pa.array(payments["agency"]),
                "reversal": pa.array(rev),
            }
        ),
        folder / "repayments.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "item_id": _blank_to_null(acts["item_id"]),
                "loan_id": drops.loan_ids(acts["loan"]),
                "channel": pa.array(acts["channel"].astype(str)),
                "outcome": pa.array(acts["outcome"]),
                "agency": pa.array(acts["performer_agency"]),
            }
        ),
        folder / "contacts.parquet",
    )
    pq.write_table(dirty, folder / "dirty_rows.parquet")
    scored = sat["score"] >= 0
    summary = {
        "day": from_day(day).isoformat(),
        "recovered": round(float((payments["amount"] * sign).sum()) / 100, 2),
        "agency_collected": round(float((payments["amount"] * sign * is_ag).sum()) / 100, 2),
        "commission": round(float(comm.sum()) / 100, 2),
        "reversed_agency": int((rev & is_ag).sum()),
        "contacts_crm": len(worked),
        "contacts_agency": int((acts["performer_agency"] >= 0).sum()),
        "complaints": int(sat["complaint"].sum()),
        "surveys": int(scored.sum()),
        "satisfaction_sum": int(sat["score"][scored].sum()),
        "open_episodes": len(rs.open_episodes(st, day + 1)),
        "placed": int(((st.loans["agency"] >= 0) & (st.loans["cure_day"] == BIG)).sum()),
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary
