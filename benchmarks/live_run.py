"""The live run on the lender twin: what a simulated day costs, and which policy wins.

Two modes, each (size, seed) in its own process with its own warehouse, MLflow store,
Airflow home and stand-in CRM (so ``ru_maxrss`` is that run's peak memory):

* ``timing``: warm-up, day 0 and ``--days`` live days through Airflow (``dag.test``,
  exactly as ``make demo``; ``--stages`` calls the stage functions instead): seconds per
  day for each twin world and each DAG, and peak RSS;
* ``compare``: the pipeline's world against the status quo's over ``--days`` days (at
  least 90 for the README) on several seeds, through the stage functions (Airflow's
  per-run overhead would dominate a long run); prints the final mart_policy_comparison
  and mart_nba_comparison (the learned policy's arm against the static arm and the status
  quo, per seed and the mean across seeds; "no nba arm" for runs without one);
* ``remeasure``: measures kept run folders (``--keep``) again, both marts.

    nice -n 10 python benchmarks/live_run.py timing --loans 20000 --days 2
    nice -n 10 python benchmarks/live_run.py compare --loans 2000 --days 90 --seeds 42 7 11

Results go to stdout (JSON lines per run, then a Markdown table) and
``benchmarks/results/live-<mode>-<time>.json``. No assertions: numbers are read here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, whatever the venv points at
START = dt.date(2026, 10, 31)


def _environment(workdir: Path) -> None:
    """Point every NPL_* and Airflow setting of this process at ``workdir``."""
    os.environ.update(
        {
            "NPL_HOME": str(workdir / "var"),
            "NPL_MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
            "NPL_MLFLOW_ARTIFACT_ROOT": str(workdir / "mlflow-artifacts"),
            "NPL_PROJECT_ROOT": str(ROOT),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
    )
    os.environ.pop("NPL_WAREHOUSE_URL", None)
    from nplpipeline.orchestration.airflow_env import airflow_environment

    os.environ.update(airflow_environment(ROOT, workdir / "airflow"))


def _comparison_rows(settings: Any) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from nplpipeline.report.comparison.tables import policy_comparison as t
    from nplpipeline.warehouse.engine import begin, create_warehouse_engine
    from nplpipeline.warehouse.frames import read_frame

    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            frame = read_frame(conn, sa.select(t).where(t.c.as_of_date == sa.select(
                sa.func.max(t.c.as_of_date)).scalar_subquery()))  # fmt: skip
    finally:
        engine.dispose()
    cols = ["segment", "policy", "accounts", "recovery_rate", "target_recovery_rate", "ci_low",
            "ci_high", "contacts", "commissions", "recalls", "complaints", "satisfaction",
            "net_recovered", "payback_months", "roi", "days"]  # fmt: skip
    return json.loads(frame[cols].to_json(orient="records"))


NBA_COLUMNS = [
    "baseline", "segment", "policy", "start_date", "days", "accounts", "baseline_accounts",
    "net_recovery", "net_recovery_ci_low", "net_recovery_ci_high", "contacts",
    "contacts_ci_low", "contacts_ci_high", "complaints_per_1000", "complaints_ci_low",
    "complaints_ci_high", "confidence",
]  # fmt: skip


def _nba_rows(settings: Any) -> list[dict[str, Any]]:
    """The latest date's mart_nba_comparison rows ([] without an nba arm)."""
    import sqlalchemy as sa

    from nplpipeline.report.nba.tables import nba_comparison as t
    from nplpipeline.schema import ensure_schema
    from nplpipeline.warehouse.engine import begin, create_warehouse_engine
    from nplpipeline.warehouse.frames import read_frame

    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with begin(engine) as conn:
            ensure_schema(conn)  # a run from before the mart has no table yet
            latest = sa.select(sa.func.max(t.c.as_of_date)).scalar_subquery()
            frame = read_frame(conn, sa.select(t).where(t.c.as_of_date == latest))
    finally:
        engine.dispose()
    frame["start_date"] = frame["start_date"].astype(str)
    return json.loads(frame[NBA_COLUMNS].to_json(orient="records"))


def _measure_nba(day: dt.date, truth: dict[str, Path] | None, settings: Any) -> None:
    """Both nba comparisons for ``day`` (the compare chain skips the KPI DAG's)."""
    from nplpipeline.report.nba.stage import run_nba_comparison, run_nba_status_quo

    run_nba_comparison(day, settings)
    if truth is not None:
        run_nba_status_quo(day, truth, settings)


