"""The KPI stage: rebuild the star and the KPI marts for one as-of date.

Month-end delinquency snapshots for the trailing year are recomputed in memory by the
delinquency engine (seconds at 1M loans) rather than read back, so roll rates, vintage
curves and the NPL trend never depend on which snapshot dates happened to be stored.
Recovery is measured on the latest *scored* cohort whose window has closed (its tier,
arm and overdue balance on that date; what it repaid in the following window), so the
plan's targets are compared with finished cohorts, not with a window still running.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nplpipeline.act.arms import assign_arms
from nplpipeline.act.placement.config import load_placement_policy
from nplpipeline.act.placement.history import placement_history
from nplpipeline.act.placement.tables import agency_placements
from nplpipeline.delinquency.engine import DelinquencyEngine
from nplpipeline.report import kpis as k
from nplpipeline.report.marts import tables as t
from nplpipeline.report.marts.star import build_dimensions, build_facts
from nplpipeline.report.marts.views import ensure_views
from nplpipeline.schema import ensure_schema
from nplpipeline.score.tables import account_scores
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import begin, create_warehouse_engine
from nplpipeline.warehouse.frames import read_frame, read_raw
from nplpipeline.warehouse.partitions import replace_where

log = logging.getLogger(__name__)

TRAILING_MONTHS = 12
RECOVERY_WINDOW_DAYS = 90

_RAW = {
    "loans": (
        "loan_id",
        "customer_id",
        "product",
        "origination_date",
        "principal_amount",
        "status",
    ),
    "installments": (
        "loan_id",
        "installment_no",
        "due_date",
        "principal_due",
        "interest_due",
        "fee_due",
    ),
    "repayments": (
        "repayment_id",
        "loan_id",
        "paid_at",
        "amount",
        "reversal_of",
        "channel",
        "agency_id",
        "collector_id",
    ),
    "collection_actions": (
        "action_id",
        "loan_id",
        "customer_id",
        "action_at",
        "channel",
        "performed_by",
        "outcome",
        "ptp_amount",
        "ptp_date",
    ),
    "satisfaction": ("survey_id", "customer_id", "surveyed_at", "score", "complaint"),
    "collectors": ("collector_id", "team", "role", "daily_capacity", "active"),
    "agencies": ("agency_id", "name", "commission_rate", "monthly_capacity", "provinces", "active"),
    "customers": ("customer_id", "province"),
}


def month_ends(as_of: dt.date, months: int) -> list[dt.date]:
    """The last ``months`` month ends on or before ``as_of``, oldest first."""
    ends = pd.date_range(end=pd.Timestamp(as_of), periods=months + 1, freq="ME")
    return [d.date() for d in ends if d.date() <= as_of][-months:]


def _kpi_rows(
    frame: pd.DataFrame,
    as_of: dt.date,
    period: str,
    kpi: str,
    num: str,
    den: str,
    value: str,
    unit: str,
    dimension: str = "overall",
) -> pd.DataFrame:
    """Long-form rows for one KPI from a tidy frame (grouped by ``dimension`` or overall)."""
    member = frame[dimension].astype(str) if dimension != "overall" else "all"
    return pd.DataFrame(
        {
            "as_of_date": as_of,
            "period": period,
            "kpi": kpi,
            "dimension": dimension,
            "member": member,
            "numerator": frame[num].astype(float),
            "denominator": frame[den].astype(float),
            "value": frame[value].astype(float),
            "unit": unit,
        }
    )


def _json_number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def _with_segments(
    actions: pd.DataFrame, loans: pd.DataFrame, tiers_today: pd.DataFrame
) -> pd.DataFrame:
    """Actions with their loan's product and today's tier (``unscored`` if not delinquent)."""
    product = loans.drop_duplicates("loan_id").set_index("loan_id")["product"]
    tier = tiers_today.drop_duplicates("loan_id").set_index("loan_id")["tier"]
    out = actions.copy()
    out["product"] = out["loan_id"].map(product).astype("string").fillna("unknown")
    out["tier"] = out["loan_id"].map(tier).astype("string").fillna("unscored")
    return out


def _due_in(actions: pd.DataFrame, start: pd.Timestamp, as_of: dt.date) -> pd.DataFrame:
    """Promises falling due in [start, as_of]: the month's kept rate judges these."""
    due = pd.to_datetime(actions["ptp_date"])
    return actions[(due >= start) & (due <= pd.Timestamp(as_of))]


