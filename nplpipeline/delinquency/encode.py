"""Map loan identifiers to integer positions once; everything after is integer arithmetic.

Hashing ~20M identifier strings is the most expensive step of a snapshot, so it is done
once per table, by Arrow, and never again per as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True, slots=True)
class KeyIndex:
    """The universe of keys (loans.loan_id); a key's code is its row position."""

    keys: pa.Array

    def __len__(self) -> int:
        return len(self.keys)

    def check_unique(self, what: str) -> None:
        """Refuse null or repeated keys: rows would silently attach to the first copy."""
        if self.keys.null_count:
            raise ValueError(f"{what} has null values")
        if pc.count_distinct(self.keys).as_py() != len(self.keys):
            raise ValueError(f"{what} must be unique")

    def positions(self, values: pa.Array) -> np.ndarray:
        """Position of each value among the keys (int32), -1 when absent or null."""
        pos = pc.index_in(values, value_set=self.keys)
        if pos.null_count:
            pos = pos.fill_null(-1)
        return pos.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
