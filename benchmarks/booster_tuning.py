"""How the booster's defaults were chosen: a time-ordered validation slice of the
training period, never the out-of-time test dates.

Builds the same data as model_quality.py (simulate, ingest, features for 18 month-ends),
applies the model config's out-of-time split and *drops the test dates*. Inside the
training period the latest `--val-share` of dates is the tuning validation slice; the
scorecard and every candidate booster (defaults with one setting changed) are fit on the
earlier dates, exactly as BoostedRecoveryModel fits (its own fit | validation |
calibration slices, recency weights, refit), and judged on the tuning slice by log loss
(the booster's own objective), AUC and ECE.

    OMP_NUM_THREADS=1 python benchmarks/booster_tuning.py --loans 100000

`--frame PATH` keeps the feature frame as parquet and reuses it on the next run (the
candidates can then be changed with `--candidates '[{"learning_rate": 0.1}]'`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from model_quality import load_frame, prepare_data, use_scratch_home
from sklearn.metrics import log_loss

CANDIDATES: list[dict[str, object]] = [
    {},
    # close to the defaults before this tuning (their early stopping was a random 10%)
    {
        "max_iter": 300,
        "learning_rate": 0.1,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 100,
        "refit_on_all_dates": False,
        "recency_half_life_days": None,
    },
    {"learning_rate": 0.1},
    {"learning_rate": 0.02},
    {"max_leaf_nodes": 7},
    {"max_leaf_nodes": 31},
    {"min_samples_leaf": 50},
    {"min_samples_leaf": 800},
    {"l2_regularization": 10.0},
    {"recency_half_life_days": None},
    {"recency_half_life_days": 45.0},
    {"recency_half_life_days": 180.0},
    {"refit_on_all_dates": False},
    {"calibration": "sigmoid"},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--val-share", type=float, default=0.2)
    parser.add_argument("--frame", type=Path, default=None, help="parquet cache of the frame")
    parser.add_argument("--candidates", type=str, default=None, help="JSON list of overrides")
    args = parser.parse_args()
    candidates = json.loads(args.candidates) if args.candidates else CANDIDATES

    work = Path(tempfile.mkdtemp(prefix="npl-booster-tuning-"))
    use_scratch_home(work)
    from nplpipeline.model import metrics
    from nplpipeline.model.boosting import BoostedRecoveryModel, latest_dates_mask
    from nplpipeline.model.frame import infer_feature_spec, label_array
    from nplpipeline.model.scorecard import WoEScorecard
    from nplpipeline.model.split import out_of_time_split
    from nplpipeline.model.stage import config_for_features

    try:
        if args.frame is not None and args.frame.exists():
            frame = pd.read_parquet(args.frame)
        else:
            frame = load_frame(prepare_data(args.loans, args.seed))
            if args.frame is not None:
                frame.to_parquet(args.frame)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    config = config_for_features()
    cols = config.columns
    frame = frame.loc[frame[cols.label_column].notna()]
    spec = infer_feature_spec(frame, cols)
    train = out_of_time_split(frame, config.split, cols.date_column).train  # test dropped
    dates = train[cols.date_column]
    is_val = latest_dates_mask(len(train), dates.to_numpy(), args.val_share)
    fit, val = train.loc[~is_val], train.loc[is_val]
    y_fit, y_val = label_array(fit, cols.label_column), label_array(val, cols.label_column)

    def judge(p: np.ndarray) -> dict[str, float]:
        return {
            "val_log_loss": round(float(log_loss(y_val, np.clip(p, 1e-6, 1 - 1e-6))), 4),
            "val_auc": round(metrics.auc(y_val, p), 4),
            "val_ece": round(metrics.ece(y_val, p), 4),
        }

    rows = []
    sc = WoEScorecard(list(spec.numeric), list(spec.categorical), **config.scorecard.model_dump())
    t = time.perf_counter()
    sc.fit(fit, y_fit)
    rows.append(
        {
            "model": "scorecard",
            **judge(sc.predict_proba(val)[:, 1]),
            "iterations": None,
            "seconds": round(time.perf_counter() - t, 1),
        }
    )
    for overrides in candidates:
        cfg = config.boosting.model_copy(update=overrides)
        model = BoostedRecoveryModel.from_config(cfg, list(spec.numeric), list(spec.categorical))
        t = time.perf_counter()
        model.fit(fit, y_fit, fit[cols.date_column])
        rows.append(
            {
                "model": "boosted " + (json.dumps(overrides) if overrides else "(defaults)"),
                **judge(model.predict_proba(val)[:, 1]),
                "iterations": model.best_iteration_,
                "seconds": round(time.perf_counter() - t, 1),
            }
        )
    table = pd.DataFrame(rows)
    print(
        f"training period: {len(train)} rows, {dates.nunique()} as-of dates; tuning slice "
        f"{int(is_val.sum())} rows from {pd.Timestamp(dates[is_val].min()).date()}"
    )
    with pd.option_context("display.width", 200, "display.max_colwidth", 120):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
