"""Time the model stage on a large synthetic frame: `python -m nplpipeline.model.bench`.

Trains and registers into a throwaway MLflow store (never the project's), then times
scoring and reason codes; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from nplpipeline.devtools.synthetic import make_recovery_frame
from nplpipeline.model.reasons import reason_codes
from nplpipeline.model.registry import load_champion
from nplpipeline.model.train import train_and_register


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--noise", type=int, default=20, help="extra noise features (10 + this)")
    ap.add_argument("--dates", type=int, default=24)
    args = ap.parse_args()
    out: dict[str, object] = {"rows": args.rows}
    t = time.perf_counter()
    frame = make_recovery_frame(args.rows, n_dates=args.dates, n_noise=args.noise, seed=0)
    out["generate_s"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        t = time.perf_counter()
        r = train_and_register(
            frame,
            pipeline=True,  # the bench loads the pipeline's champion below
            tracking_uri=uri,
            data_identity={"dq_run_id": "bench"},
            artifact_location=(Path(tmp) / "artifacts").as_uri(),
        )
        out["train_and_register_s"] = time.perf_counter() - t
        out |= {
            "features": r.data["n_numeric_features"] + r.data["n_categorical_features"],
            "train_rows": r.data["train_rows"],
            "test_rows": r.data["test_rows"],
            "chosen": r.chosen,
            "stages_s": r.timings,
            "oot_auc": {k: v["auc"] for k, v in r.oot_metrics.items()},
            "boosted_ece": r.oot_metrics["boosted"]["ece"],
            "boosted_iterations": int(r.model.booster_.n_iter_) if r.chosen == "boosted" else None,
        }
        champ = load_champion(uri)
        t = time.perf_counter()
        champ.score(frame)
        out["score_all_rows_s"] = time.perf_counter() - t
        rows = frame.head(100_000)
        t = time.perf_counter()
        reason_codes(champ.model, rows)
        out["reason_codes_100k_s"] = time.perf_counter() - t
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
