"""The recovery model against the best achievable: simulator ground truth as an oracle.

Simulates a portfolio, runs ingest, builds features for 18 month-ends, trains and
registers through the same stage the DAG uses, then scores both models the run logged
(scorecard and boosted), the champion, and the simulator's true recovery probabilities
on the same out-of-time test rows. Only this benchmark (and booster_tuning.py, which
never reads the test dates) reads the ground truth; the pipeline never does.

    OMP_NUM_THREADS=1 python benchmarks/model_quality.py --loans 100000

Prints one JSON object: oracle AUC, each model's OOT AUC and ECE, the champion's AUC,
ECE and gap to the oracle, and the seconds spent (data = simulate + ingest + features).
AUCs under "oot_auc_by_model" are on every OOT row (what the training run logs); all
other AUCs are on the OOT rows the simulator has a true probability for.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

END = dt.date(2026, 10, 31)
MONTHS = 18


def use_scratch_home(work: Path) -> None:
    """Point settings at a throwaway home (call before importing nplpipeline)."""
    os.environ.update(
        {
            "NPL_HOME": str(work),
            "NPL_WAREHOUSE_URL": f"duckdb:///{work / 'warehouse.duckdb'}",
            "NPL_MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
            "NPL_MLFLOW_ARTIFACT_ROOT": str(work / "artifacts"),
        }
    )


def prepare_data(loans: int, seed: int) -> list[dt.date]:
    """Simulate, ingest and build features for the training month-ends; returns them."""
    from nplpipeline.features.stage import run_build_features
    from nplpipeline.features.window import training_month_ends
    from nplpipeline.ingest.stage import run_ingest
    from nplpipeline.simulate.stage import run_simulation

    run_simulation(loans=loans, seed=seed, end_date=END)
    run_ingest(END)
    dates = training_month_ends(END, MONTHS)
    run_build_features(dates)
    return dates


def load_frame(dates: list[dt.date]) -> pd.DataFrame:
    from nplpipeline.features.stage import load_training_frame
    from nplpipeline.settings import get_settings
    from nplpipeline.warehouse.engine import create_warehouse_engine

    engine = create_warehouse_engine(get_settings().warehouse_url)
    try:
        return load_training_frame(engine, dates[0], dates[-1])
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="npl-model-quality-"))
    use_scratch_home(work)
    from nplpipeline.features.schema import LABEL_COLUMN
    from nplpipeline.model import metrics
    from nplpipeline.model.config import load_model_config
    from nplpipeline.model.registry import load_champion, load_run_model
    from nplpipeline.model.split import out_of_time_split
    from nplpipeline.model.stage import run_training
    from nplpipeline.settings import get_settings

    timings = {}
    try:
        t = time.perf_counter()
        dates = prepare_data(args.loans, args.seed)
        timings["data_s"] = time.perf_counter() - t
        t = time.perf_counter()
        trained = run_training(dates[0], dates[-1])
        timings["train_s"] = time.perf_counter() - t

        settings = get_settings()
        frame = load_frame(dates)
        split = out_of_time_split(frame, load_model_config().split)
        test = split.test
        truth = pd.read_parquet(settings.ground_truth_dir / "recovery_probability.parquet")
        truth["as_of_date"] = pd.to_datetime(truth["as_of_date"])
        joined = test.merge(
            truth[["loan_id", "as_of_date", "true_recovery_prob"]],
            on=["loan_id", "as_of_date"],
            how="inner",
        )
        y = joined[LABEL_COLUMN].astype(int).to_numpy()
        uri = settings.mlflow_tracking_uri
        champion = load_champion(uri)
        p_model = champion.score(joined)
        p_oracle = joined["true_recovery_prob"].to_numpy(dtype=float)
        by_model = {}
        for name in ("scorecard", "logistic", "boosted"):
            p = load_run_model(uri, trained["run_id"], name).predict_proba(joined)[:, 1]
            by_model[name] = {
                "auc": round(metrics.auc(y, p), 4),
                "ece": round(metrics.ece(y, p), 4),
            }
        report = {
            "loans": args.loans,
            "seed": args.seed,
            "train_rows": len(split.train),
            "test_rows": len(test),
            "test_rows_with_truth": len(joined),
            "oracle_auc": round(metrics.auc(y, p_oracle), 4),
            "oracle_ece": round(metrics.ece(y, p_oracle), 4),
            "by_model": by_model,
            "oot_auc_by_model": trained["oot"],
            "champion": {"version": champion.version, "chosen": trained["chosen"]},
            "champion_auc": round(metrics.auc(y, p_model), 4),
            "champion_ece": round(metrics.ece(y, p_model), 4),
            "boosted_minus_scorecard_auc": round(
                by_model["boosted"]["auc"] - by_model["scorecard"]["auc"], 4
            ),
            "seconds": {k: round(v, 1) for k, v in timings.items()},
            "training_stage_seconds": trained["seconds"],
        }
        report["auc_gap_to_oracle"] = round(report["oracle_auc"] - report["champion_auc"], 4)
        print(
            json.dumps(
                report,
                indent=2,
                default=lambda o: float(o) if isinstance(o, np.floating) else str(o),
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
