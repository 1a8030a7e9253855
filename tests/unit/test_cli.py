"""The command line: every stage is there, says what it reads and writes, and exits
with the codes the Airflow tasks' outcomes map to."""

from __future__ import annotations

import datetime as dt

import click
import pytest
from click.testing import CliRunner

from nplpipeline.cli import main
from nplpipeline.cli_common import EXIT_PERMANENT, EXIT_TRANSIENT, run_stage
from nplpipeline.cli_stages import backfill_dates

STAGES = (
    "simulate",
    "ingest",
    "delinquency",
    "train",
    "score",
    "monitor",
    "plan",
    "place",
    "worklists",
    "deliver",
    "kpis",
    "nba-comparison",
    "backfill",
    "retention",
)


def test_top_level_help_lists_every_stage_in_chain_order() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert [c for c in listed if c in STAGES] == list(STAGES)


@pytest.mark.parametrize("command", [c for c in STAGES if c != "backfill"])
def test_each_stage_says_what_it_reads_and_writes(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split()).lower()
    assert "reads" in text and "writes" in text, command


def test_a_bad_date_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["score", "--date", "31/10/2026"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


class _RejectedError(Exception):
    permanent = True


def _exit_code_of(error: Exception) -> int:
    def failing() -> None:
        raise error

    @click.command()
    def command() -> None:
        run_stage("stage", failing)

    result = CliRunner().invoke(command, [])
    assert "stage failed" in result.output
    return result.exit_code


def test_permanent_failures_exit_1_and_transient_ones_75() -> None:
    from nplpipeline.ingest.loader import IngestError
    from nplpipeline.model.registry import NoChampionError

    assert _exit_code_of(_RejectedError("4xx")) == EXIT_PERMANENT
    assert _exit_code_of(IngestError("loans", {"loans/x.csv": "bad header"})) == EXIT_PERMANENT
    assert _exit_code_of(NoChampionError("none")) == EXIT_PERMANENT
    assert _exit_code_of(ConnectionError("warehouse locked")) == EXIT_TRANSIENT


def test_backfill_dates_cover_the_range_by_day_or_month_end() -> None:
    days = backfill_dates(dt.date(2026, 1, 30), dt.date(2026, 3, 1), "day")
    assert days[0] == dt.date(2026, 1, 30) and days[-1] == dt.date(2026, 3, 1)
    assert len(days) == 31
    month_ends = backfill_dates(dt.date(2026, 1, 1), dt.date(2026, 4, 15), "month-end")
    assert month_ends == [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31)]
    with pytest.raises(click.BadParameter):
        backfill_dates(dt.date(2026, 2, 1), dt.date(2026, 1, 1), "day")
