"""Issue #14's targets, the figures a bench run measures for them, and the printed table.

Pure (no I/O): ``benchmarks/run.py`` hands in its per-step results, this module picks
the figure behind each target, says met or missed and by how much, and formats the
Markdown tables ``make bench`` prints and ``benchmarks/README.md`` keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ONE_MILLION = 1_000_000
# The steps of one day's chain, in order (the DPD anchor and the warm-up are not in it).
DAY_STEPS = (
    "ingest", "delinquency", "score", "monitoring", "plan", "placements", "worklists",
    "delivery", "kpis",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Target:
    """One line of the issue's targets table: ``measured <= limit`` (or ``>=``)."""

    key: str
    what: str
    limit: float
    unit: str  # "s", "MB", "rows/s" or "x"
    at_least: bool = False  # True: the measured figure must reach the limit


@dataclass(frozen=True, slots=True)
class Verdict:
    target: Target
    measured: float | None  # None: not measured in this run (a step missing or skipped)

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        if self.target.at_least:
            return self.measured >= self.target.limit
        return self.measured <= self.target.limit

    def note(self) -> str:
        """``met``/``missed`` and by how much, in the target's own unit."""
        if self.measured is None:
            return "not measured"
        limit, value, unit = self.target.limit, self.measured, self.target.unit
        if self.target.at_least:
            share = value / limit if limit else float("inf")
            if self.met:
                return f"met ({share:.1f}x the target)"
            short = limit / value if value else float("inf")
            gap = fmt(limit - value, unit)
            return f"missed by {gap} ({share:.0%} of the target, {short:.1f}x short)"
        if self.met:
            return f"met ({value / limit:.0%} of the limit)" if limit else "met"
        return f"missed by {fmt(value - limit, unit)} ({value / limit:.1f}x the limit)"


def targets_for(loans: int) -> list[Target]:
    """The targets a run of ``loans`` loans is judged by: the 1M line up to 1M loans (a
    smaller run meeting it says little; missing it says a lot), the 10M line above."""
    small = loans <= ONE_MILLION
    chain = (
        Target("chain_wall_s", "daily chain at 1M loans: wall", 60, "s")
        if small
        else Target("chain_wall_s", "daily chain at 10M loans, sharded: wall", 600, "s")
    )
    peak = (
        Target("chain_peak_mb", "daily chain at 1M loans: peak per process", 4096, "MB")
        if small
        else Target("chain_peak_mb", "daily chain at 10M loans: peak per process", 16384, "MB")
    )
    rows = [
        chain,
        peak,
        Target("history_rows_per_s", "history ingest", 200_000, "rows/s", at_least=True),
        Target("reason_rows_per_s", "reason codes", 20_000, "rows/s", at_least=True),
    ]
    if small:
        rows.append(Target("train_s", "training at 1M loans", 300, "s"))
    rows.append(Target("dpd_vs_anchor", "DPD step vs the DuckDB SQL anchor, same run", 1.5, "x"))
    return rows


def _by_step(steps: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(s["step"]): s for s in steps}


