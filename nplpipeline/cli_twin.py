"""``nplpipeline twin``: the lender twin (dev/demo only), the commands its DAG task calls."""

from __future__ import annotations

import datetime as dt

import click

from nplpipeline.cli_common import echo_json, parse_date, run_stage


@click.group()
def twin() -> None:
    """The lender twin: a simulated lender whose tomorrow follows the pipeline's decisions.

    warm-up writes the history up to --start-date; step turns one day's decisions into
    the drops of the next day. State: NPL_TWIN_DIR (default var/twin), never read by the
    pipeline; drops: NPL_LANDING_DIR; truth: NPL_GROUND_TRUTH_DIR.
    """


@twin.command(name="warm-up")
@click.option("--loans", type=click.IntRange(min=1), default=20_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--start-date", default="2026-10-31", show_default=True, callback=parse_date)
@click.option("--history-days", type=click.IntRange(min=60), default=730, show_default=True)
@click.option("--dirty-share", type=click.FloatRange(0, 0.5), default=0.005, show_default=True)
@click.option(
    "--format", "file_format", type=click.Choice(["csv", "csv.gz", "parquet"]), default="csv"
)
def warm_up(
    loans: int,
    seed: int,
    start_date: dt.date,
    history_days: int,
    dirty_share: float,
    file_format: str,
) -> None:
    """Write the history drops up to --start-date and the twin's state after it."""
    from nplpipeline.simulate.twin.stage import run_twin_warm_up

    echo_json(
        run_stage(
            "twin warm-up",
            lambda: run_twin_warm_up(
                loans, seed, start_date, history_days, dirty_share, file_format
            ),
        )
    )


@twin.command()
@click.option("--as-of", "as_of", required=True, callback=parse_date, help="Decision date D.")
@click.option(
    "--policy",
    type=click.Choice(["pipeline", "status_quo"]),
    default="pipeline",
    show_default=True,
    help="Whose decisions drive the day: what the CRM/agencies received, or the status quo.",
)
def step(as_of: dt.date, policy: str) -> None:
    """Step the twin through D's decisions; writes the drops dated D + 1.

    Reads the stand-in CRM's state file (else the outbox bundle crm/D) and the agency
    bundles agencies/*/D; writes <landing>/<entity>/<D+1>/ and the twin's truth.
    """
    from nplpipeline.simulate.twin.stage import run_twin_day

    echo_json(run_stage("twin step", lambda: run_twin_day(as_of, policy)))  # type: ignore[arg-type]
