"""Ground truth for judging models and strategies (the pipeline never reads it).

Streams one parquet file per table through ParquetWriter so memory stays per-chunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nplpipeline.contract import PRODUCTS

from .behaviour import STATUSES, Behaviour
from .borrowers import Borrowers
from .columns import dates
from .loans import Loans, loan_ids

RECOVERY_SCHEMA = pa.schema(
    [
        ("loan_id", pa.string()),
        ("as_of_date", pa.date32()),
        ("dpd", pa.int32()),
        ("true_recovery_prob", pa.float64()),
        ("kind", pa.string()),
        ("cured_within_90d", pa.bool_()),
    ]
)


class TruthWriter:
    """Owns the truth parquet writers for the whole run."""

    def __init__(self, truth_dir: Path) -> None:
        self.dir = truth_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, pq.ParquetWriter] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self._writers:
            self._writers[name] = pq.ParquetWriter(
                self.dir / f"{name}.parquet", table.schema, compression="zstd"
            )
        if table.num_rows:
            self._writers[name].write_table(table)

    def close(self) -> None:
        for w in self._writers.values():
            w.close()


def recovery_table(ln: Loans, beh: Behaviour) -> pa.Table:
    t = beh.truth
    order = np.lexsort((t["loan"], t["as_of_day"]))
    return pa.Table.from_arrays(
        [
            loan_ids(ln, t["loan"][order]),
            dates(t["as_of_day"][order]),
            pa.array(t["dpd"][order].astype(np.int32)),
            pa.array(t["prob"][order]),
            pa.array(np.array(["default", "late_payment"])[t["kind"][order]]),
            pa.array(t["cured90"][order]),
        ],
        schema=RECOVERY_SCHEMA,
    )


def _opt_date(day: np.ndarray, ok: np.ndarray) -> pa.Array:
    return dates(np.where(ok, day, 0), null=~ok)


def episodes_table(
    ln: Loans, beh: Behaviour, staff_ids: list[str], agency_ids: list[str], end_day: int
) -> pa.Table:
    ep = beh.episodes
    fin = np.isfinite(ep.cd)
    cd = np.where(fin, ep.cd, 0).astype(np.int64)
    cure_day = ep.d0 + cd
    known = fin & (cure_day <= end_day)
    co = ep.cd > 180
    wo = ep.cd > 365
    coll = pa.array(staff_ids)
    ag = pa.array([*agency_ids, None])
    return pa.table(
        {
            "loan_id": loan_ids(ln, ep.loan),
            "default_date": dates(ep.d0),
            "cure_date": _opt_date(cure_day, known),
            "latent_cure_dpd": pa.array(np.where(fin, ep.cd, np.nan), mask=~fin),
            "cured_within_90d": pa.array(ep.cd <= 90),
            "charge_off_date": _opt_date(ep.d0 + 180, co & (ep.d0 + 180 <= end_day)),
            "write_off_date": _opt_date(ep.d0 + 365, wo & (ep.d0 + 365 <= end_day)),
            "agency_id": ag.take(pa.array(np.where(ep.agency >= 0, ep.agency, len(agency_ids)))),
            "placement_dpd": pa.array(ep.place_dpd, mask=ep.place_dpd < 0),
            "early_collector_id": coll.take(pa.array(ep.early_coll)),
            "intensity_early": pa.array(ep.i_early),
            "mid_collector_id": coll.take(pa.array(ep.mid_coll)),
            "intensity_mid": pa.array(ep.i_mid),
            "flexible_plan_offered": pa.array(ep.plan),
            "field_visit": pa.array(ep.visit),
            "suppressed": pa.array(ep.suppressed),
            "vulnerable": pa.array(ep.vulnerable),
            "borrower_cure_multiplier": pa.array(ep.borrower_mult),
            "cure_amount": pa.array(np.where(known, ep.cure_amount, 0) / 100.0, mask=~known),
        }
    )


def loan_state_table(ln: Loans, b: Borrowers, beh: Behaviour, end_day: int) -> pa.Table:
    """The simulator's own end_date view per loan (DPD, principal outstanding, status)."""
    c = ln.cust
    income = np.where(b.income_missing[c], np.nan, b.income[c])
    return pa.table(
        {
            "loan_id": loan_ids(ln, np.arange(ln.n)),
            "status": pa.array(STATUSES).take(pa.array(beh.status_end)),
            "dpd": pa.array(beh.dpd_end.astype(np.int32)),
            "outstanding_principal": pa.array(beh.outstanding_end / 100.0),
            "age": pa.array(np.floor(b.age_end[c]).astype(np.int32)),
            "monthly_income": pa.array(income, mask=np.isnan(income)),
            "true_monthly_income": pa.array(b.income[c]),
            "product": pa.array(list(PRODUCTS)).take(pa.array(ln.product)),
            "origination_date": dates(ln.orig_day),
        }
    )


def npl_parts(
    ln: Loans, b: Borrowers, beh: Behaviour, npl_min_dpd: int = 91
) -> dict[str, np.ndarray]:
    """Per-loan pieces of the NPL ratio (aggregated across chunks by the engine)."""
    on_book = np.isin(beh.status_end, [STATUSES.index("active"), STATUSES.index("charged_off")])
    bal = np.where(on_book, beh.outstanding_end, 0).astype(np.float64)
    npl = np.where(beh.dpd_end >= npl_min_dpd, bal, 0.0)
    return {
        "bal": bal,
        "npl": npl,
        "young": b.age_end[ln.cust] < 30,
        "income": np.where(b.income_missing[ln.cust], np.nan, b.income[ln.cust]),
    }
