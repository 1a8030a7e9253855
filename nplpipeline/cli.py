"""``nplpipeline``: every stage from the command line, without Airflow.

Each command calls the same stage function the Airflow task calls, with the same
settings (``NPL_*`` variables), so a data engineer can rerun or debug one stage for one
date without a scheduler.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from nplpipeline.cli_common import EXIT_PERMANENT, echo_json, run_stage, shard_option
from nplpipeline.cli_common import parse_date as _date
from nplpipeline.cli_stages import COMMANDS as STAGE_COMMANDS
from nplpipeline.cli_twin import twin as twin_command
from nplpipeline.cli_uplift import uplift as uplift_command
from nplpipeline.settings import get_settings

_echo_json = echo_json


class _StageOrder(click.Group):
    """List commands in the order the pipeline runs them, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_StageOrder)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """NPL collections pipeline: every stage, without Airflow.

    \b
    Stages, in chain order:
      simulate -> ingest -> delinquency -> train -> score -> monitor
      -> plan -> place -> worklists -> deliver -> kpis
    plus backfill (a date range), retention, summary, settings, airflow and demo.

    Each stage command calls the function its Airflow task calls, with the same NPL_*
    settings. Exit codes: 0 ok, 1 permanent failure (no retry would help), 75
    transient failure (retry later), 2 usage error.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.option("--loans", type=click.IntRange(min=1), default=20_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Landing zone to write (default: NPL_LANDING_DIR).",
)
@click.option(
    "--truth-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Ground-truth folder (default: NPL_GROUND_TRUTH_DIR, or <out>/../ground_truth).",
)
@click.option("--end-date", default="2026-10-31", show_default=True, callback=_date)
@click.option("--dirty-share", type=click.FloatRange(0, 0.5), default=0.005, show_default=True)
@click.option(
    "--format", "file_format", type=click.Choice(["csv", "csv.gz", "parquet"]), default="csv"
)
def simulate(
    loans: int,
    seed: int,
    out: Path | None,
    truth_dir: Path | None,
    end_date: dt.date,
    dirty_share: float,
    file_format: str,
) -> None:
    """Write a simulated portfolio as daily landing-zone drops.

    Reads nothing; writes <landing>/<entity>/<date>/ drops of all eight entities and the
    simulator's answers in the ground-truth folder (never read by the pipeline).
    """
    if out is not None:
        os.environ["NPL_LANDING_DIR"] = str(out)
        if truth_dir is None and not os.environ.get("NPL_GROUND_TRUTH_DIR"):
            truth_dir = out.parent / "ground_truth"
    if truth_dir is not None:
        os.environ["NPL_GROUND_TRUTH_DIR"] = str(truth_dir)
    from nplpipeline.simulate.stage import run_simulation

    summary = run_simulation(
        loans=loans,
        seed=seed,
        end_date=end_date,
        dirty_share=dirty_share,
        file_format=file_format,
        progress=sys.stderr.isatty(),
    )
    _echo_json(summary)


@main.command()
@click.option("--date", "as_of", required=True, callback=_date, help="Load drops up to here.")
@click.option("--entity", "entities", multiple=True, help="Only these entities (repeatable).")
def ingest(as_of: dt.date, entities: tuple[str, ...]) -> None:
    """Load pending landing-zone drops into the warehouse; exit 1 if a drop is rejected.

    Reads <landing>/<entity>/<date>/ drops up to --date (or NPL_SOURCE_URL); writes the
    raw_* tables, ops_quarantine, ops_load_audit, ops_dq_results and GX Data Docs.
    """
    from nplpipeline.contract import LOAD_ORDER
    from nplpipeline.ingest.loader import IngestError
    from nplpipeline.ingest.stage import run_ingest

    chosen = tuple(e for e in LOAD_ORDER if not entities or e in entities)
    unknown = set(entities) - set(LOAD_ORDER)
    if unknown:
        raise click.BadParameter(f"unknown entities: {', '.join(sorted(unknown))}")
    try:
        _echo_json(run_ingest(as_of, chosen))
    except IngestError as exc:
        click.echo(f"ingest failed: {exc}", err=True)
        sys.exit(EXIT_PERMANENT)


@main.command()
@click.option("--date", "as_of", required=True, callback=_date)
@shard_option()
def delinquency(as_of: dt.date, shard: Any) -> None:
    """Compute the delinquency snapshot for one as-of date (replaces that date).

    Reads raw_loans, raw_installments and raw_repayments; writes the date's partition
    of int_delinquency_snapshot.
    """
    from nplpipeline.delinquency.stage import run_delinquency_snapshot

    _echo_json(run_stage("delinquency", lambda: run_delinquency_snapshot(as_of, shard=shard)))


for _command in STAGE_COMMANDS:
    main.add_command(_command)
main.add_command(twin_command)
main.add_command(uplift_command)


@main.command()
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    help="Results kept per suite (default: NPL_GX_KEEP_RESULTS, 30).",
)
def retention(keep: int | None) -> None:
    """Prune Great Expectations validation results and Data Docs, newest N per suite.

    Reads and writes the GX project in NPL_GX_DIR: deletes older validation results
    and their Data Docs pages, then rebuilds the docs index. ops_dq_results is kept.
    """
    from nplpipeline.validate.retention import prune_validations

    settings = get_settings()
    count = keep or settings.gx_keep_results
    _echo_json(run_stage("retention", lambda: prune_validations(settings.gx_dir, count).as_dict()))


@main.command()
def summary() -> None:
    """Print what was loaded and the latest delinquency picture."""
    from nplpipeline.report.summary import collect_summary, format_summary

    click.echo(format_summary(collect_summary()))


@main.command(name="settings")
def show_settings() -> None:
    """Show where every system points (passwords masked)."""
    _echo_json(get_settings().describe())


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def airflow(args: tuple[str, ...]) -> None:
    """Run the `airflow` CLI against the project-local Airflow (e.g. `airflow standalone`)."""
    from nplpipeline.orchestration.airflow_env import airflow_environment

    bin_dir = Path(sys.executable).parent
    # `airflow standalone` starts its components as `airflow ...` from PATH.
    env = {
        **os.environ,
        **airflow_environment(),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    sys.exit(subprocess.call([str(bin_dir / "airflow"), *args], env=env))


@main.command()
@click.option("--loans", type=click.IntRange(min=1), default=20_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=None,
    help="Live days after the warm-up [default: the demo's, about 10 minutes at 20k loans].",
)
@click.option("--start-date", default="2026-10-31", show_default=True, callback=_date)
def demo(loans: int, seed: int, days: int | None, start_date: dt.date) -> None:
    """A live run through Airflow: twin warm-up, N days of twin <-> pipeline, the summary.

    A second twin world runs the lender's status quo policy on the same seed; the
    summary compares both (mart_policy_comparison).
    """
    from nplpipeline.orchestration.airflow_env import airflow_environment

    # Task logs at WARNING keep the summary readable; set the variable to see them all.
    env = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", **os.environ, **airflow_environment()}
    command = [
        sys.executable, "-m", "nplpipeline.orchestration.demo",
        "--loans", str(loans), "--seed", str(seed), "--start-date", start_date.isoformat(),
        *(["--days", str(days)] if days is not None else []),
    ]  # fmt: skip
    sys.exit(subprocess.call(command, env=env))


if __name__ == "__main__":  # pragma: no cover
    main()
