"""The recovery model against the best achievable: simulator ground truth as an oracle.

Simulates a portfolio, runs ingest, builds features for 18 month-ends, trains and
registers through the same stage the DAG uses, then scores the champion and the
simulator's true recovery probabilities on the same out-of-time test rows. Only this
benchmark reads the ground truth; the pipeline never does.

    python benchmarks/model_quality.py --loans 100000
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="npl-model-quality-"))
    os.environ.update(
        {
            "NPL_HOME": str(work),
            "NPL_WAREHOUSE_URL": f"duckdb:///{work / 'warehouse.duckdb'}",
            "NPL_MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
            "NPL_MLFLOW_ARTIFACT_ROOT": str(work / "artifacts"),
        }
    )
    from nplpipeline.features.schema import LABEL_COLUMN
    from nplpipeline.features.stage import load_training_frame, run_build_features
    from nplpipeline.features.window import training_month_ends
    from nplpipeline.ingest.stage import run_ingest
    from nplpipeline.model import metrics
    from nplpipeline.model.config import load_model_config
    from nplpipeline.model.registry import load_champion
    from nplpipeline.model.split import out_of_time_split
    from nplpipeline.model.stage import run_training
    from nplpipeline.settings import get_settings
    from nplpipeline.simulate.stage import run_simulation
    from nplpipeline.warehouse.engine import create_warehouse_engine

    timings = {}
    try:
        t = time.perf_counter()
        run_simulation(loans=args.loans, seed=args.seed, end_date=END)
        run_ingest(END)
        dates = training_month_ends(END, 18)
        run_build_features(dates)
        timings["data_s"] = time.perf_counter() - t
        t = time.perf_counter()
        trained = run_training(dates[0], dates[-1])
        timings["train_s"] = time.perf_counter() - t

        settings = get_settings()
        engine = create_warehouse_engine(settings.warehouse_url)
        frame = load_training_frame(engine, dates[0], dates[-1])
        engine.dispose()
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
        champion = load_champion(settings.mlflow_tracking_uri)
        p_model = champion.score(joined)
        p_oracle = joined["true_recovery_prob"].to_numpy(dtype=float)
        report = {
            "loans": args.loans,
            "test_rows": len(test),
            "test_rows_with_truth": len(joined),
            "oot_auc_by_model": trained["oot"],
            "champion": {"version": champion.version, "chosen": trained["chosen"]},
            "champion_auc": round(metrics.auc(y, p_model), 4),
            "oracle_auc": round(metrics.auc(y, p_oracle), 4),
            "champion_ece": round(metrics.ece(y, p_model), 4),
            "oracle_ece": round(metrics.ece(y, p_oracle), 4),
            "seconds": {k: round(v, 1) for k, v in timings.items()},
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
