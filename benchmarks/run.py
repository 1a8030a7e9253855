"""``make bench``: one day's chain timed against issue #14's targets, after a warm-up.

For each ``--loans`` size, in a fresh work folder (embedded DuckDB warehouse, MLflow
store, landing zone):

1. warm-up: simulate the portfolio to END (dirty rows included), load the history
   (every drop before END) exactly as the ingest DAG does;
2. the day: ingest END's drops, then the delinquency snapshot (in ``--shards`` K
   shards), and at once the DPD anchor (``dpd_anchor.py``, a plain DuckDB SQL window
   query over the same tables, checked to give the same DPD);
3. training as the weekly DAG runs it (features of 18 month-ends, then the fit), placed
   here so that a run stopped early still has the ingest and DPD figures (every output
   for a date depends only on what was known by it, so the order changes no table);
4. the rest of the day: scoring with reason codes and monitoring, treatment plan,
   placements, worklists, delivery files, KPIs.

Every step (and every shard of a sharded step) runs in its own process, so its peak
RSS (VmHWM) is its own; shards run ``--parallel`` at a time, as Celery worker slots run
mapped tasks. Each step's result is appended to ``<workdir>/<loans>/steps.jsonl`` as
it ends (``--resume`` skips the steps found there). At the end it prints every step,
then the targets table with met/missed and by how much, and writes the JSON to
``benchmarks/results/``. ``--profile`` runs each step under cProfile and writes the
top functions of the steps behind the missed targets. No assertions: read, not enforced.

    python benchmarks/run.py --loans 100000 --shards 1
    python benchmarks/run.py --loans 1000000 10000000 --shards 1 16 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package and benchmarks/, whatever the venv says

from benchmarks.targets import evaluate, missed_steps, stages_table, targets_table  # noqa: E402

END = dt.date(2026, 10, 31)
HISTORY_END = END - dt.timedelta(days=1)
TRAINING_MONTHS = 18  # the weekly training DAG's default window
SHARDED = ("delinquency", "score", "plan")
STEPS = (
    "simulate", "history_ingest", "ingest", "delinquency", "dpd_anchor", "train_features",
    "train", "score", "monitoring", "plan", "placements", "worklists", "delivery", "kpis",
)  # fmt: skip
PROFILE_TOP = 25


def environment(workdir: Path) -> dict[str, str]:
    """Every NPL_* setting of a step process pointed at ``workdir`` (no CRM: files only)."""
    env = {k: v for k, v in os.environ.items() if k != "NPL_CRM_URL"}
    env.update(
        {
            "NPL_HOME": str(workdir / "var"),
            "NPL_WAREHOUSE_URL": f"duckdb:///{workdir / 'warehouse.duckdb'}",
            "NPL_LANDING_DIR": str(workdir / "landing"),
            "NPL_GROUND_TRUTH_DIR": str(workdir / "truth"),
            "NPL_MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
            "NPL_MLFLOW_ARTIFACT_ROOT": str(workdir / "artifacts"),
            "NPL_PROJECT_ROOT": str(ROOT),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
    )
    return env


# ---- one step in this (child) process -------------------------------------------------


def _rows_in(loads: list[dict[str, Any]]) -> int:
    return sum(int(r.get("rows_in") or 0) for r in loads)


class _Timer:
    """Wraps a module function to add up its seconds (and rows of its second argument)."""

    def __init__(self, module: Any, name: str) -> None:
        self.seconds, self.rows, self._module, self._name = 0.0, 0, module, name
        self._original = getattr(module, name, None)
        if self._original is not None:
            setattr(module, name, self._call)

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        clock = time.perf_counter()
        try:
            return self._original(*args, **kwargs)  # type: ignore[misc]
        finally:
            self.seconds += time.perf_counter() - clock
            if len(args) > 1 and hasattr(args[1], "__len__"):
                self.rows += len(args[1])


def _score(shard: Any) -> dict[str, Any]:
    """Scoring with its phases timed from outside: the reason codes' rows/s is a target."""
    import nplpipeline.features.stage as features
    import nplpipeline.model.reasons as reasons
    import nplpipeline.model.registry as registry
    from nplpipeline.score.stage import run_scoring

    load, build = _Timer(registry, "load_champion"), _Timer(features, "build_and_store_features")
    codes = _Timer(reasons, "reason_codes")
    out = run_scoring(END, shard=shard)
    return {
        "rows": int(out["accounts"]),
        "phases_s": {
            "load champion": load.seconds,
            "features": build.seconds,
            "reason codes": codes.seconds,
        },
        "reason_rows": codes.rows,
        "reason_s": codes.seconds,
    }


def _anchor() -> dict[str, Any]:
    from benchmarks.dpd_anchor import compare_with_snapshot, timed_anchor
    from nplpipeline.settings import get_settings

    settings = get_settings()
    path = settings.warehouse_url.removeprefix("duckdb:///")
    table, seconds = timed_anchor(path, END, settings.policy.delinquency.paid_tolerance)
    check = compare_with_snapshot(path, END, table)
    return {"rows": table.num_rows, "seconds": seconds, "notes": check}


