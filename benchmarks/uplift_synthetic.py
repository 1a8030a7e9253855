"""Uplift estimators and off-policy values against a log whose truth is known.

A randomised log like the arms' (two strata at different known shares, three
treatments with heterogeneous, crossing effects, noise sd 10): how close the T- and
DR-learner come to the true effects, how often the learned policy picks the truly best
treatment, IPS and DR values against the true policy value (DR also with a deliberately
wrong outcome model), and the seconds each takes.

    nice -n 10 python benchmarks/uplift_synthetic.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from nplpipeline.uplift.estimators import DRLearner, TLearner
from nplpipeline.uplift.evaluation import bootstrap_mean, deterministic, dr_terms, ips_terms
from nplpipeline.uplift.synthetic import NAMES, synthetic_log, true_effects


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    x, t, y, prob = synthetic_log(args.rows, args.seed)
    x_new, _, _, prob_new = synthetic_log(20_000, args.seed + 1)  # fresh accounts
    truth = true_effects(x_new)
    out: dict[str, object] = {"rows": args.rows}
    for name, learner in (
        ("t_learner", TLearner(min_rows=200)),
        ("dr_learner", DRLearner(min_rows=200)),
    ):
        start = time.perf_counter()
        values = learner.fit(x, t, y, prob).predict(x_new, prob_new)
        seconds = time.perf_counter() - start
        err = {
            n: float(
                np.mean(
                    np.abs(
                        (values[n] - values["no_extra_action"])
                        - (truth[n] - truth["no_extra_action"])
                    )
                )
            )
            for n in ("call", "visit")
        }
        pick = values.idxmax(axis=1)
        out[name] = {
            "fit_predict_s": round(seconds, 1),
            "mean_abs_effect_error": {k: round(v, 2) for k, v in err.items()},
            "picks_true_best": round(float((pick == truth.idxmax(axis=1)).mean()), 3),
            "policy_true_value": round(
                float(
                    truth.to_numpy()[np.arange(len(pick)), [NAMES.index(p) for p in pick]].mean()
                ),
                2,
            ),
        }
    out["oracle_value"] = round(float(truth.max(axis=1).mean()), 2)
    out["best_single_treatment_value"] = round(float(truth.mean().max()), 2)
    pi = deterministic(pd.Series(np.where(x[:, 0] > 0.5, "call", "visit")), prob.columns)
    true_value = float((true_effects(x) * pi).sum(axis=1).mean())
    wrong = pd.DataFrame(0.0, index=prob.index, columns=NAMES) + np.array([90.0, -40.0, 10.0])
    good = TLearner(min_rows=200).fit(x, t, y, prob).predict(x, prob)
    for label, terms in (
        ("ips", ips_terms(t, y, prob, pi)),
        ("dr_good_model", dr_terms(t, y, prob, pi, good)),
        ("dr_wrong_model", dr_terms(t, y, prob, pi, wrong)),
    ):
        est = bootstrap_mean(terms, samples=200, level=0.95)
        out[label] = {"value": round(est.value, 2), "ci95": [round(est.low, 2), round(est.high, 2)]}
    out["true_policy_value"] = round(true_value, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
