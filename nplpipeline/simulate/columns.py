"""Vectorised builders that turn numpy arrays into typed Arrow columns.

Amounts travel as int64 cents inside the simulator (exact sums, no float drift) and only
become decimal128(18, 2) here; timestamps are int64 local seconds since the epoch.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nplpipeline.contract import ENTITIES

AMOUNT = pa.decimal128(18, 2)
RATE = pa.decimal128(8, 4)
TS = pa.timestamp("s")

_ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "decimal": AMOUNT,
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": TS,
}


def schema_for(entity: str) -> pa.Schema:
    """Arrow schema of an entity in contract column order (rates get 4 decimals)."""
    fields = []
    for f in ENTITIES[entity].fields:
        t = RATE if f.name == "annual_interest_rate" else _ARROW_TYPES[f.type]
        fields.append(pa.field(f.name, t))
    return pa.schema(fields)


def decimal(
    unscaled: np.ndarray, type_: pa.DataType = AMOUNT, null: np.ndarray | None = None
) -> pa.Array:
    """decimal128 from unscaled int64 (cents for amounts) by writing the 16-byte buffer."""
    v = np.ascontiguousarray(unscaled, dtype=np.int64)
    buf = np.empty((len(v), 2), dtype=np.int64)
    buf[:, 0] = v
    buf[:, 1] = v >> 63  # sign extension
    validity = None
    n_null = 0
    if null is not None and null.any():
        validity = pa.py_buffer(np.packbits(~null, bitorder="little"))
        n_null = int(null.sum())
    return pa.Array.from_buffers(type_, len(v), [validity, pa.py_buffer(buf)], null_count=n_null)


def timestamps(seconds: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]"), type=TS, mask=null)


def dates(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32(), mask=null).cast(pa.date32())


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """'L000000123'-style identifiers, built without Python loops."""
    s = pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0"
    )
    return pc.binary_join_element_wise(prefix, s, "")


def take_strings(
    values: list[str] | tuple[str, ...], idx: np.ndarray, null: np.ndarray | None = None
) -> pa.Array:
    """Map integer codes to strings (dictionary decode)."""
    arr = pa.array(list(values), type=pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))
    if null is not None and null.any():
        arr = pc.if_else(pa.array(null), pa.scalar(None, pa.string()), arr)
    return arr


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix (inverse CDF)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def time_of_day(rng: np.random.Generator, n: int, start_h: float, end_h: float) -> np.ndarray:
    """Seconds after midnight, uniform in [start_h, end_h) hours (e.g. contact hours)."""
    lo, hi = int(start_h * 3600), int(end_h * 3600)
    return rng.integers(lo, hi, size=n, dtype=np.int64)


def make_table(entity: str, columns: dict[str, pa.Array], drop_day: np.ndarray) -> pa.Table:
    """Contract-ordered table plus the private `_drop` (extract day) column the writer splits on."""
    schema = schema_for(entity)
    arrays = [
        columns[f.name].cast(f.type) if columns[f.name].type != f.type else columns[f.name]
        for f in schema
    ]
    t = pa.Table.from_arrays(arrays, schema=schema)
    return t.append_column("_drop", pa.array(np.asarray(drop_day, dtype=np.int32)))
