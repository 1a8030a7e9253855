"""Per-account outcomes of a cohort over (S, D]: from the warehouse as known on D, and
from a twin world's ground truth (the status quo's world has no warehouse).

Both readers give one row per cohort loan with ``measure.OUTCOMES``: repaid (net of
reversals), the contact cost of the contacts we performed (``uplift.yaml``'s
``contact_cost``; agencies are paid by commission), commissions (net of claw-backs),
contacts performed (ours and the agencies') and complaints raised in them (the
contract's ``complaint`` outcome). The decisions of S are performed on S (the CRM works
a day's worklist that day), so contacts dated S count; payments from S + 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nplpipeline.act.placement.tables import agency_commissions
from nplpipeline.act.tables import treatment_plan
from nplpipeline.contract import ACTION_OUTCOMES, COMPLAINT_OUTCOME
from nplpipeline.report.comparison.outcomes import _day_folder, _repayments, window_days
from nplpipeline.report.nba.measure import NBA, OUTCOMES
from nplpipeline.staging import stg_agencies, stg_contact_history, stg_signed_repayments
from nplpipeline.uplift.tables import nba_decisions
from nplpipeline.warehouse.frames import read_frame


def read_cohort(conn: sa.Connection, start: dt.date) -> pd.DataFrame:
    """The accounts planned on ``start``: ``loan_id, tier, policy_arm`` (null = static)."""
    p = treatment_plan.c
    query = sa.select(p.loan_id, p.tier, p.policy_arm).where(p.as_of_date == start)
    return read_frame(conn, query)


def nba_start(conn: sa.Connection, as_of: dt.date) -> dt.date | None:
    """S: the first plan date before ``as_of`` with an account in the nba arm, from the
    learned policy's first decision on (``act_nba_decisions``) when it has decided
    before ``as_of`` -- the arm's life starts there; ``None`` without an nba arm."""
    p, n = treatment_plan.c, nba_decisions.c
    first_decision = sa.select(sa.func.min(n.as_of_date)).where(n.as_of_date < as_of)
    since = sa.func.coalesce(first_decision.scalar_subquery(), p.as_of_date)
    query = sa.select(sa.func.min(p.as_of_date)).where(
        p.as_of_date < as_of, p.as_of_date >= since, p.policy_arm == NBA
    )
    first = conn.execute(query).scalar()
    return None if first is None else pd.Timestamp(first).date()


def _per_loan(parts: list[pd.DataFrame], loans: pd.Series) -> pd.DataFrame:
    frame = pd.concat(parts, ignore_index=True)
    sums = frame.groupby("loan_id", sort=False)[list(OUTCOMES)].sum(min_count=1)
    index = pd.Index(loans.astype(str), name="loan_id")
    return sums.reindex(index).fillna(0.0).astype("float64").reset_index()


def _between(values: pd.Series, low: pd.Timestamp, high: pd.Timestamp, closed: str) -> np.ndarray:
    day = pd.to_datetime(values).dt.normalize()
    return day.between(low, high, inclusive=closed).to_numpy()  # type: ignore[arg-type]


def warehouse_outcomes(
    conn: sa.Connection, cohort: pd.DataFrame, start: dt.date, as_of: dt.date,
    contact_cost: Mapping[str, float],
) -> pd.DataFrame:  # fmt: skip
    """The cohort's outcomes over (start, as_of] as known on ``as_of`` (staging readers)."""
    p = treatment_plan.c
    loans = sa.select(p.loan_id).where(p.as_of_date == start)
    lo, hi = pd.Timestamp(start), pd.Timestamp(as_of)
    flows = stg_signed_repayments(conn, as_of, loans, since=start + dt.timedelta(days=1))
    flows = flows[_between(flows["paid_date"], lo, hi, "right")]
    cols = ("loan_id", "action_at", "channel", "performed_by", "outcome")
    acts = stg_contact_history(conn, as_of, cols, since=start, loan_ids=loans)
    agencies = set(stg_agencies(conn, ["agency_id"])["agency_id"].astype(str))
    ours = ~acts["performed_by"].astype(str).isin(agencies).to_numpy()
    cost = acts["channel"].map(contact_cost).fillna(0.0).astype(float).to_numpy() * ours
    c = agency_commissions.c
    comm = read_frame(
        conn,
        sa.select(c.loan_id, c.commission).where(
            c.paid_on > start, c.paid_on <= as_of, c.loan_id.in_(loans)
        ),
    )
    parts = [
        pd.DataFrame({"loan_id": flows["loan_id"].astype(str), "repaid": flows["amount"]}),
        pd.DataFrame(
            {
                "loan_id": acts["loan_id"].astype(str),
                "contact_cost": cost,
                "contacts": 1.0,
                "complaints": acts["is_complaint"].astype(float).to_numpy(),
            }
        ),
        pd.DataFrame(
            {
                "loan_id": comm["loan_id"].astype(str),
                "commissions": pd.to_numeric(comm["commission"]).astype(float),
            }
        ),
    ]
    return _per_loan([x.reindex(columns=["loan_id", *OUTCOMES]) for x in parts], cohort["loan_id"])


def _truth_contacts(folder: Path, contact_cost: Mapping[str, float]) -> pd.DataFrame:
    frame = pd.read_parquet(
        folder / "contacts.parquet", columns=["loan_id", "channel", "outcome", "agency"]
    )
    outcome = frame["outcome"]
    if outcome.dtype.kind in "iu":  # outcome codes index the contract's vocabulary
        complaint = outcome.to_numpy() == ACTION_OUTCOMES.index(COMPLAINT_OUTCOME)
    else:
        complaint = outcome.astype(str).to_numpy() == COMPLAINT_OUTCOME
    ours = frame["agency"].fillna(-1).astype("int64").to_numpy() < 0
    cost = frame["channel"].astype(str).map(contact_cost).fillna(0.0).to_numpy(float) * ours
    return pd.DataFrame(
        {"loan_id": frame["loan_id"].astype(str), "contact_cost": cost, "contacts": 1.0,
         "complaints": complaint * 1.0}
    )  # fmt: skip


def truth_outcomes(
    truth_dir: Path, loans: pd.Series, start: dt.date, end: dt.date,
    contact_cost: Mapping[str, float],
) -> pd.DataFrame:  # fmt: skip
    """``loans``' outcomes over (start, end] in one twin world, from its truth folders
    (the same days ``comparison.outcomes.world_outcomes`` reads)."""
    parts = []
    for day in window_days(start, end):
        folder = _day_folder(truth_dir, day)
        paid = _repayments(folder)
        parts += [paid.assign(loan_id=paid["loan_id"].astype(str)),
                  _truth_contacts(folder, contact_cost)]  # fmt: skip
    if not parts:
        parts = [pd.DataFrame(columns=["loan_id"])]
    return _per_loan([x.reindex(columns=["loan_id", *OUTCOMES]) for x in parts], loans)