def _child(args: argparse.Namespace) -> dict[str, Any]:
    """One live run in this process; returns timings, the comparison and peak RSS."""
    _environment(args.workdir)
    from nplpipeline.orchestration.demo import AirflowChain, local_crm, migrate_metadata_db
    from nplpipeline.orchestration.live import LiveRun, live_run
    from nplpipeline.orchestration.stage_chain import StageChain
    from nplpipeline.settings import get_settings

    settings = get_settings()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    progress = args.workdir / "progress.jsonl"

    def on_day(day: dt.date, comparison: dict[str, Any]) -> None:
        with progress.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"day": day.isoformat(), **comparison}) + "\n")

    run = LiveRun(
        loans=args.loans, seed=args.seed, start=START, days=args.days, log=log,
        train_every=args.train_every, on_day=on_day,
    )  # fmt: skip
    airflow = args.mode == "timing" and not args.stages
    if airflow:
        migrate_metadata_db()
    chain = AirflowChain() if airflow else StageChain(decisions_only=args.mode == "compare")
    began = time.perf_counter()
    with local_crm(settings, args.seed, faults=args.mode == "timing"):
        live_run(run, chain, settings)
    if args.days:
        from nplpipeline.orchestration.live import worlds

        truth = {n: w.truth_dir for n, w in worlds(settings).items()}
        _measure_nba(run.end, truth, settings)
    timings = [
        {k: (str(v) if k == "day" else round(v, 2)) for k, v in t.items()} for t in run.timings
    ]
    return {
        "mode": args.mode,
        "runner": "airflow dag.test" if airflow else "stage functions",
        "loans": args.loans,
        "seed": args.seed,
        "days": args.days,
        "train_every": args.train_every,
        "seconds_total": round(time.perf_counter() - began, 1),
        "timings": timings,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "comparison": _comparison_rows(settings) if args.days else [],
        "nba": _nba_rows(settings) if args.days else [],
    }


def _remeasure(workdir: Path) -> dict[str, Any]:
    """Measure a finished (or stopped) run again from its stored truth, up to its last
    stepped day: after a change to the measurement, without rerunning the worlds."""
    _environment(workdir)
    from nplpipeline.orchestration.live import worlds
    from nplpipeline.report.comparison.stage import run_policy_comparison
    from nplpipeline.settings import get_settings

    settings = get_settings()
    places = worlds(settings)
    days = sorted(
        dt.date.fromisoformat(f.name)
        for w in places.values()
        for f in (w.truth_dir / "days").iterdir()
        if (f / "summary.json").exists()
    )
    common = sorted(set(d for d in days if days.count(d) == len(places)))
    last = common[-1]
    first = json.loads((workdir / "progress.jsonl").read_text().splitlines()[0])
    start = dt.date.fromisoformat(first["start"])
    truth = {n: w.truth_dir for n, w in places.items()}
    logs = {n: w.decisions_dir for n, w in places.items()}
    loans = int(workdir.name.split("-")[1])
    run_policy_comparison(start, last, truth, loans, settings, logs)
    _measure_nba(last, truth, settings)
    seed = int(workdir.name.split("-")[2])
    return {
        "workdir": str(workdir), "loans": loans, "seed": seed, "days": (last - start).days,
        "runner": "remeasured", "seconds_total": 0, "peak_rss_mb": 0, "timings": [{}],
        "comparison": _comparison_rows(settings), "nba": _nba_rows(settings),
    }  # fmt: skip


def _spawn(args: argparse.Namespace, loans: int, seed: int) -> dict[str, Any]:
    workdir = args.workdir / f"{args.mode}-{loans}-{seed}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    command = [
        sys.executable, __file__, args.mode, "--child", "--loans", str(loans), "--seeds",
        str(seed), "--days", str(args.days), "--workdir", str(workdir),
        *(["--train-every", str(args.train_every)] if args.train_every else []),
        *(["--stages"] if args.stages else []),
    ]  # fmt: skip
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _mean_day(result: dict[str, Any]) -> dict[str, float]:
    days = [t for t in result["timings"] if "warm_up" not in t]
    keys = sorted({k for t in days for k in t if k != "day"})
    return {k: round(sum(t.get(k, 0.0) for t in days) / len(days), 1) for k in keys} if days else {}


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        head = f"{r['loans']:,} loans, seed {r['seed']}, {r['days']} days ({r['runner']})"
        lines.append(f"### {head}: {r['seconds_total']} s, peak RSS {r['peak_rss_mb']} MB")
        day0 = r["timings"][0] or {}
        lines.append("day 0: " + ", ".join(f"{k} {v}" for k, v in day0.items() if k != "day"))
        lines.append("mean live day (s): " + ", ".join(f"{k} {v}" for k, v in _mean_day(r).items()))
        lines.append("| segment | pipeline | status quo | incremental [95% CI] |")
        lines.append("| --- | ---: | ---: | --- |")
        rows = {(c["segment"], c["policy"]): c for c in r["comparison"]}
        for seg in dict.fromkeys(c["segment"] for c in r["comparison"]):
            if seg == "portfolio":
                continue
            p, q, i = (rows.get((seg, x), {}) for x in ("pipeline", "status_quo", "incremental"))
            pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
            pp = lambda v: "-" if v is None else f"{v * 100:+.1f} pp"  # noqa: E731
            lines.append(
                f"| {seg} | {pct(p.get('recovery_rate'))} | {pct(q.get('recovery_rate'))} | "
                f"{pp(i.get('recovery_rate'))} [{pp(i.get('ci_low'))}, {pp(i.get('ci_high'))}] |"
            )
        port = {
            x: rows.get(("portfolio", x), {}) for x in ("pipeline", "status_quo", "incremental")
        }
        lines.append(
            "portfolio: "
            + "; ".join(
                f"{k} {port['pipeline'].get(k)} vs {port['status_quo'].get(k)}"
                for k in ("contacts", "commissions", "recalls", "complaints", "satisfaction")
            )
            + f"; payback {port['incremental'].get('payback_months')} months"
        )
        lines.append("")
    return "\n".join(lines)


