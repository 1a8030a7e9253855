"""Id lookups by hashing give pandas' own answers, on Arrow strings and on the rest."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from nplpipeline.keys import isin, positions

ids = st.lists(st.one_of(st.none(), st.sampled_from(["C1", "C2", "C10", "", "长"])), max_size=30)


@settings(max_examples=80, deadline=None)
@given(values=ids, table=ids, arrow=st.booleans())
def test_positions_and_isin_match_pandas(values, table, arrow):
    dtype = "str" if arrow else object
    v = pd.Series(values, dtype=dtype)
    members = pd.Series(table, dtype=dtype)
    known = [t for t in dict.fromkeys(table) if t is not None]  # a master: unique, no nulls
    index = pd.Index(pd.Series(known, dtype=dtype))
    want = index.get_indexer(np.asarray(v, dtype=object))
    assert positions(v, index).tolist() == want.tolist()
    present = [x is not None and x in set(table) for x in values]
    got = isin(v, members)
    assert [bool(g) for g, x in zip(got, values, strict=True) if x is not None] == [
        p for p, x in zip(present, values, strict=True) if x is not None
    ]