def _cohort(conn: Connection, as_of: dt.date) -> tuple[pd.DataFrame, dt.date | None, bool]:
    """The latest scored cohort whose recovery window closed by ``as_of`` (else the oldest)."""
    s = account_scores.c
    dates = [r[0] for r in conn.execute(sa.select(s.as_of_date).distinct().order_by(s.as_of_date))]
    dates = [d for d in dates if d <= as_of]
    if not dates:
        return pd.DataFrame(), None, False
    matured = [d for d in dates if d + dt.timedelta(days=RECOVERY_WINDOW_DAYS) <= as_of]
    when = matured[-1] if matured else dates[0]
    cohort = read_frame(
        conn,
        sa.select(
            s.as_of_date, s.loan_id, s.customer_id, s.tier, s.product, s.overdue_amount
        ).where(s.as_of_date == when),
    )
    return cohort, when, bool(matured)


def _recovery(
    cohort: pd.DataFrame, raw: dict[str, pd.DataFrame], as_of: dt.date, policy: Any
) -> pd.DataFrame:
    """Per-account recovery of the cohort, with its (stable) experiment arm."""
    entering = k.snapshot_cohort(cohort)
    accounts = k.account_recoveries(
        entering, raw["repayments"], window_days=RECOVERY_WINDOW_DAYS, cap_at_overdue=True
    )
    arms = assign_arms(accounts["loan_id"], accounts["tier"], policy.strategies)
    return pd.concat([accounts.reset_index(drop=True), arms.reset_index(drop=True)], axis=1)