def _step_call(
    step: str, loans: int, shard: Any, months: int = TRAINING_MONTHS
) -> Callable[[], dict[str, Any]]:
    """What one step runs: the functions the DAG tasks call, with the DAGs' arguments
    (``months``: the training window, the weekly DAG's 18 unless the run says less)."""

    def training_month_ends() -> list[dt.date]:
        from nplpipeline.features.window import training_month_ends as ends

        return ends(END, months)

    def simulate() -> dict[str, Any]:
        from nplpipeline.simulate.stage import run_simulation

        return {"rows": sum(run_simulation(loans=loans, end_date=END)["rows_written"].values())}

    def ingest(up_to: dt.date) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            from nplpipeline.ingest.stage import run_ingest

            return {"rows": _rows_in(run_ingest(up_to))}

        return run

    def delinquency() -> dict[str, Any]:
        from nplpipeline.delinquency.stage import run_delinquency_snapshot

        out = run_delinquency_snapshot(END, shard=shard)
        return {"rows": int(out["loans"]), "phases_s": out["seconds"]}

    def train_features() -> dict[str, Any]:
        from nplpipeline.features.stage import run_build_features

        out = run_build_features(training_month_ends())
        return {"rows": int(out["rows"]), "phases_s": out.get("seconds")}

    def train() -> dict[str, Any]:
        from nplpipeline.model.stage import run_training

        ends = training_month_ends()
        out = run_training(ends[0], ends[-1])
        notes = {"chosen": out["chosen"], "month_ends": len(ends)}
        return {"phases_s": out.get("seconds"), "notes": notes}

    def simple(module: str, name: str, **kwargs: Any) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            import importlib

            getattr(importlib.import_module(module), name)(END, **kwargs)
            return {}

        return run

    return {
        "simulate": simulate,
        "history_ingest": ingest(HISTORY_END),
        "ingest": ingest(END),
        "delinquency": delinquency,
        "dpd_anchor": _anchor,
        "train_features": train_features,
        "train": train,
        "score": lambda: _score(shard),
        "monitoring": simple("nplpipeline.model.monitoring_stage", "run_monitoring"),
        "plan": simple("nplpipeline.act.stage", "run_treatment_plan", shard=shard),
        "placements": simple("nplpipeline.act.placement.stage", "run_placements"),
        "worklists": simple("nplpipeline.act.stage", "run_worklists"),
        "delivery": simple("nplpipeline.act.delivery.stage", "run_crm_delivery"),
        "kpis": simple("nplpipeline.report.marts.stage", "run_kpis"),
    }[step]


def peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not carried over an exec)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(step: str, loans: int, shard_text: str, profile_to: Path | None,
          months: int = TRAINING_MONTHS) -> dict[str, Any]:  # fmt: skip
    """Run one step (or one shard of it) here; seconds, rows and peak RSS."""
    from nplpipeline.warehouse.shards import Shard

    index, count = (int(x) for x in shard_text.split("/"))
    call = _step_call(step, loans, Shard(index, count), months)
    profiler = cProfile.Profile() if profile_to else None
    clock = time.perf_counter()
    if profiler:
        profiler.enable()
    out = call()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_to)
    seconds = time.perf_counter() - clock
    return {"seconds": out.pop("seconds", seconds), "peak_mb": peak_mb(), **out}


# ---- the parent: steps in processes, shards in parallel ---------------------------------


def _spawn(step: str, loans: int, shard: str, workdir: Path, profile_dir: Path | None,
           months: int = TRAINING_MONTHS) -> dict:  # fmt: skip
    command = [sys.executable, __file__, "--child", step, "--loans", str(loans),
               "--shard", shard, "--workdir", str(workdir),
               "--training-months", str(months)]  # fmt: skip
    if profile_dir:
        command += ["--profile-to", str(profile_dir / f"{step}-{shard.replace('/', 'of')}.prof")]
    log = workdir / "logs" / f"{step}-{shard.replace('/', 'of')}.log"
    with log.open("w") as err:
        done = subprocess.run(command, env=environment(workdir), stdout=subprocess.PIPE,
                              stderr=err, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"step {step} shard {shard} failed ({done.returncode}); see {log}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_step(step: str, loans: int, k: int, parallel: int, workdir: Path,
             profile_dir: Path | None,
             months: int = TRAINING_MONTHS) -> dict[str, Any]:  # fmt: skip
    """One step: its processes, then wall, rows, rows/s, peak per process and phases."""
    k = k if step in SHARDED else 1
    clock = time.perf_counter()
    with ThreadPoolExecutor(max(1, min(parallel, k))) as pool:
        jobs = [f"{i}/{k}" for i in range(k)]
        parts = list(pool.map(lambda s: _spawn(step, loans, s, workdir, profile_dir, months), jobs))
    wall = time.perf_counter() - clock if k > 1 else float(parts[0]["seconds"])
    rows = sum(int(p["rows"]) for p in parts) if all("rows" in p for p in parts) else None
    phases: dict[str, float] = {}
    for p in parts:
        for name, seconds in (p.get("phases_s") or {}).items():
            phases[name] = round(phases.get(name, 0.0) + float(seconds), 2)
    result: dict[str, Any] = {
        "step": step,
        "seconds": round(wall, 2),
        "peak_mb": round(max(float(p["peak_mb"]) for p in parts)),
        "rows": rows,
        "rows_per_s": round(rows / wall) if rows and wall else None,
        "shards": k,
        "slowest_shard_s": round(max(float(p["seconds"]) for p in parts), 2),
        "phases_s": phases,
        "notes": parts[0].get("notes") or {},
    }
    if step == "delinquency":  # the DPD step: what computes DPD, summed over the shards
        result["dpd_s"] = round(phases.get("read", 0.0) + phases.get("compute", 0.0), 2)
    if step == "score":
        reason_s = sum(float(p["reason_s"]) for p in parts)
        reason_rows = sum(int(p["reason_rows"]) for p in parts)
        result["reason_rows_per_s"] = round(reason_rows / reason_s) if reason_s else None
        result["notes"] = {"reason-coded rows": reason_rows}
    return result


