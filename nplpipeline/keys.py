"""Membership tests on id columns at portfolio scale.

pandas 3's Arrow-backed ``str`` columns implement ``isin`` by converting every member to
a Python scalar one at a time: fine for a handful of channels, seconds for 500k loan
ids. Hashing both sides through a ``pd.Index`` is the vectorised path.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow_strings(values: object) -> pa.ChunkedArray | None:
    """``values`` as Arrow large strings when they already are Arrow strings (no copy
    into Python objects), else None."""
    arr = getattr(values, "array", values)
    if not isinstance(arr, pd.arrays.ArrowStringArray | pd.arrays.ArrowExtensionArray):
        return None
    data = pa.chunked_array(arr._pa_array) if hasattr(arr, "_pa_array") else None
    if data is None or not (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return None
    return data.cast(pa.large_string())


def positions(values: pd.Series | pd.Index, table: pd.Index) -> np.ndarray:
    """Position of each of ``values`` in the unique ``table`` (-1: absent), by hashing:
    in Arrow when both sides are Arrow strings (ids are), else through ``pd.Index``."""
    v, t = _arrow_strings(values), _arrow_strings(table)
    if v is not None and t is not None:
        found = pc.index_in(v, value_set=pa.concat_arrays(t.chunks) if t.num_chunks else t)
        return found.fill_null(-1).to_numpy().astype(np.int64)
    return table.get_indexer(np.asarray(values, dtype=object))


def isin(values: pd.Series, members: pd.Series | pd.Index | Iterable[object]) -> np.ndarray:
    """``values.isin(members)`` by hashing, as a bool array aligned with ``values``."""
    if not isinstance(members, pd.Series | pd.Index | np.ndarray):
        members = list(members)
    if _arrow_strings(values) is not None and _arrow_strings(members) is not None:
        return positions(values, pd.Index(pd.unique(pd.Series(members)))) >= 0
    table = pd.Index(pd.unique(np.asarray(members, dtype=object)))
    return table.get_indexer(np.asarray(values, dtype=object)) >= 0