def _placements(conn: Connection, raw: dict[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    own = read_frame(conn, sa.select(agency_placements))
    history = placement_history(
        own,
        raw["collection_actions"],
        raw["installments"],
        raw["repayments"],
        as_of,
        load_placement_policy().placement_period_days,
    )
    return pd.DataFrame(
        {
            "loan_id": history["loan_id"],
            "agency_id": history["agency_id"],
            "placed_at": history["start_date"],
            "recalled_at": history["end_date"],
            "placed_balance": history["balance_placed"],
        }
    )


def run_kpis(as_of: dt.date, settings: Settings | None = None) -> dict[str, Any]:
    """Rebuild the star for ``as_of`` and every KPI mart that depends on it."""
    settings = settings or get_settings()
    policy = settings.policy
    plan = k.load_plan()
    targets = {"overall": plan.recovery_rate.overall, **plan.recovery_rate.by_tier}
    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            ensure_schema(conn)
            raw = read_raw(conn, _RAW)
            cohort, cohort_date, matured = _cohort(conn, as_of)
            own_placements = _placements(conn, raw, as_of)
            tiers_today = read_frame(
                conn,
                sa.select(account_scores.c.loan_id, account_scores.c.tier).where(
                    account_scores.c.as_of_date == as_of
                ),
            )
        ends = month_ends(as_of, TRAILING_MONTHS + 1)
        dates = sorted({*ends, as_of})
        prepared = DelinquencyEngine(
            raw["loans"], raw["installments"], raw["repayments"], policy.delinquency
        )
        snaps = prepared.snapshots(dates)
        out = _compute(as_of, ends, snaps, raw, cohort, policy, plan, own_placements, tiers_today)
        with begin(engine) as conn:
            counts = build_dimensions(conn, as_of, policy, targets)
            counts.update(build_facts(conn, as_of))
            counts.update(_write(conn, as_of, out, ends, dates))
            ensure_views(conn)
    finally:
        engine.dispose()
    tracking = out["plan_tracking"]
    summary = {
        "as_of": as_of.isoformat(),
        "cohort": cohort_date.isoformat() if cohort_date else None,
        "cohort_window_complete": matured,
        "recovery_vs_target": {  # plain floats or None: this goes to XCom as JSON
            r.tier: [_json_number(r.actual_recovery_rate), _json_number(r.target_recovery_rate)]
            for r in tracking.itertuples()
        },
        "rows": counts,
    }
    log.info("kpis %s: %s", as_of, summary)
    return summary


def _compute(
    as_of: dt.date,
    ends: list[dt.date],
    snaps: pd.DataFrame,
    raw: dict[str, pd.DataFrame],
    cohort: pd.DataFrame,
    policy: Any,
    plan: Any,
    placements: pd.DataFrame,
    tiers_today: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """Every KPI frame, pure (no I/O)."""
    out: dict[str, pd.DataFrame] = {}
    kpi_rows: list[pd.DataFrame] = []

    # NPL trend, roll rates, vintage curves, cure rate (portfolio, from snapshots)
    trend = k.npl_ratio_trend(snaps)
    out["npl_trend"] = trend.rename(columns={"outstanding": "outstanding"})[
        ["as_of_date", "npl_balance", "outstanding", "npl_ratio", "npl_accounts"]
    ]
    rolls = []
    for before, after in itertools.pairwise(ends):
        m = k.roll_rate_matrix(
            snaps[snaps["as_of_date"] == pd.Timestamp(before)],
            snaps[snaps["as_of_date"] == pd.Timestamp(after)],
            buckets=policy.delinquency.bucket_names,
        )
        rolls.append(
            m.assign(month_end=after).rename(columns={"balance_from": "from_balance"})[
                ["month_end", "from_bucket", "to_bucket", "from_balance", "balance", "rate"]
            ]
        )
    out["roll_rates"] = pd.concat(rolls, ignore_index=True) if rolls else pd.DataFrame()
    month_snaps = snaps[snaps["as_of_date"].isin(pd.to_datetime(ends))]
    out["vintage"] = k.vintage_curves(month_snaps, raw["loans"])[
        ["vintage", "months_on_book", "threshold_dpd", "share_balance", "share_count", "loans"]
    ]
    if len(ends) >= 2:
        start = snaps[snaps["as_of_date"] == pd.Timestamp(ends[-2])]
        end = snaps[snaps["as_of_date"] == pd.Timestamp(ends[-1])]
        for dim in ("overall", "product"):
            cure = k.cure_rates(start, end, by=() if dim == "overall" else (dim,))
            kpi_rows.append(
                _kpi_rows(
                    cure,
                    as_of,
                    "month",
                    "cure_rate",
                    "balance_cured",
                    "balance_delinquent",
                    "cure_rate_balance",
                    "ratio",
                    dim,
                )
            )
    kpi_rows.append(
        _kpi_rows(
            trend[trend["as_of_date"] == pd.Timestamp(as_of)],
            as_of,
            "day",
            "npl_ratio",
            "npl_balance",
            "outstanding",
            "npl_ratio",
            "ratio",
        )
    )

    # recovery of the finished cohort: plan tracking, by tier and product, experiment arms
    out["plan_tracking"] = pd.DataFrame(
        columns=[
            "tier",
            "target_recovery_rate",
            "actual_recovery_rate",
            "overdue_at_entry",
            "repaid",
            "accounts",
        ]
    )
    out["uplift"] = pd.DataFrame()
    if not cohort.empty:
        accounts = _recovery(cohort, raw, as_of, policy)
        overall = k.summarise_recoveries(accounts)
        by_tier = k.summarise_recoveries(accounts, by=["tier"])
        targets = {"overall": plan.recovery_rate.overall, **plan.recovery_rate.by_tier}
        tracking = pd.concat([overall.assign(tier="overall"), by_tier], ignore_index=True)
        tracking["target_recovery_rate"] = tracking["tier"].map(targets)
        out["plan_tracking"] = tracking.rename(columns={"recovery_rate": "actual_recovery_rate"})
        for dim, frame in (
            ("overall", overall),
            ("tier", by_tier),
            ("product", k.summarise_recoveries(accounts, by=["product"])),
        ):
            kpi_rows.append(
                _kpi_rows(
                    frame,
                    as_of,
                    "month",
                    "recovery_rate",
                    "repaid",
                    "overdue_at_entry",
                    "recovery_rate",
                    "ratio",
                    dim,
                )
            )
            kpi_rows.append(
                _kpi_rows(
                    frame,
                    as_of,
                    "month",
                    "net_recovery_rate",
                    "net_repaid",
                    "overdue_at_entry",
                    "net_recovery_rate",
                    "ratio",
                    dim,
                )
            )
        uplifts = []
        for arm_a, arm_b in (("champion", "control"), ("challenger", "champion")):
            u = k.incremental_recovery(accounts, arm_a=arm_a, arm_b=arm_b, by=["tier"])
            uplifts.append(u)
        out["uplift"] = pd.concat(uplifts, ignore_index=True)

    # contact, promises, complaints, satisfaction: month to date, overall and by the
    # account's tier today and its product
    month_start = pd.Timestamp(as_of).replace(day=1)
    acts = _with_segments(raw["collection_actions"], raw["loans"], tiers_today)
    at = pd.to_datetime(acts["action_at"])
    mtd = acts[(at >= month_start) & (at < pd.Timestamp(as_of) + pd.Timedelta(days=1))]
    due = _due_in(acts, month_start, as_of)
    for dim in ("overall", "tier", "product"):
        by = () if dim == "overall" else (dim,)
        contact = k.contact_rates(mtd, by=by)
        for frame, kpi, num, den, val, unit in (
            (contact, "right_party_contact_rate", "right_party_contacts", "attempts",
             "rpc_rate", "ratio"),
            (contact, "ptp_rate", "promises", "right_party_contacts", "ptp_rate", "ratio"),
            (k.ptp_kept_rate(due, raw["repayments"], as_of=as_of, by=by), "ptp_kept_rate",
             "promises_kept", "promises_due", "ptp_kept_rate", "ratio"),
            (k.complaint_rate(mtd, raw["satisfaction"], by=by), "complaint_rate", "complaints",
             "accounts_contacted", "complaint_rate", "per_1000"),
        ):  # fmt: skip
            kpi_rows.append(_kpi_rows(frame, as_of, "month", kpi, num, den, val, unit, dim))
    delinquent = snaps[(snaps["as_of_date"] == pd.Timestamp(as_of)) & (snaps["dpd"] > 0)]
    sat = raw["satisfaction"]
    sat_mtd = sat[pd.to_datetime(sat["surveyed_at"]) >= month_start - pd.DateOffset(months=2)]
    csat = k.customer_satisfaction(sat_mtd, delinquent[["customer_id"]].drop_duplicates())
    kpi_rows.append(
        _kpi_rows(
            csat,
            as_of,
            "month",
            "customer_satisfaction",
            "score_sum",
            "surveys",
            "mean_score",
            "score",
        )
    )

    # agencies (trailing year of placements) and collectors (month to date)
    year_ago = pd.Timestamp(as_of) - pd.DateOffset(years=1)
    recent = placements[pd.to_datetime(placements["placed_at"]) >= year_ago]
    liquidation = k.agency_liquidation(recent, raw["repayments"], raw["agencies"])
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    out["agency"] = k.agency_scorecard(
        liquidation, acts, raw["repayments"], start=year_ago, end=end, satisfaction=sat
    )
    kpi_rows.append(
        _kpi_rows(
            liquidation,
            as_of,
            "month",
            "agency_liquidation_rate",
            "collected",
            "placed_balance",
            "liquidation_rate",
            "ratio",
            "agency_id",
        )
    )
    out["collectors"] = {
        level: k.collector_scorecard(
            mtd,
            raw["repayments"],
            raw["collectors"],
            start=month_start,
            end=end,
            satisfaction=sat,
            level=level,
        )
        for level in ("collector", "team")
    }
    out["kpi"] = pd.concat(kpi_rows, ignore_index=True)

    # economics: extra recovery measured as champion-over-control uplift, per month
    extra = 0.0
    if not out["uplift"].empty:
        champ = out["uplift"][(out["uplift"]["arm_a"] == "champion")]
        extra = float(np.nansum(champ["incremental_amount"]))
    monthly = extra / (RECOVERY_WINDOW_DAYS / 30.0)
    econ = plan.economics
    roi = k.roi_payback(econ.investment, monthly, econ.monthly_running_cost)
    out["roi"] = pd.DataFrame(
        {
            "as_of_date": [as_of],
            "investment": [econ.investment],
            "extra_recovery_to_date": [extra],
            "monthly_extra_recovery": [monthly],
            "monthly_cost": [econ.monthly_running_cost],
            "payback_months": roi["payback_months"].to_numpy()[:1],
            "target_payback_months": [econ.payback_months],
            "target_extra_recovery": [econ.extra_recovery],
        }
    )
    return out


def _write(
    conn: Connection, as_of: dt.date, out: dict[str, Any], ends: list[dt.date], dates: list[dt.date]
) -> dict[str, int]:
    n: dict[str, int] = {}
    n[t.kpi.name] = replace_where(conn, t.kpi, t.kpi.c.as_of_date == as_of, out["kpi"])
    n[t.npl_trend.name] = replace_where(
        conn, t.npl_trend, t.npl_trend.c.as_of_date.in_(dates), out["npl_trend"]
    )
    n[t.roll_rates.name] = replace_where(
        conn, t.roll_rates, t.roll_rates.c.month_end.in_(ends[1:]), out["roll_rates"]
    )
    n[t.vintage_curves.name] = replace_where(conn, t.vintage_curves, None, out["vintage"])
    tracking = out["plan_tracking"].assign(as_of_date=as_of)
    n[t.plan_tracking.name] = replace_where(
        conn, t.plan_tracking, t.plan_tracking.c.as_of_date == as_of, tracking
    )
    agency = (
        out["agency"]
        .assign(as_of_date=as_of)
        .rename(
            columns={
                "placed_balance": "balance_placed",
                "commissions": "commission",
                "composite": "score",
            }
        )
    )
    agency["net_recovery"] = agency["collected"] - agency["commission"]
    n[t.agency_scorecard.name] = replace_where(
        conn, t.agency_scorecard, t.agency_scorecard.c.as_of_date == as_of, agency
    )
    frames = []
    for level, frame in out["collectors"].items():
        key = "collector_id" if level == "collector" else "team"
        frames.append(
            frame.assign(
                as_of_date=as_of,
                level=level,
                member=frame[key],
                team=frame["team"],
                accounts_worked=frame["accounts_contacted"],
                recovered_amount=frame["recovered"],
                guardrail_holds=frame["suppressions"],
                score=frame["composite"],
            )
        )
    n[t.collector_scorecard.name] = replace_where(
        conn,
        t.collector_scorecard,
        t.collector_scorecard.c.as_of_date == as_of,
        pd.concat(frames, ignore_index=True),
    )
    uplift = out["uplift"]
    if not uplift.empty:
        uplift = uplift.assign(
            as_of_date=as_of,
            arm=uplift["arm_a"],
            baseline_arm=uplift["arm_b"],
            accounts=uplift["accounts_a"],
            baseline_accounts=uplift["accounts_b"],
            recovery_rate=uplift["rate_a"],
            baseline_rate=uplift["rate_b"],
            uplift=uplift["difference"],
        )
    n[t.experiment_uplift.name] = replace_where(
        conn, t.experiment_uplift, t.experiment_uplift.c.as_of_date == as_of, uplift
    )
    n[t.roi.name] = replace_where(conn, t.roi, t.roi.c.as_of_date == as_of, out["roi"])
    return n
