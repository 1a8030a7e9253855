"""``repayment_flows`` gathers a reversal's attributes from its original in one take per
column; it must give exactly what the per-row ``.loc`` assignment gave (kept here as the
reference): reversals of missing originals keep their own attributes, a repeated
repayment id lends the first non-reversal row's, an all-null float column becomes object.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nplpipeline.delinquency.coerce import is_blank
from nplpipeline.report.kpis.repayments import _ATTRIBUTES, FLOW_COLUMNS, repayment_flows


def _reference(repayments: pd.DataFrame) -> pd.DataFrame:
    """The code before the gather, for the reversal attributes only."""
    out = repayment_flows(repayments.drop(columns=["reversal_of"])).copy()
    frame = repayments.reset_index(drop=True)
    reversal = pd.Series(~is_blank(frame["reversal_of"]), index=frame.index, dtype=bool)
    out["is_reversal"] = reversal
    out["amount"] = out["amount"].where(~reversal, -out["amount"])
    targets = frame.loc[reversal, "reversal_of"]
    originals = out.loc[~reversal & out["repayment_id"].isin(targets)]
    originals = originals.drop_duplicates("repayment_id").set_index("repayment_id")
    inherited = originals.reindex(targets.to_numpy())
    found = inherited.index.isin(originals.index)
    rows = targets.index[found]
    for column in _ATTRIBUTES:
        if not (pd.api.types.is_string_dtype(out[column]) or out[column].dtype == object):
            out[column] = out[column].astype("object")
        out.loc[rows, column] = inherited[column].to_numpy()[found]
    return out[list(FLOW_COLUMNS)]


def _repayments(seed: int, null_agency: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    ids = [f"R{i}" for i in range(n)]
    ids[7] = ids[3]  # a repeated id: the first non-reversal row lends its attributes
    reversal_of = np.full(n, None, dtype=object)
    reversed_rows = rng.choice(n, 40, replace=False)
    reversal_of[reversed_rows] = rng.choice(ids[:300], 40)
    reversal_of[reversed_rows[:5]] = "R-missing"  # originals not in the frame
    reversal_of[reversed_rows[5]] = "R3"
    frame = pd.DataFrame(
        {
            "repayment_id": pd.array(ids, dtype="str"),
            "loan_id": pd.array([f"L{i % 37}" for i in range(n)], dtype="str"),
            "paid_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
            "amount": rng.integers(1, 10_000, n) / 100,
            "reversal_of": pd.array(reversal_of, dtype="str"),
            "channel": pd.array(rng.choice(["app", "bank", None], n), dtype="str"),
            "agency_id": np.nan
            if null_agency
            else pd.array(rng.choice(["A1", "A2", None], n), dtype="str"),
            "collector_id": pd.array(rng.choice(["C1", "C2", "C3", None], n), dtype="str"),
        }
    )
    return frame.iloc[rng.permutation(n)]  # a non-range index, as callers pass slices


@pytest.mark.parametrize(("seed", "null_agency"), [(1, False), (2, True), (3, False)])
def test_gathered_attributes_equal_the_row_by_row_assignment(seed: int, null_agency: bool):
    repayments = _repayments(seed, null_agency)
    got = repayment_flows(repayments)
    pd.testing.assert_frame_equal(got, _reference(repayments), check_exact=True)
    assert got["is_reversal"].sum() == 40
    moved = got["is_reversal"] & (got["loan_id"] != repayments["loan_id"].to_numpy())
    assert moved.any()  # some reversals did take their original's loan
