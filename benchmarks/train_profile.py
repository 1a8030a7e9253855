"""Profile one training run (`train_and_register`, the pipeline's own call) on a synthetic
frame: `nice -n 10 python benchmarks/train_profile.py --rows 100000 --out /tmp/train.prof`.

Registers into a throwaway MLflow store; prints the stage timings, one JSON line of the
run's results (chosen model, validation AUCs, OOT metrics, gate; to compare two trees'
runs), the 45 most expensive calls (cumulative), and leaves the cProfile file for
`pstats`/snakeviz.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

from nplpipeline.devtools.synthetic import make_recovery_frame
from nplpipeline.model.train import TrainingResult, train_and_register


def results(r: TrainingResult) -> dict[str, object]:
    """What must not change when only the speed does."""
    sel = r.selection
    return {
        "chosen": r.chosen,
        "validation_auc": sel.auc if sel else None,
        "oot": r.oot_metrics,
        "gate": r.gate.reason,
        "segments_auc_sum": float(r.segments["auc"].fillna(0).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--noise", type=int, default=30, help="extra noise features (10 + this)")
    ap.add_argument("--out", default="/tmp/train.prof")
    args = ap.parse_args()
    frame = make_recovery_frame(args.rows, n_dates=18, n_noise=args.noise, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        profile, t = cProfile.Profile(), time.perf_counter()
        profile.enable()
        r = train_and_register(
            frame,
            pipeline=True,
            tracking_uri=f"sqlite:///{Path(tmp) / 'mlflow.db'}",
            data_identity={"dq_run_id": "profile"},
            artifact_location=(Path(tmp) / "artifacts").as_uri(),
        )
        profile.disable()
        print("total_s", round(time.perf_counter() - t, 1), "chosen", r.chosen, r.timings)
        print("results", json.dumps(results(r)))
        profile.dump_stats(args.out)
    pstats.Stats(args.out).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
