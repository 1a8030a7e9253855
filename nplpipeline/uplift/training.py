"""The uplift training table: logged decisions, their covariates and net outcomes.

One row per (decision date D, account) for the plan dates on the policy's cadence whose
horizon has closed by the as-of date A (D + horizon <= A), so a table built on A only
holds what was known on A and a rerun on A rebuilds it byte for byte:

* the decision: the arm (``act_treatment_plan``) and the tier it was drawn in
  (``act_experiment_arms``); its treatment and every treatment's known propensity
  (``treatments.propensities``) -- randomised decisions only: an nba-arm row whose
  treatment the learned policy chose (not exploring) is left out (``randomised``);
* covariates as of D: ``int_features`` (numeric) and the score of D;
* the outcome over (D, D + horizon]: repaid net of reversals (staging), minus the cost
  of each contact the CRM performed (``contact_cost``; agencies' own contacts are paid
  by commission), minus agency commissions net of claw-backs.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nplpipeline.act.arms import NBA_ARM, STATIC_ARM
from nplpipeline.act.placement.tables import agency_commissions
from nplpipeline.act.tables import experiment_arms, treatment_plan
from nplpipeline.config.strategy import StrategyPolicy
from nplpipeline.features.schema import NUMERIC_FEATURES
from nplpipeline.features.tables import int_features
from nplpipeline.staging import stg_agencies, stg_contact_history, stg_signed_repayments
from nplpipeline.uplift.config import UpliftPolicy
from nplpipeline.uplift.tables import nba_decisions
from nplpipeline.uplift.treatments import propensities
from nplpipeline.warehouse.frames import read_frame

KEY = ["as_of_date", "loan_id"]
SCORE_COVARIATES = ("recovery_probability",)
PROPENSITY_PREFIX = "p_"
TIER_COLUMNS = ("mild", "severe", "extremely_severe")


def decision_dates(conn: sa.Connection, as_of: dt.date, uplift: UpliftPolicy) -> list[dt.date]:
    """Plan dates on the cadence whose horizon closed by ``as_of``."""
    # +1: contacts of D + horizon arrive with the next day's drop
    last = as_of - dt.timedelta(days=uplift.horizon_days + 1)
    p = treatment_plan.c
    rows = conn.execute(sa.select(p.as_of_date).where(p.as_of_date <= last).distinct()).all()
    dates = sorted(pd.Timestamp(r[0]).date() for r in rows)
    return [d for d in dates if d.toordinal() % uplift.decision_every_days == 0]


def _decisions(conn: sa.Connection, dates: list[dt.date]) -> pd.DataFrame:
    p, a, n = treatment_plan.c, experiment_arms.c, nba_decisions.c
    query = (
        sa.select(
            p.as_of_date,
            p.loan_id,
            p.tier,
            p.strategy_arm,
            p.strategy_name,
            p.legal_ready,
            p.recovery_probability,
            p.model_version,
            p.policy_arm,
            p.nba_policy_version,
            a.assigned_tier,
            n.nba_explore,
        )
        .join(experiment_arms, a.loan_id == p.loan_id)
        .outerjoin(nba_decisions, sa.and_(n.as_of_date == p.as_of_date, n.loan_id == p.loan_id))
        .where(p.as_of_date.in_(dates), a.assigned_on <= p.as_of_date)
    )
    return randomised(read_frame(conn, query))


def randomised(rows: pd.DataFrame) -> pd.DataFrame:
    """The decisions whose treatment was drawn at known propensities: every static-arm
    row, and the nba arm's rows where no policy existed yet or its explore share kept
    the base arm's draw. A treatment the learned policy chose has no known propensity
    (it depends on the policy's estimates), so those rows are left out."""
    nba = (rows["policy_arm"].fillna(STATIC_ARM) == NBA_ARM).to_numpy()
    chosen = rows["nba_policy_version"].notna().to_numpy()
    explored = rows["nba_explore"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    keep = ~(nba & chosen & ~explored)
    out = rows[keep].drop(columns=["nba_explore"])
    return out.assign(policy_arm=out["policy_arm"].fillna(STATIC_ARM))


def _covariates(conn: sa.Connection, dates: list[dt.date]) -> pd.DataFrame:
    f = int_features.c
    cols = [f.as_of_date, f.loan_id, *(f[c] for c in NUMERIC_FEATURES)]
    return read_frame(conn, sa.select(*cols).where(f.as_of_date.in_(dates)))


def _window_sums(
    events: pd.DataFrame, day_col: str, value_col: str, dates: list[dt.date], horizon: int
) -> pd.DataFrame:
    """Sum of ``value_col`` per loan over (D, D + horizon] for each D (a loop over the
    few decision dates, never over accounts)."""
    days = pd.to_datetime(events[day_col]).dt.normalize()
    parts = []
    for d in dates:
        lo, hi = pd.Timestamp(d), pd.Timestamp(d + dt.timedelta(days=horizon))
        mine = events[(days > lo).to_numpy() & (days <= hi).to_numpy()]
        s = mine.groupby("loan_id")[value_col].sum()
        parts.append(pd.DataFrame({"as_of_date": lo, "loan_id": s.index, value_col: s.values}))
    if not parts:
        return pd.DataFrame(columns=[*KEY, value_col])
    return pd.concat(parts, ignore_index=True)


def _outcomes(
    conn: sa.Connection, dates: list[dt.date], as_of: dt.date, uplift: UpliftPolicy
) -> pd.DataFrame:
    since = min(dates)
    h = uplift.horizon_days
    flows = stg_signed_repayments(conn, as_of, since=since)
    repaid = _window_sums(flows, "paid_date", "amount", dates, h)
    repaid = repaid.rename(columns={"amount": "repaid"})
    contacts = stg_contact_history(
        conn, as_of, ("loan_id", "action_at", "channel", "performed_by"), since=since,
        vocabulary=False,
    )  # fmt: skip
    agencies = set(stg_agencies(conn, ["agency_id"])["agency_id"].astype(str))
    ours = contacts[~contacts["performed_by"].astype(str).isin(agencies).to_numpy()]
    cost = ours["channel"].map(uplift.contact_cost).fillna(0.0).astype(float)
    cost_rows = ours.assign(contact_cost=cost.to_numpy())
    costs = _window_sums(cost_rows, "action_at", "contact_cost", dates, h)
    c = agency_commissions.c
    comm = read_frame(
        conn,
        sa.select(c.loan_id, c.paid_on, c.commission).where(c.paid_on > since, c.paid_on <= as_of),
    )
    commissions = _window_sums(comm, "paid_on", "commission", dates, h)
    out = repaid.merge(costs, on=KEY, how="outer").merge(commissions, on=KEY, how="outer")
    return out.rename(columns={"commission": "commissions"})


def build_training_table(
    conn: sa.Connection, as_of: dt.date, policy: StrategyPolicy, uplift: UpliftPolicy
) -> pd.DataFrame:
    """The training table known on ``as_of`` (empty when no horizon has closed yet)."""
    dates = decision_dates(conn, as_of, uplift)
    if not dates:
        return pd.DataFrame()
    rows = _decisions(conn, dates)
    rows["as_of_date"] = pd.to_datetime(rows["as_of_date"])
    rows = rows.merge(
        _covariates(conn, dates).assign(as_of_date=lambda f: pd.to_datetime(f["as_of_date"])),
        on=KEY,
        how="inner",
    )
    treatment, prob = propensities(rows, policy, uplift)
    rows["treatment"] = treatment.to_numpy()
    for name in prob.columns:
        rows[PROPENSITY_PREFIX + name] = prob[name].to_numpy()
    rows["propensity"] = prob.to_numpy()[
        np.arange(len(rows)), prob.columns.get_indexer(treatment.to_numpy())
    ]
    out = _outcomes(conn, dates, as_of, uplift)
    out["as_of_date"] = pd.to_datetime(out["as_of_date"])
    rows = rows.merge(out, on=KEY, how="left")
    for col in ("repaid", "contact_cost", "commissions"):
        rows[col] = rows[col].fillna(0.0).astype(float)
    rows["net_recovery"] = rows["repaid"] - rows["contact_cost"] - rows["commissions"]
    rows["horizon_days"] = uplift.horizon_days
    return rows.sort_values(KEY, kind="stable").reset_index(drop=True)


def covariate_columns() -> list[str]:
    """The covariates the learners read (tier enters through its one-hot columns)."""
    tiers = [f"tier_{t}" for t in TIER_COLUMNS]
    return [*SCORE_COVARIATES, *NUMERIC_FEATURES, *tiers]


def design_matrix(rows: pd.DataFrame) -> np.ndarray:
    """Covariates as a float matrix (missing values stay NaN: the boosting handles them)."""
    x = rows.reindex(columns=[*SCORE_COVARIATES, *NUMERIC_FEATURES]).astype(float)
    for tier in TIER_COLUMNS:
        x[f"tier_{tier}"] = (rows["tier"] == tier).astype(float).to_numpy()
    return x[covariate_columns()].to_numpy(dtype=float)
