"""The bench's targets table: which figure judges which target, met/missed and by how much."""

from __future__ import annotations

from benchmarks.targets import (
    DAY_STEPS,
    Target,
    Verdict,
    evaluate,
    missed_steps,
    stages_table,
    targets_table,
)


def _step(name: str, seconds: float, peak_mb: float = 500, **extra: object) -> dict[str, object]:
    return {"step": name, "seconds": seconds, "peak_mb": peak_mb, **extra}


def _run(day_seconds: float = 5.0, peak: float = 1000) -> list[dict[str, object]]:
    steps = [
        _step("history_ingest", 100, rows_per_s=250_000),
        _step("train", 400),
        _step("dpd_anchor", 2.0),
    ]
    for name in DAY_STEPS:
        extra: dict[str, object] = {}
        if name == "delinquency":
            extra["dpd_s"] = 4.0
        if name == "score":
            extra["reason_rows_per_s"] = 5_000
        steps.append(_step(name, day_seconds, peak if name == "kpis" else 300, **extra))
    return steps


def _by_key(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.target.key: v for v in verdicts}


def test_each_target_reads_its_own_figure() -> None:
    verdicts = _by_key(evaluate(1_000_000, _run(day_seconds=5.0, peak=5000)))
    assert verdicts["chain_wall_s"].measured == 5.0 * len(DAY_STEPS)
    assert verdicts["chain_wall_s"].met is True  # 45 s <= 60 s
    assert verdicts["chain_peak_mb"].measured == 5000
    assert verdicts["chain_peak_mb"].met is False
    assert verdicts["history_rows_per_s"].met is True  # 250k >= 200k
    assert verdicts["reason_rows_per_s"].met is False  # 5k < 20k
    assert verdicts["train_s"].met is False  # 400 s > 300 s
    assert verdicts["dpd_vs_anchor"].measured == 2.0  # 4 s of read + compute vs 2 s
    assert verdicts["dpd_vs_anchor"].met is False


def test_by_how_much_in_the_targets_unit() -> None:
    over = Verdict(Target("t", "chain", 60, "s"), 365)
    assert over.note() == "missed by 5.1 min (6.1x the limit)"
    short = Verdict(Target("r", "ingest", 200_000, "rows/s", at_least=True), 16_000)
    assert short.note() == "missed by 184.0k rows/s (8% of the target, 12.5x short)"
    assert Verdict(Target("m", "peak", 4096, "MB"), 1024).note() == "met (25% of the limit)"
    assert Verdict(Target("r", "codes", 20_000, "rows/s", True), 30_000).note() == (
        "met (1.5x the target)"
    )
    assert Verdict(Target("x", "dpd", 1.5, "x"), None).note() == "not measured"


def test_a_chain_missing_a_step_has_no_wall_and_10m_has_its_own_limits() -> None:
    steps = [s for s in _run() if s["step"] != "kpis"]
    verdicts = _by_key(evaluate(10_000_000, steps))
    assert verdicts["chain_wall_s"].measured is None
    assert verdicts["chain_wall_s"].met is None
    assert verdicts["chain_wall_s"].target.limit == 600
    assert verdicts["chain_peak_mb"].target.limit == 16384
    assert "train_s" not in verdicts  # the training target is stated at 1M loans


def test_the_printed_tables() -> None:
    steps = _run(day_seconds=20.0)
    verdicts = evaluate(1_000_000, steps)
    table = targets_table(1_000_000, 4, verdicts).splitlines()
    assert table[0] == "Targets, measured at 1,000,000 loans, 4 shard(s):"
    assert table[2] == "| what | target | measured | verdict |"
    assert table[4] == (
        "| daily chain at 1M loans: wall | ≤ 60.0 s | 180.0 s | "
        "missed by 120.0 s (3.0x the limit) |"
    )
    assert len(table) == 4 + len(verdicts)
    stages = stages_table([_step("ingest", 12.34, 2048, rows=46_000, rows_per_s=3728,
                                 phases_s={"read": 1.0})])  # fmt: skip
    assert stages.splitlines()[-1] == "| ingest | 12.3 | 2.0 GB | 46,000 | 3,728 | read 1.0 |"


def test_missed_targets_point_at_the_steps_to_profile() -> None:
    steps = _run(day_seconds=20.0, peak=5000)
    steps[-2]["seconds"] = 90.0  # delivery: the slowest day step
    verdicts = evaluate(1_000_000, steps)
    to_profile = missed_steps(verdicts, steps)
    assert to_profile[0] == "delivery"  # the chain's wall: its three slowest steps
    assert "kpis" in to_profile  # the peak
    assert {"score", "train", "delinquency"} <= set(to_profile)
    assert "history_ingest" not in to_profile  # met
