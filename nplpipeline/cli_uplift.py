"""``nplpipeline uplift``: next-best-action from the randomised arms (issue #15)."""

from __future__ import annotations

import datetime as dt

import click

from nplpipeline.cli_common import date_option, echo_json, run_stage
from nplpipeline.warehouse.engine import transaction


@click.group()
def uplift() -> None:
    """Learn which treatment each account should get from the logged experiment arms.

    \b
    table  -- the training table known on --date (decisions, propensities, net outcomes)
    train  -- fit, evaluate out of time (IPS/DR, Qini), gate, log to MLflow
    decide -- the learned policy's choice per planned account (act_nba_decisions)
    Policy: NPL_UPLIFT_POLICY (default config/policies/uplift.yaml).
    """


@uplift.command()
@date_option("As-of date A: decisions whose horizon closed by A.")
def table(as_of: dt.date) -> None:
    """Build the training table and print its counts (the file: $NPL_HOME/uplift/)."""

    def build() -> dict[str, object]:
        from nplpipeline.settings import get_settings
        from nplpipeline.uplift.config import load_uplift_policy
        from nplpipeline.uplift.stage import uplift_dir
        from nplpipeline.uplift.training import build_training_table

        settings, policy = get_settings(), load_uplift_policy()
        with transaction(settings.warehouse_url) as conn:
            rows = build_training_table(conn, as_of, settings.policy.strategies, policy)
        folder = uplift_dir(settings) / "training"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{as_of.isoformat()}.parquet"
        rows.to_parquet(path, index=False)
        counts = rows["treatment"].value_counts() if len(rows) else {}
        return {"rows": len(rows), "by_treatment": {str(k): int(v) for k, v in counts.items()},
                "file": str(path)}  # fmt: skip

    echo_json(run_stage("uplift table", build))


@uplift.command()
@date_option("As-of date A: train on decisions whose horizon closed by A.")
def train(as_of: dt.date) -> None:
    """Fit the learners, evaluate the learned policy out of time and gate it."""
    from nplpipeline.uplift.stage import run_uplift_training

    echo_json(run_stage("uplift train", lambda: run_uplift_training(as_of)))


@uplift.command()
@date_option("Decision date D (the treatment plan of D must exist).")
@click.option(
    "--challenger/--promoted",
    default=True,
    show_default=True,
    help="The latest policy trained by D (what the nba arm runs), or the latest promoted one.",
)
def decide(as_of: dt.date, challenger: bool) -> None:
    """Recompute the learned policy's decisions for the nba arm's accounts planned on D
    (the plan step writes them; the policy is the one selected as of D)."""
    from nplpipeline.uplift.stage import run_nba_decisions

    echo_json(run_stage("uplift decide", lambda: run_nba_decisions(as_of, challenger=challenger)))