def measured_figures(steps: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The figure behind each target key, from one run's step results (None if absent).

    The chain's wall is the sum of its steps' walls only when every step of the day ran.
    The DPD step is the snapshot's read + compute (summed over shards: the work the
    anchor does in one query), against the anchor query's time.
    """
    by = _by_step(steps)
    day = [by[s] for s in DAY_STEPS if s in by]
    complete = len(day) == len(DAY_STEPS)
    figures: dict[str, float | None] = {
        "chain_wall_s": sum(float(s["seconds"]) for s in day) if complete else None,
        "chain_peak_mb": max(float(s["peak_mb"]) for s in day) if day else None,
        "history_rows_per_s": _get(by, "history_ingest", "rows_per_s"),
        "reason_rows_per_s": _get(by, "score", "reason_rows_per_s"),
        "train_s": _get(by, "train", "seconds"),
        "dpd_vs_anchor": None,
    }
    dpd, anchor = _get(by, "delinquency", "dpd_s"), _get(by, "dpd_anchor", "seconds")
    if dpd is not None and anchor:
        figures["dpd_vs_anchor"] = dpd / anchor
    return figures


def _get(by: Mapping[str, Mapping[str, Any]], step: str, key: str) -> float | None:
    value = by.get(step, {}).get(key)
    return None if value is None else float(value)


def evaluate(loans: int, steps: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    figures = measured_figures(steps)
    return [Verdict(t, figures.get(t.key)) for t in targets_for(loans)]


def fmt(value: float, unit: str) -> str:
    """A figure in its unit, rounded for reading (from 5 minutes on, in minutes)."""
    if unit == "s":
        return f"{value / 60:,.1f} min" if value >= 300 else f"{value:,.1f} s"
    if unit == "MB":
        return f"{value / 1024:.1f} GB" if value >= 1024 else f"{value:,.0f} MB"
    if unit == "rows/s":
        return f"{value / 1000:,.1f}k rows/s" if value >= 1000 else f"{value:,.0f} rows/s"
    return f"{value:.2f}x"


def _limit(target: Target) -> str:
    return ("≥ " if target.at_least else "≤ ") + fmt(target.limit, target.unit)


def targets_table(loans: int, shards: int, verdicts: Sequence[Verdict]) -> str:
    """The issue's targets table with this run's figures, as Markdown."""
    lines = [
        f"Targets, measured at {loans:,} loans, {shards} shard(s):",
        "",
        "| what | target | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for v in verdicts:
        measured = "—" if v.measured is None else fmt(v.measured, v.target.unit)
        lines.append(f"| {v.target.what} | {_limit(v.target)} | {measured} | {v.note()} |")
    return "\n".join(lines)


def stages_table(steps: Sequence[Mapping[str, Any]]) -> str:
    """Every step's wall, peak RSS per process, rows and rows/s, and its phases."""
    lines = [
        "| step | seconds | peak RSS / process | rows | rows/s | detail |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in steps:
        rows, rate = s.get("rows"), s.get("rows_per_s")
        lines.append(
            f"| {s['step']} | {float(s['seconds']):,.1f} | {fmt(float(s['peak_mb']), 'MB')} "
            f"| {'' if rows is None else f'{int(rows):,}'} "
            f"| {'' if rate is None else f'{float(rate):,.0f}'} | {_detail(s)} |"
        )
    return "\n".join(lines)


def _detail(step: Mapping[str, Any]) -> str:
    parts = []
    if step.get("shards", 1) > 1:
        parts.append(f"{step['shards']} shards, slowest {float(step['slowest_shard_s']):.1f} s")
    for name, seconds in (step.get("phases_s") or {}).items():
        parts.append(f"{name} {float(seconds):.1f}")
    parts.extend(f"{k} {v}" for k, v in (step.get("notes") or {}).items())
    return ", ".join(parts)


def missed_steps(verdicts: Sequence[Verdict], steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """The steps to profile for the missed targets: where the missing time or memory is."""
    by = _by_step(steps)
    out: list[str] = []
    for v in verdicts:
        if v.met is not False:
            continue
        key = v.target.key
        if key == "chain_wall_s":
            day = sorted((by[s] for s in DAY_STEPS if s in by), key=lambda s: -s["seconds"])
            out += [str(s["step"]) for s in day[:3]]
        elif key == "chain_peak_mb":
            day = [by[s] for s in DAY_STEPS if s in by]
            out.append(str(max(day, key=lambda s: s["peak_mb"])["step"]))
        else:
            out.append(
                {
                    "history_rows_per_s": "history_ingest",
                    "reason_rows_per_s": "score",
                    "train_s": "train",
                    "dpd_vs_anchor": "delinquency",
                }[key]
            )
    return list(dict.fromkeys(out))
