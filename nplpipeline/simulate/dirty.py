"""Injected bad rows, so the pipeline's validation and quarantine have something to catch.

Dirty rows are *added* next to clean ones (fresh keys, or a conflicting copy of a clean key
for duplicates); clean rows are never modified, so ground truth stays valid. Every injected
row is recorded with its kind and the column that is wrong.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .borrowers import phones
from .columns import RATE, dates, decimal, ids, timestamps
from .config import DAY

# (kind, entity, column)
KINDS: tuple[tuple[str, str, str], ...] = (
    ("duplicate_key", "customers", "phone"),
    ("duplicate_key", "loans", "principal_amount"),
    ("duplicate_key", "installments", "principal_due"),
    ("duplicate_key", "repayments", "amount"),
    ("duplicate_key", "collection_actions", "outcome"),
    ("negative_amount", "repayments", "amount"),
    ("negative_amount", "installments", "principal_due"),
    ("orphan_loan_id", "repayments", "loan_id"),
    ("orphan_loan_id", "installments", "loan_id"),
    ("orphan_loan_id", "collection_actions", "loan_id"),
    ("future_date", "repayments", "paid_at"),
    ("future_date", "loans", "origination_date"),
    ("impossible_date", "customers", "birth_date"),
    ("malformed_phone", "customers", "phone"),
    ("invalid_value", "loans", "product"),
    ("invalid_value", "repayments", "channel"),
    ("invalid_value", "collection_actions", "outcome"),
    ("rate_above_cap", "loans", "annual_interest_rate"),
)
KIND_NAMES = tuple(sorted({k for k, _, _ in KINDS}))
DIRTY_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        ("drop_date", pa.date32()),
        ("key", pa.string()),
        ("kind", pa.string()),
        ("column", pa.string()),
    ]
)
_KEY = {
    "customers": ("customer_id",),
    "loans": ("loan_id",),
    "installments": ("loan_id", "installment_no"),
    "repayments": ("repayment_id",),
    "collection_actions": ("action_id",),
}
_ID_PREFIX = {
    "customers": ("C", 9),
    "loans": ("L", 9),
    "repayments": ("P", 13),
    "collection_actions": ("A", 13),
}


def _set(t: pa.Table, name: str, arr: pa.Array | pa.ChunkedArray) -> pa.Table:
    i = t.schema.get_field_index(name)
    return t.set_column(i, t.schema.field(i), arr.cast(t.schema.field(i).type))


def _fresh_ids(entity: str, chunk: int, start: int, n: int) -> pa.Array:
    prefix, width = _ID_PREFIX[entity]
    base = 900_000_000 if width == 9 else 9_000_000_000_000
    return ids(prefix, base + chunk * 1_000_000 + start + np.arange(n), width)


def _key_strings(t: pa.Table, entity: str) -> pa.Array:
    cols = [pc.cast(t[c], pa.string()) for c in _KEY[entity]]
    return cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "|")


def _cents(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """decimal128(.,2) -> int64 cents, exactly."""
    a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    raw = np.frombuffer(a.buffers()[1], dtype=np.int64).reshape(-1, 2)
    return raw[a.offset : a.offset + len(a), 0].copy()  # low word = unscaled value


def inject(
    rng: np.random.Generator, tables: dict[str, pa.Table], share: float, chunk: int
) -> tuple[dict[str, pa.Table], pa.Table]:
    """Add dirty rows to the chunk's entity tables; return them and the dirty-row record."""
    if share <= 0:
        return tables, DIRTY_SCHEMA.empty_table()
    per_entity: dict[str, int] = {}
    for _, ent, _ in KINDS:
        per_entity[ent] = per_entity.get(ent, 0) + 1
    out = dict(tables)
    records = []
    next_id: dict[str, int] = {}
    for kind, ent, col in KINDS:
        src_t = tables[ent]
        if src_t.num_rows == 0:
            continue
        n = max(1, round(share * src_t.num_rows / per_entity[ent]))
        idx = np.sort(rng.choice(src_t.num_rows, size=min(n, src_t.num_rows), replace=False))
        n = len(idx)
        t = src_t.take(pa.array(idx))
        drop = t["_drop"].to_numpy()
        fresh = kind != "duplicate_key" and ent in _ID_PREFIX
        if fresh:
            start = next_id.get(ent, 0)
            next_id[ent] = start + n
            t = _set(t, _KEY[ent][0], _fresh_ids(ent, chunk, start, n))
        if kind == "duplicate_key":
            if col == "phone":
                t = _set(t, col, phones(rng, n))
            elif col == "outcome":
                t = _set(
                    t,
                    col,
                    pa.array(
                        np.where(
                            pc.equal(t[col], "refused").to_numpy(zero_copy_only=False),
                            "paid",
                            "refused",
                        )
                    ),
                )
            else:
                t = _set(t, col, decimal(_cents(t[col]) + rng.integers(100, 50_000, n)))
        elif kind == "negative_amount":
            t = _set(t, col, decimal(-np.maximum(_cents(t[col]), 1)))
            if ent == "installments":
                t = _set(t, "installment_no", pc.add(t["installment_no"], 500))
        elif kind == "orphan_loan_id":
            start = next_id.get("orphan", 0)
            next_id["orphan"] = start + n
            t = _set(
                t, "loan_id", ids("L", 990_000_000 + chunk * 100_000 + start + np.arange(n), 9)
            )
        elif kind == "future_date" and col == "paid_at":
            t = _set(
                t,
                col,
                timestamps(
                    (drop.astype(np.int64) + rng.integers(5, 60, n)) * DAY + rng.integers(0, DAY, n)
                ),
            )
        elif kind == "future_date":
            t = _set(t, col, dates(drop + rng.integers(10, 200, n)))
        elif kind == "impossible_date":
            old = (np.datetime64("1850-01-01") - np.datetime64("1970-01-01")).astype(
                np.int64
            ) + rng.integers(0, 365, n)
            t = _set(
                t, col, dates(np.where(rng.random(n) < 0.5, old, drop + rng.integers(1, 3000, n)))
            )
        elif kind == "malformed_phone":
            bad = np.array(["12345", "+86 138-0013", "1380013800", "+86138001380000", "电话未知"])
            t = _set(t, col, pa.array(bad[rng.integers(0, len(bad), n)]))
        elif kind == "invalid_value":
            bad = {"product": "payday", "channel": "cash", "outcome": "threatened"}[col]
            t = _set(t, col, pa.array(np.full(n, bad)))
        elif kind == "rate_above_cap":
            t = _set(t, col, decimal(rng.integers(3700, 7200, n), RATE))
        out[ent] = pa.concat_tables([out[ent], t])
        records.append(
            pa.table(
                {
                    "entity": pa.array(np.full(n, ent)),
                    "drop_date": dates(drop),
                    "key": _key_strings(t, ent),
                    "kind": pa.array(np.full(n, kind)),
                    "column": pa.array(np.full(n, col)),
                },
                schema=DIRTY_SCHEMA,
            )
        )
    return out, pa.concat_tables(records) if records else DIRTY_SCHEMA.empty_table()
