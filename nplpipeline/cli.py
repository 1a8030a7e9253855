"""``nplpipeline``: every stage from the command line, without Airflow.

Each command calls the same stage function the Airflow task calls, with the same
settings (``NPL_*`` variables), so a data engineer can rerun or debug one stage for one
date without a scheduler.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import click

from nplpipeline.settings import get_settings


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from None


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """NPL collections pipeline: simulate, ingest, delinquency, summary."""
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
    """Write a simulated portfolio as daily landing-zone drops."""
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
    """Load pending landing-zone drops into the warehouse; non-zero exit if a drop fails."""
    from nplpipeline.ingest.loader import IngestError
    from nplpipeline.ingest.stage import run_ingest
    from nplpipeline.validate.rules import LOAD_ORDER

    chosen = tuple(e for e in LOAD_ORDER if not entities or e in entities)
    unknown = set(entities) - set(LOAD_ORDER)
    if unknown:
        raise click.BadParameter(f"unknown entities: {', '.join(sorted(unknown))}")
    try:
        _echo_json(run_ingest(as_of, chosen))
    except IngestError as exc:
        click.echo(f"ingest failed: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.option("--date", "as_of", required=True, callback=_date)
def delinquency(as_of: dt.date) -> None:
    """Compute the delinquency snapshot for one as-of date (replaces that date)."""
    from nplpipeline.delinquency.stage import run_delinquency_snapshot

    _echo_json(run_delinquency_snapshot(as_of))


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
@click.option("--end-date", default="2026-10-31", show_default=True)
def demo(loans: int, seed: int, end_date: str) -> None:
    """The whole chain through Airflow on a simulated portfolio, then the summary."""
    from nplpipeline.orchestration.airflow_env import airflow_environment

    # Task logs at WARNING keep the summary readable; set the variable to see them all.
    env = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", **os.environ, **airflow_environment()}
    command = [
        sys.executable, "-m", "nplpipeline.orchestration.demo",
        "--loans", str(loans), "--seed", str(seed), "--end-date", end_date,
    ]  # fmt: skip
    sys.exit(subprocess.call(command, env=env))


if __name__ == "__main__":  # pragma: no cover
    main()
