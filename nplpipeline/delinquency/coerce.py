"""Turn warehouse columns of any dtype into the plain numpy arrays the engine needs.

Inputs arrive as object, numpy or Arrow-backed columns depending on the loader (CSV,
parquet, DuckDB, SQLAlchemy). Converting once, here, keeps the arithmetic dtype-blind.
Money becomes integer cents so cumulative sums and tolerance checks are exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Sentinel for a missing date: compares after every real day, so it never "counts".
MISSING_DAY = np.iinfo(np.int64).max
_NAT = np.iinfo(np.int64).min  # NaT viewed as int64


def to_epoch_days(values: pd.Series) -> np.ndarray:
    """Calendar day (days since 1970-01-01, int64) of dates or naive local timestamps.

    Timezone-aware values keep their wall-clock date: paid_at is a local timestamp, and
    the day a customer paid is the day on their calendar, not in UTC.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_days(pa.array(values, from_pandas=True))
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _numpy_days(values.dt.tz_localize(None).to_numpy())
    if dtype.kind == "M":
        return _numpy_days(values.to_numpy())
    try:  # python date/datetime objects convert fastest through Arrow
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is not None and (pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type)):
        return _arrow_days(arr)
    if arr is not None and pa.types.is_null(arr.type):
        return np.full(len(values), MISSING_DAY, dtype=np.int64)
    parsed = pd.to_datetime(values, format="ISO8601")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    return _numpy_days(parsed.to_numpy())


def _arrow_days(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
        arr = pc.local_timestamp(arr)
    if not (pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type)):
        raise TypeError(f"expected a date or timestamp column, got {arr.type}")
    return _numpy_days(arr.to_numpy(zero_copy_only=False))


def _numpy_days(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind != "M":
        raise TypeError(f"expected datetime64 values, got {values.dtype}")
    days = values.astype("datetime64[D]").view(np.int64)
    missing = days == _NAT
    if missing.any():
        days[missing] = MISSING_DAY
    return days


def to_cents(values: pd.Series) -> np.ndarray:
    """Money as whole cents in float64; a null amount counts as zero (the contract forbids it).

    Float64 holds whole cents exactly up to 2**53 (9e13 yuan), so running sums stay
    exact without an int64 copy of every column. Amounts are rounded to the cent first.
    """
    if values.dtype == object:
        values = pd.to_numeric(values)
    if values.dtype == np.float64:
        floats = values.to_numpy()  # no copy
    else:
        floats = values.to_numpy(dtype=np.float64, na_value=np.nan)
    cents = floats * 100.0
    np.rint(cents, out=cents)
    missing = np.isnan(cents)
    if missing.any():
        cents[missing] = 0.0
    return cents


def to_int(values: pd.Series, name: str) -> np.ndarray:
    """Integer key column; nulls are refused because they would misorder a schedule."""
    if values.dtype.kind in "iu":
        return values.to_numpy().astype(np.int64, copy=False)
    numbers = pd.to_numeric(values) if values.dtype == object else values
    arr = np.asarray(numbers.to_numpy(dtype="float64", na_value=np.nan))
    if np.isnan(arr).any():
        raise ValueError(f"{name} has null values")
    return arr.astype(np.int64)


def to_arrow_strings(values: pd.Series) -> pa.Array:
    """Identifier column as one contiguous Arrow string array (zero-copy when possible)."""
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(values.astype("str"), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    return arr


def is_blank(values: pd.Series) -> np.ndarray:
    """True where an optional identifier is null or empty (e.g. reversal_of)."""
    arr = to_arrow_strings(values)
    blank = pc.or_kleene(pc.is_null(arr), pc.equal(pc.utf8_trim_whitespace(arr), ""))
    return blank.fill_null(True).to_numpy(zero_copy_only=False)
