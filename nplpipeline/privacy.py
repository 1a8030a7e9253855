"""Keeping borrowers' personal data out of logs, quarantine tables, XCom and exceptions.

Masking keeps a value's *shape* (digits become ``9``, letters ``x``, CJK characters
``*``) so a data engineer can still see why ``+86 138-0013`` broke the phone rule
without seeing the number.
"""

from __future__ import annotations

import pandas as pd

from nplpipeline.contract import Entity


def mask_shape(values: pd.Series) -> pd.Series:
    """Vectorised shape mask; nulls stay null."""
    text = values.astype("string")
    masked = (
        text.str.replace(r"\d", "9", regex=True)
        .str.replace(r"[A-Za-z]", "x", regex=True)
        .str.replace(r"[^\x00-\x7f]", "*", regex=True)
    )
    return masked


def mask_pii(frame: pd.DataFrame, entity: Entity) -> pd.DataFrame:
    """A copy of ``frame`` with every PII column of ``entity`` shape-masked."""
    out = frame.copy()
    for column in entity.pii_columns:
        if column in out:
            out[column] = mask_shape(out[column])
    return out
