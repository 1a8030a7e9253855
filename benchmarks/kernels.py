"""Issue #14's slow kernels, before and after, on one booster: reason codes (rows/s) and
the permutation importance the training run logs.

    nice -n 10 python benchmarks/kernels.py --train-rows 60000 --trees 450 --rows 100000

The booster is grown to a fixed number of trees (no early stopping, no recency weights,
one fit: the kernels' cost depends on trees x features x rows, not on how the trees were
chosen). "before" is the per-feature method (one full prediction per feature, and
sklearn's permutation importance on the frame), timed on `--before-rows` rows only and
reported per row, because it is ~20x slower; "after" is what the pipeline now runs.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from nplpipeline.devtools.synthetic import make_recovery_frame
from nplpipeline.model import plots
from nplpipeline.model.boosting import BoostedRecoveryModel
from nplpipeline.model.config import ModelConfig
from nplpipeline.model.frame import infer_feature_spec, label_array
from nplpipeline.model.reasons import reason_codes
from nplpipeline.model.substitution import per_feature_impacts


class _FrameOnly:
    """The booster without its encoded path: sklearn shuffles the frame (the old way)."""

    def __init__(self, model: BoostedRecoveryModel):
        self.model = model

    def fit(self, x: object, y: object = None) -> _FrameOnly:
        return self

    def predict_proba(self, x: object) -> np.ndarray:
        return self.model.predict_proba(x)


CPU: dict[str, float] = {}


def _timed(fn: object, name: str = "") -> float:
    """Wall seconds; CPU seconds of this process go to CPU[name] (the machine is shared,
    so CPU time is the steadier figure)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    CPU[name] = round(time.process_time() - c, 2)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-rows", type=int, default=60_000)
    ap.add_argument("--rows", type=int, default=100_000, help="rows scored for reason codes")
    ap.add_argument("--before-rows", type=int, default=5_000)
    ap.add_argument("--importance-rows", type=int, default=10_000)
    ap.add_argument("--trees", type=int, default=450)
    ap.add_argument("--noise", type=int, default=30, help="extra noise features (10 + this)")
    args = ap.parse_args()
    frame = make_recovery_frame(args.train_rows + args.rows, n_dates=18, n_noise=args.noise)
    train, score = frame.iloc[: args.train_rows], frame.iloc[args.train_rows :]
    spec = infer_feature_spec(frame, ModelConfig().columns)
    model = BoostedRecoveryModel(
        list(spec.numeric),
        list(spec.categorical),
        max_iter=args.trees,
        early_stopping=False,
        recency_half_life_days=None,
        refit_on_all_dates=False,
    )
    out: dict[str, object] = {"train_rows": args.train_rows, "features": len(spec.all)}
    with threadpool_limits(limits=1):
        out["fit_s"] = _timed(lambda: model.fit(train, label_array(train, "label")))
        out["trees"] = int(model.booster_.n_iter_)
        small = score.head(args.before_rows)
        before = _timed(lambda: per_feature_impacts(model, small), "reason_before")
        out["reason_codes_before_rows_per_s"] = round(len(small) / before)
        after = _timed(lambda: reason_codes(model, score, top_k=3), "reason_after")
        out["reason_codes_after_rows_per_s"] = round(len(score) / after)
        out["reason_codes_after_s"] = round(after, 2)
        out["reason_codes_rows"] = len(score)
        imp = score.head(args.importance_rows)
        y = label_array(imp, "label")
        features = list(model.feature_names_)
        out["importance_rows"] = len(imp)
        out["importance_before_s"] = round(
            _timed(
                lambda: plots.permutation_importances(_FrameOnly(model), imp, y, features),
                "importance_before",
            ),
            2,
        )
        out["importance_after_s"] = round(
            _timed(
                lambda: plots.permutation_importances(model, imp, y, features), "importance_after"
            ),
            2,
        )
    out["cpu_s"] = CPU
    out["reason_codes_before_rows_per_cpu_s"] = round(len(small) / CPU["reason_before"])
    out["reason_codes_after_rows_per_cpu_s"] = round(len(score) / CPU["reason_after"])
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
