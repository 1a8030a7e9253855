"""The next-best-action fields the worklist carries to the CRM, for one as-of date.

Kept apart from ``uplift.stage`` so the act stage imports a reader, not the learners.
A day without decisions (no learned policy yet) gives the columns, empty.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from nplpipeline.uplift.explain import TOP_NBA_REASONS
from nplpipeline.uplift.tables import nba_decisions
from nplpipeline.warehouse.frames import read_frame

NBA_FIELDS = (
    "nba_treatment",
    "nba_uplift",
    *(f"nba_reason_{i}" for i in range(1, TOP_NBA_REASONS + 1)),
)


def nba_fields(conn: sa.Connection, as_of: dt.date) -> pd.DataFrame:
    """loan_id and the ``NBA_FIELDS`` of ``as_of``'s decisions."""
    n = nba_decisions.c
    query = sa.select(n.loan_id, *(n[c] for c in NBA_FIELDS)).where(n.as_of_date == as_of)
    return read_frame(conn, query)
