"""The stage commands: each calls the function its Airflow task calls, same settings.

Every command's help says what it reads and writes; ``cli_common`` says what the exit
codes mean.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from nplpipeline.cli_common import (
    date_option,
    echo_json,
    parse_date,
    progress,
    run_stage,
    shard_option,
)


@click.command()
@date_option("Train as of this date: the window ends at the last matured month-end.")
@click.option("--months", type=click.IntRange(3, 60), default=18, show_default=True)
def train(as_of: dt.date, months: int) -> None:
    """Build features for each training month-end, train, register, maybe promote.

    Reads int_delinquency_snapshot and the raw_* tables; writes int_features (one
    partition per month-end) and a new version of the MLflow model npl_recovery_model
    (alias challenger; champion if it passes the promotion gate).
    """
    from nplpipeline.features.stage import run_build_features
    from nplpipeline.features.window import training_month_ends
    from nplpipeline.model.stage import run_training

    dates = training_month_ends(as_of, months)
    for month_end in progress(dates, "features"):
        run_stage("features", lambda d=month_end: run_build_features([d]))
    result = run_stage("train", lambda: run_training(dates[0], dates[-1], as_of=as_of))
    echo_json({k: result[k] for k in ("model", "version", "chosen", "promoted", "oot")})


@click.command(name="drop-status")
@date_option("The day whose landing drop to look for.")
def drop_status(as_of: dt.date) -> None:
    """Whether the day's drop has arrived (its completion marker); exit 75 if not yet.

    Reads <landing>/_complete/<date> (nothing to wait for with NPL_SOURCE_URL); writes
    nothing. npl_ingest's wait_for_drop sensor asks the same question.
    """
    import sys

    from nplpipeline.cli_common import EXIT_TRANSIENT
    from nplpipeline.ingest.arrival import drop_status as status

    result = status(as_of)
    echo_json(result)
    if not result["arrived"]:
        sys.exit(EXIT_TRANSIENT)


@click.command()
@date_option()
@shard_option()
def score(as_of: dt.date, shard: Any) -> None:
    """Score every delinquent account with the champion model and set its tier.

    Reads int_delinquency_snapshot, the raw_* tables and the MLflow model's champion;
    writes the date's int_features and int_account_scores. No champion: exit 1.
    """
    from nplpipeline.score.stage import run_scoring

    echo_json(run_stage("score", lambda: run_scoring(as_of, shard=shard)))


@click.command()
@date_option()
def monitor(as_of: dt.date) -> None:
    """Compare today's scores and features with the champion's training sample (PSI, AUC).

    Reads int_delinquency_snapshot, int_features and the champion model; writes
    ops_model_monitoring. Any subject in alert: the figures are stored, then exit 1.
    """
    from nplpipeline.model.monitoring_stage import run_monitoring
    from nplpipeline.orchestration.errors import check_drift

    summary = run_stage("monitor", lambda: run_monitoring(as_of))
    echo_json(summary)
    run_stage("monitor", lambda: check_drift(summary))


@click.command()
@date_option()
@shard_option()
def plan(as_of: dt.date, shard: Any) -> None:
    """Plan each scored account's treatment: arm, strategy step, offer, legal readiness.

    Reads int_account_scores and int_delinquency_snapshot; writes act_treatment_plan.
    """
    from nplpipeline.act.stage import run_treatment_plan

    echo_json(run_stage("plan", lambda: run_treatment_plan(as_of, shard=shard)))


@click.command()
@date_option()
def place(as_of: dt.date) -> None:
    """Recall and allocate accounts to collection agencies, and their commissions.

    Reads act_treatment_plan, raw_agencies and earlier placements; writes
    act_agency_placements, act_agency_commissions and <outbox>/agencies/<id>/<date>/.
    """
    from nplpipeline.act.placement.stage import run_placements

    echo_json(run_stage("place", lambda: run_placements(as_of)))


@click.command()
@date_option()
def worklists(as_of: dt.date) -> None:
    """Turn planned contacts into worklists that pass the fair-collection guardrails.

    Reads act_treatment_plan, act_agency_placements, raw_collection_actions and
    raw_collectors; writes act_worklist and act_suppression_log.
    """
    from nplpipeline.act.stage import run_worklists

    echo_json(run_stage("worklists", lambda: run_worklists(as_of)))


@click.command()
@date_option()
def deliver(as_of: dt.date) -> None:
    """Export the worklist bundle to the outbox and push it to the CRM exactly once.

    Reads act_worklist; writes <outbox>/crm/<date>/ (CSV, Parquet, manifest) and
    act_crm_delivery_ledger, and sends unacknowledged batches to NPL_CRM_URL (or the
    npl_crm connection). A rejected batch (4xx): exit 1; a CRM outage: exit 75.
    """
    from nplpipeline.act.delivery.stage import run_crm_delivery

    echo_json(run_stage("deliver", lambda: run_crm_delivery(as_of)))


@click.command()
@date_option()
def kpis(as_of: dt.date) -> None:
    """Rebuild the star schema and every KPI mart for one date.

    Reads the snapshot, scores, plans, worklists, placements and raw_* tables; writes
    dim_*, fact_account_day, fact_action and the mart_* tables for the date.
    """
    from nplpipeline.report.marts.stage import run_kpis

    echo_json(run_stage("kpis", lambda: run_kpis(as_of)))


@click.command(name="nba-comparison")
@date_option("Measure the window's outcomes up to and including this date (D).")
@click.option(
    "--start", default=None, callback=parse_date,
    help="Cohort date S [default: the first plan date before D with an nba-arm account].",
)  # fmt: skip
@click.option(
    "--twin", is_flag=True,
    help="Also pair the nba arm's loans with the lender twin's status-quo world "
    "(dev/demo: the worlds' truth under $NPL_HOME/twin and NPL_GROUND_TRUTH_DIR).",
)  # fmt: skip
def nba_comparison(as_of: dt.date, start: dt.date | None, twin: bool) -> None:
    """The learned policy's arm against the static arm (and the status quo) over (S, D].

    Reads act_treatment_plan (policy_arm), raw_repayments, raw_collection_actions,
    raw_agencies and act_agency_commissions as known on D (with --twin also the twin's
    truth folders); writes D's rows of mart_nba_comparison. Without an nba arm it
    writes nothing and says so (nba_accounts 0).
    """
    from nplpipeline.report.nba.stage import run_nba_comparison, run_nba_status_quo

    out = {"static": run_stage("nba comparison", lambda: run_nba_comparison(as_of, start=start))}
    if twin:
        from nplpipeline.orchestration.live import worlds
        from nplpipeline.settings import get_settings

        truth = {name: w.truth_dir for name, w in worlds(get_settings()).items()}
        out["status_quo"] = run_stage(
            "nba comparison (twin)", lambda: run_nba_status_quo(as_of, truth, start=start)
        )
    echo_json(out)


def _daily_stages() -> dict[str, Any]:
    """The daily chain after ingest, in the order the DAGs run it."""
    from nplpipeline.act.delivery.stage import run_crm_delivery
    from nplpipeline.act.placement.stage import run_placements
    from nplpipeline.act.stage import run_treatment_plan, run_worklists
    from nplpipeline.delinquency.stage import run_delinquency_snapshot
    from nplpipeline.ingest.stage import run_ingest
    from nplpipeline.model.monitoring_stage import run_monitoring
    from nplpipeline.report.marts.stage import run_kpis
    from nplpipeline.score.stage import run_scoring

    return {
        "ingest": run_ingest,
        "delinquency": run_delinquency_snapshot,
        "score": run_scoring,
        "monitor": run_monitoring,
        "plan": run_treatment_plan,
        "place": run_placements,
        "worklists": run_worklists,
        "deliver": run_crm_delivery,
        "kpis": run_kpis,
    }


DAILY_STAGES = (
    "ingest",
    "delinquency",
    "score",
    "monitor",
    "plan",
    "place",
    "worklists",
    "deliver",
    "kpis",
)
DEFAULT_BACKFILL = ("delinquency", "score", "plan", "place", "worklists", "deliver", "kpis")


def backfill_dates(start: dt.date, end: dt.date, step: str) -> list[dt.date]:
    """Every day, or every month-end, from ``start`` to ``end`` inclusive."""
    if end < start:
        raise click.BadParameter(f"--end {end} is before --start {start}")
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    if step == "month-end":
        days = [d for d in days if (d + dt.timedelta(days=1)).day == 1]
    return days


@click.command()
@click.option("--start", required=True, callback=parse_date, help="First date (YYYY-MM-DD).")
@click.option("--end", required=True, callback=parse_date, help="Last date, inclusive.")
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(DAILY_STAGES),
    help=f"Stages to run, in chain order (repeatable; default: {', '.join(DEFAULT_BACKFILL)}).",
)
@click.option("--step", type=click.Choice(["day", "month-end"]), default="day", show_default=True)
def backfill(start: dt.date, end: dt.date, stages: tuple[str, ...], step: str) -> None:
    """Run the daily stages for every date of a range, oldest first.

    Reads and writes what each chosen stage does (see their --help); every stage
    replaces its date's rows, so rerunning a range is safe. Stops at the first failure
    with that stage's exit code; monitoring alerts are reported, not fatal.
    """
    chosen = [s for s in DAILY_STAGES if s in (stages or DEFAULT_BACKFILL)]
    runners = _daily_stages()
    dates = backfill_dates(start, end, step)
    alerts: list[str] = []
    for as_of in progress(dates, "backfill"):
        for name in chosen:
            result = run_stage(f"{name} {as_of}", lambda n=name, d=as_of: runners[n](d))
            if name == "monitor" and result.get("status") == "alert":
                alerts.append(as_of.isoformat())
    echo_json({"dates": len(dates), "stages": chosen, "drift_alerts_on": alerts})


COMMANDS = (
    drop_status, train, score, monitor, plan, place, worklists, deliver, kpis, nba_comparison,
    backfill,
)  # fmt: skip
