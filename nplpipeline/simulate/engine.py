"""Chunk loop: generate, inject dirt, write landing drops and truth, aggregate the summary.

Memory is bounded by `chunk_loans`: a chunk's customers, loans and all their derived rows
are produced, written and released before the next chunk starts; only counters, a set of
drop days and fixed-size income histograms survive across chunks.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from .actions import collection_actions
from .behaviour import Behaviour, simulate_behaviour
from .borrowers import Borrowers, customer_ids, customers_table, draw_borrowers
from .config import MODEL, SimulationConfig, SimulationSummary, from_day, to_day
from .dirty import KIND_NAMES, inject
from .loans import Loans, Schedule, build_schedule, draw_loans, installments_table
from .satisfaction import satisfaction
from .staff import Staff, build_staff, staff_tables
from .truth import TruthWriter, episodes_table, loan_state_table, npl_parts, recovery_table
from .writer import write_entity

CUSTOMERS_PER_LOAN = 0.8
_INCOME_EDGES = np.linspace(np.log(100.0), np.log(2_000_000.0), 4001)


@dataclasses.dataclass(frozen=True)
class ChunkWorld:
    """One chunk's generated world before dirt is added (what the lender twin continues)."""

    chunk: int
    staff: Staff
    borrowers: Borrowers
    loans: Loans
    schedule: Schedule
    behaviour: Behaviour
    customers: pa.Table
    actions: pa.Table


class _NplAccumulator:
    """NPL ratio overall, for under-30s and for the lowest income quintile, across chunks."""

    def __init__(self) -> None:
        self.bal = self.npl = self.ybal = self.ynpl = 0.0
        k = len(_INCOME_EDGES) + 1
        self.cnt, self.ibal, self.inpl = np.zeros(k), np.zeros(k), np.zeros(k)

    def add(self, parts: dict[str, np.ndarray]) -> None:
        self.bal += parts["bal"].sum()
        self.npl += parts["npl"].sum()
        y = parts["young"]
        self.ybal += parts["bal"][y].sum()
        self.ynpl += parts["npl"][y].sum()
        inc = parts["income"]
        ok = ~np.isnan(inc)
        bins = np.searchsorted(_INCOME_EDGES, np.log(np.maximum(inc[ok], 1.0)))
        self.cnt += np.bincount(bins, minlength=len(self.cnt))
        self.ibal += np.bincount(bins, weights=parts["bal"][ok], minlength=len(self.cnt))
        self.inpl += np.bincount(bins, weights=parts["npl"][ok], minlength=len(self.cnt))

    def result(self) -> dict[str, float]:
        q = np.searchsorted(np.cumsum(self.cnt), 0.2 * self.cnt.sum()) + 1
        ratio = lambda n, d: float(n / d) if d > 0 else 0.0  # noqa: E731
        return {
            "overall": ratio(self.npl, self.bal),
            "age_under_30": ratio(self.ynpl, self.ybal),
            "age_30_plus": ratio(self.npl - self.ynpl, self.bal - self.ybal),
            "lowest_income_quintile": ratio(self.inpl[:q].sum(), self.ibal[:q].sum()),
            "upper_income_quintiles": ratio(self.inpl[q:].sum(), self.ibal[q:].sum()),
        }


def _config_json(config: SimulationConfig) -> dict:
    d = dataclasses.asdict(config)
    d["end_date"] = config.end_date.isoformat()
    return d