NBA_METRICS = (
    ("net_recovery", "net_recovery_ci", "net recovery / account", ".2f"),
    ("contacts", "contacts_ci", "contacts / account", ".3f"),
    ("complaints_per_1000", "complaints_ci", "complaints / 1,000", ".2f"),
)


def _nba_difference(r: dict[str, Any], baseline: str) -> dict[str, Any] | None:
    rows = r.get("nba") or []
    return next(
        (x for x in rows if (x["baseline"], x["segment"], x["policy"]) ==
         (baseline, "overall", "difference")),
        None,
    )  # fmt: skip


def _cell(value: float | None, low: float | None, high: float | None, spec: str) -> str:
    if value is None:
        return "-"
    bounds = "-" if low is None or high is None else f"{low:+{spec}}, {high:+{spec}}"
    return f"{value:+{spec}} [{bounds}]"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{int(value):,}"


def _mean_cell(diffs: list[dict[str, Any]], key: str, ci: str, spec: str, z: float) -> str:
    """Mean over seeds; its interval from the seeds' own standard errors (independent
    portfolios: Var(mean) = Σ se² / k²)."""
    values = [d[key] for d in diffs if d.get(key) is not None]
    if not values or len(values) < len(diffs):
        return "-"
    ses = [(d[f"{ci}_high"] - d[f"{ci}_low"]) / (2 * z) for d in diffs
           if d.get(f"{ci}_low") is not None and d.get(f"{ci}_high") is not None]  # fmt: skip
    mean = sum(values) / len(values)
    if len(ses) < len(values):
        return f"{mean:+{spec}} [-]"
    half = z * sum(se * se for se in ses) ** 0.5 / len(ses)
    return _cell(mean, mean - half, mean + half, spec)


def _nba_markdown(results: list[dict[str, Any]]) -> str:
    """Learned policy vs static (and status quo): per seed and the mean across seeds."""
    from statistics import NormalDist

    lines = []
    for baseline, name in (("static", "static tier policy"), ("status_quo", "status quo")):
        head = f"#### Learned policy (nba arm) vs {name}: overall difference [95% CI]"
        lines += [head, "| run | days | nba accounts | baseline accounts | "
                  + " | ".join(m[2] for m in NBA_METRICS) + " |",
                  "| --- | ---: | ---: | ---: |" + " ---: |" * len(NBA_METRICS)]  # fmt: skip
        diffs = []
        for r in results:
            run = f"{r['loans']:,} loans, seed {r['seed']}"
            d = _nba_difference(r, baseline)
            if d is None:
                lines.append(
                    f"| {run} | {r['days']} | no nba arm | - |" + " - |" * len(NBA_METRICS)
                )
                continue
            diffs.append(d)
            cells = [_cell(d[k], d[f"{c}_low"], d[f"{c}_high"], f) for k, c, _, f in NBA_METRICS]
            lines.append(f"| {run} | {d['days']} | {_count(d['accounts'])} | "
                         f"{_count(d['baseline_accounts'])} | "
                         + " | ".join(cells) + " |")  # fmt: skip
        if diffs:
            z = NormalDist().inv_cdf(0.5 + (diffs[0].get("confidence") or 0.95) / 2)
            cells = [_mean_cell(diffs, k, c, f, z) for k, c, _, f in NBA_METRICS]
            lines.append(f"| mean of {len(diffs)} | | | | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["timing", "compare", "remeasure"])
    parser.add_argument("runs", nargs="*", type=Path, help="remeasure: kept run folders")
    parser.add_argument("--loans", type=int, nargs="+", default=[20_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--stages", action="store_true", help="timing without Airflow")
    parser.add_argument(
        "--train-every", type=int, default=None,
        help="days between trainings (default: the training DAG's weekly logical dates)",
    )  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-live")
    parser.add_argument("--keep", action="store_true", help="keep each run's folder")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.mode == "remeasure":
        print(json.dumps(_remeasure(args.runs[0])))
        return
    if args.child:
        args.loans, args.seed = args.loans[0], args.seeds[0]
        print(json.dumps(_child(args)))
        return
    results = []
    if args.mode == "remeasure":
        for folder in args.runs:
            done = subprocess.run(
                [sys.executable, __file__, "remeasure", str(folder), "--child"],
                check=True, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(_markdown(results))
        print(_nba_markdown(results))
        return
    for loans in args.loans:
        for seed in args.seeds:
            results.append(_spawn(args, loans, seed))
            print(json.dumps(results[-1]), flush=True)
    print(_markdown(results))
    print(_nba_markdown(results))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    document = {"machine": platform.platform(), "cpus": os.cpu_count(), "runs": results}
    (out / f"live-{args.mode}-{stamp}.json").write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
