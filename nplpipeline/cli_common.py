"""What every stage command shares: date options, JSON output and exit codes.

Exit codes follow the Airflow tasks' outcomes, so a wrapper script (cron, a CI job, a
backfill loop) can tell them apart the way the scheduler does:

- 0: the stage succeeded;
- 1: a permanent failure (the task fails without retries: a rejected drop, no champion,
  a CRM 4xx, a drift alert); rerunning the same inputs fails the same way;
- 75 (``EX_TEMPFAIL``): a transient failure the task would retry (a locked warehouse,
  a CRM outage); rerun later;
- 2: a usage error (bad option), from click.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

EXIT_PERMANENT = 1
EXIT_TRANSIENT = 75

T = TypeVar("T")


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from None


def date_option(help_text: str = "The as-of date (YYYY-MM-DD).") -> Callable[[T], T]:
    return click.option("--date", "as_of", required=True, callback=parse_date, help=help_text)


def _parse_shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from nplpipeline.warehouse.shards import Shard

    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc} (expected k/K, e.g. 0/4)") from None


def shard_option() -> Callable[[T], T]:
    """``--shard k/K``: only the loans of shard k of K (what one mapped task does)."""
    return click.option(
        "--shard",
        default=None,
        callback=_parse_shard,
        help="Only shard k of K (e.g. 0/4), replacing only that shard's rows; default all.",
    )


def echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def exit_code(exc: BaseException) -> int:
    from nplpipeline.orchestration.errors import is_permanent

    return EXIT_PERMANENT if is_permanent(exc) else EXIT_TRANSIENT


def run_stage(name: str, stage: Callable[[], Any]) -> Any:
    """Run one stage; on failure print its (row-value-free) message and exit as a task would."""
    try:
        return stage()
    except (click.exceptions.Exit, click.ClickException):
        raise
    except Exception as exc:
        code = exit_code(exc)
        kind = "permanent" if code == EXIT_PERMANENT else "transient, retry later"
        click.echo(f"{name} failed ({kind}): {type(exc).__name__}: {exc}", err=True)
        sys.exit(code)


def progress(items: list[T], label: str) -> Any:
    """A tqdm bar on stderr for long commands (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="step", disable=not sys.stderr.isatty(), file=sys.stderr)