def simulate_portfolio(
    config: SimulationConfig,
    landing_dir: Path,
    truth_dir: Path,
    progress: bool = False,
    on_chunk: Callable[[ChunkWorld], None] | None = None,
) -> SimulationSummary:
    """Simulate the portfolio and write landing-zone drops plus ground truth.

    Existing files with the same names are overwritten; use empty directories for a clean run.
    ``on_chunk`` sees each chunk's generated world (the lender twin keeps it to continue).
    """
    landing_dir, truth_dir = Path(landing_dir), Path(truth_dir)
    m = MODEL
    end_day = to_day(config.end_date)
    start_day = end_day - config.history_days
    seeds = np.random.SeedSequence(config.seed).spawn(config.n_chunks + 1)
    staff = build_staff(
        np.random.default_rng(seeds[0]), config.n_loans, start_day, config.history_days
    )

    rows: Counter[str] = Counter()
    dirty: Counter[str] = Counter({k: 0 for k in KIND_NAMES})
    days: set[int] = set()
    agencies, collectors = staff_tables(staff)
    for name, t in (("agencies", agencies), ("collectors", collectors)):
        n, d = write_entity(t, name, 0, landing_dir, config.file_format)
        rows[name] += n
        days |= d

    truth = TruthWriter(truth_dir)
    npl = _NplAccumulator()
    truth_rows: Counter[str] = Counter()
    for c in tqdm(
        range(config.n_chunks), disable=not progress, desc="simulating chunks", unit="chunk"
    ):
        rng = np.random.default_rng(seeds[c + 1])
        first = c * config.chunk_loans
        n = min(config.chunk_loans, config.n_loans - first)
        b = draw_borrowers(rng, max(1, round(CUSTOMERS_PER_LOAN * n)), first, end_day)
        ln = draw_loans(rng, b, n, first, start_day, end_day, m)
        sch = build_schedule(ln)
        first_ts = np.full(b.n, np.iinfo(np.int64).max)
        np.minimum.at(first_ts, ln.cust, ln.orig_ts)
        tables: dict[str, pa.Table] = {"customers": customers_table(rng, b, first_ts, end_day)}
        cust_by_loan = customer_ids(b, ln.cust)
        beh = simulate_behaviour(rng, m, b, ln, sch, staff, c, start_day, end_day, cust_by_loan)
        tables["loans"] = beh.loans
        tables["installments"] = installments_table(ln, sch)
        tables["repayments"] = beh.repayments
        tables["collection_actions"] = collection_actions(
            rng, m, b, ln, sch, staff, beh, c, end_day, cust_by_loan
        )
        tables["satisfaction"] = satisfaction(
            rng, beh.episodes, tables["collection_actions"], cust_by_loan, c, end_day
        )
        if on_chunk is not None:
            on_chunk(
                ChunkWorld(
                    c, staff, b, ln, sch, beh, tables["customers"], tables["collection_actions"]
                )
            )
        tables, dirty_tbl = inject(rng, tables, config.dirty_share, c)
        for name, t in tables.items():
            k, d = write_entity(t, name, c, landing_dir, config.file_format)
            rows[name] += k
            days |= d
        for kind, cnt in Counter(dirty_tbl["kind"].to_pylist()).items():
            dirty[kind] += cnt
        for name, t in (
            ("recovery_probability", recovery_table(ln, beh)),
            ("episodes", episodes_table(ln, beh, staff.collector_id, staff.agency_id, end_day)),
            ("dirty_rows", dirty_tbl),
            ("loan_state", loan_state_table(ln, b, beh, end_day)),
        ):
            truth.write(name, t)
            truth_rows[name] += t.num_rows
        npl.add(npl_parts(ln, b, beh))
        del b, ln, sch, beh, tables, dirty_tbl
    truth.close()

    ratios = npl.result()
    summary = SimulationSummary(
        rows_written={k: int(rows[k]) for k in sorted(rows)},
        dirty_rows={k: int(dirty[k]) for k in sorted(dirty)},
        drop_dates=len(days),
        landing_dir=str(landing_dir),
        truth_dir=str(truth_dir),
        npl_ratio_truth=round(ratios["overall"], 6),
    )
    manifest = {
        "config": _config_json(config),
        "summary": dataclasses.asdict(summary),
        "npl_ratio_by_group": {k: round(v, 6) for k, v in ratios.items()},
        "truth_rows": dict(sorted(truth_rows.items())),
        "first_drop_date": from_day(min(days)).isoformat() if days else None,
        "last_drop_date": from_day(max(days)).isoformat() if days else None,
    }
    (truth_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return summary
