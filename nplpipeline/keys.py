"""Membership tests on id columns at portfolio scale.

pandas 3's Arrow-backed ``str`` columns implement ``isin`` by converting every member to
a Python scalar one at a time: fine for a handful of channels, seconds for 500k loan
ids. Hashing both sides through a ``pd.Index`` is the vectorised path.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def isin(values: pd.Series, members: pd.Series | pd.Index | Iterable[object]) -> np.ndarray:
    """``values.isin(members)`` by hashing, as a bool array aligned with ``values``."""
    if not isinstance(members, pd.Series | pd.Index | np.ndarray):
        members = list(members)
    table = pd.Index(pd.unique(np.asarray(members, dtype=object)))
    return table.get_indexer(np.asarray(values, dtype=object)) >= 0