def _training_months(loans: int, args: argparse.Namespace) -> int:
    """The training window for this size: the target is timed at 1M on the DAG's window."""
    if loans > 1_000_000 and args.training_months_above_1m:
        return int(args.training_months_above_1m)
    return int(args.training_months)


def _done_steps(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    return {r["step"]: r for r in map(json.loads, path.read_text().splitlines()) if r}


def run_size(loans: int, k: int, args: argparse.Namespace, profile_dir: Path | None) -> dict:
    """Every step for one portfolio size; results appended to steps.jsonl as they end."""
    workdir = args.workdir / str(loans)
    if not args.resume:
        shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    progress = workdir / "steps.jsonl"
    done = _done_steps(progress)
    steps = []
    for step in STEPS:
        if step in done:
            steps.append(done[step])
            continue
        months = _training_months(loans, args)
        result = run_step(step, loans, k, args.parallel, workdir, profile_dir, months)
        steps.append(result)
        with progress.open("a") as out:
            out.write(json.dumps(result) + "\n")
        print(f"[{loans:,} loans] {json.dumps(result)}", file=sys.stderr, flush=True)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"loans": loans, "shards": k, "steps": steps}


def write_profiles(run: dict[str, Any], verdicts: list, profile_dir: Path) -> list[Path]:
    """Top functions (cumulative time) of the steps behind each missed target."""
    written = []
    for step in missed_steps(verdicts, run["steps"]):
        for prof in sorted(profile_dir.glob(f"{step}-*.prof"))[:1]:  # one shard says enough
            text = io.StringIO()
            pstats.Stats(str(prof), stream=text).sort_stats("cumulative").print_stats(PROFILE_TOP)
            out = prof.with_name(f"{run['loans']}-{prof.stem}-top.txt")
            out.write_text(text.getvalue())
            written.append(out)
    return written


def report(run: dict[str, Any], profile_dir: Path | None) -> str:
    verdicts = evaluate(run["loans"], run["steps"])
    parts = [
        f"## {run['loans']:,} loans, {run['shards']} shard(s)",
        "",
        stages_table(run["steps"]),
        "",
        targets_table(run["loans"], run["shards"], verdicts),
    ]
    if profile_dir:
        profiles = write_profiles(run, verdicts, profile_dir)
        parts += ["", "Profiles of the missed targets' steps:", *(f"- {p}" for p in profiles)]
    return "\n".join(parts)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--shards", type=int, nargs="+", default=None,
        help="K per --loans entry (one value: for all); default NPL_SHARDS or 1",
    )  # fmt: skip
    parser.add_argument("--parallel", type=int, default=2, help="shard processes at a time")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    parser.add_argument("--resume", action="store_true", help="skip steps in steps.jsonl")
    parser.add_argument("--profile", action="store_true", help="cProfile each step")
    parser.add_argument(
        "--training-months", type=int, default=TRAINING_MONTHS,
        help="month-ends the training step uses (the weekly DAG: 18)",
    )  # fmt: skip
    parser.add_argument(
        "--training-months-above-1m", type=int, default=None,
        help="a shorter window for sizes above 1M loans, where training is not a target",
    )  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _parse()
    if args.child:
        out = child(args.child, args.loans[0], args.shard, args.profile_to, args.training_months)
        print(json.dumps(out))
        return
    shards = args.shards or [int(os.environ.get("NPL_SHARDS", "1"))]
    if len(shards) == 1:
        shards = shards * len(args.loans)
    if len(shards) != len(args.loans):
        raise SystemExit("--shards takes one value, or one per --loans entry")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = ROOT / "benchmarks" / "results"
    profile_dir = results / f"profiles-{stamp}" if args.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True)
    document: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
        },
        "as_of": END.isoformat(),
        "runs": [],
    }
    for loans, k in zip(args.loans, shards, strict=True):
        run = run_size(loans, k, args, profile_dir)
        document["runs"].append(run)
        print(report(run, profile_dir) + "\n", flush=True)
        (results / f"bench-{stamp}.json").write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
