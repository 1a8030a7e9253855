"""Snapshots of several dates as known on each, for the whole book in bounded memory.

The KPI marts need a trailing year of month-end snapshots of every loan, but only a
handful of their columns. Reading the whole book's schedule and repayments and stacking
13 full-width snapshots held most of the KPI stage's memory (9.3 GB at 1M loans). Here
the book is read shard by shard (the stable ``loan_id`` hash of ``warehouse/shards``,
the predicate in the warehouse), each shard prepares its own engine, snapshots every
date as known then (``as_of.KnownStatuses``) and computes only ``MART_COLUMNS``; the
engine and the shard's inputs are freed before the next shard is read. The stacked
result has the rows in the order the whole-book path gives (date, then ``loan_id`` as the
loans reader orders them), so every mart computed from it is the same to the bit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Connection

from nplpipeline.config.policy import DelinquencyPolicy
from nplpipeline.delinquency.as_of import KnownStatuses
from nplpipeline.delinquency.engine import DelinquencyEngine
from nplpipeline.keys import positions
from nplpipeline.staging import (
    stg_installments,
    stg_loan_status_history,
    stg_loans_as_of,
    stg_repayments,
)
from nplpipeline.warehouse.shards import Shard, all_shards

# What the portfolio and contact marts read of a snapshot (roll rates, cure, NPL trend,
# vintage curves, today's delinquent customers).
MART_COLUMNS: tuple[str, ...] = (
    "as_of_date", "loan_id", "customer_id", "product", "dpd", "bucket", "is_npl",
    "outstanding_principal", "on_book",
)  # fmt: skip
ENGINE_LOAN_COLUMNS = ("loan_id", "customer_id", "product", "origination_date", "status")
ENGINE_INSTALLMENT_COLUMNS = (
    "loan_id", "installment_no", "due_date", "principal_due", "interest_due", "fee_due",
)  # fmt: skip
ENGINE_REPAYMENT_COLUMNS = ("repayment_id", "loan_id", "paid_at", "amount", "reversal_of")


def _repayment_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """What the engine reads of repayments for ``columns``: ids only for payment dates
    (a reversal's target), the largest string column of the read otherwise."""
    if "last_payment_date" in columns:
        return ENGINE_REPAYMENT_COLUMNS
    return tuple(c for c in ENGINE_REPAYMENT_COLUMNS if c != "repayment_id")


def slim_snapshots(
    engine: DelinquencyEngine,
    dates: Sequence[dt.date],
    timeline: pd.DataFrame,
    columns: Sequence[str] = MART_COLUMNS,
) -> pd.DataFrame:
    """``engine``'s snapshot of each of ``dates`` as known then, only ``columns``."""
    if not dates:
        return engine.snapshots([])[list(columns)]
    statuses = KnownStatuses.prepare(engine, timeline)
    frames = [statuses.restated(d, columns) for d in dates]
    return pd.concat(frames, ignore_index=True)


def _shard_snapshots(
    conn: Connection, as_of: dt.date, dates: Sequence[dt.date], policy: DelinquencyPolicy,
    shard: Shard, columns: Sequence[str],
) -> pd.DataFrame:  # fmt: skip
    loans = stg_loans_as_of(conn, as_of, ENGINE_LOAN_COLUMNS, shard=shard)
    engine = DelinquencyEngine(
        loans,
        stg_installments(conn, ENGINE_INSTALLMENT_COLUMNS, shard=shard),
        stg_repayments(conn, as_of, _repayment_columns(columns), shard=shard),
        policy,
    )
    timeline = stg_loan_status_history(conn, as_of, shard=shard)
    return slim_snapshots(engine, dates, timeline, columns)


def _one_chunk(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each Arrow-backed column in one chunk: the concatenated parts are
    one chunk per part, and taking rows across chunks costs about twice the take."""
    out = {}
    for name, column in frame.items():
        data = getattr(column.array, "_pa_array", None)
        if isinstance(data, pa.ChunkedArray) and data.num_chunks > 1:
            column = pd.Series(pd.array(data.combine_chunks(), dtype=column.dtype), name=name)
        out[name] = column
    return pd.DataFrame(out, copy=False)


def stream_snapshots_as_known(
    conn: Connection,
    as_of: dt.date,
    dates: Sequence[dt.date],
    policy: DelinquencyPolicy,
    book_order: pd.Series,
    parts: int,
    columns: Sequence[str] = MART_COLUMNS,
) -> pd.DataFrame:
    """The snapshots of ``dates`` (each as known on its date) of the loans known by
    ``as_of``, ``columns`` only, computed ``parts`` shards at a time; rows ordered by date,
    then by position in ``book_order`` (the whole book's ``loan_id``s as read)."""
    dates = sorted(dates)
    pieces = [
        _shard_snapshots(conn, as_of, dates, policy, shard, columns)
        for shard in all_shards(max(1, parts))
    ]
    if len(pieces) == 1:
        return pieces[0]
    stacked = pd.concat(pieces, ignore_index=True)
    del pieces  # their numeric columns were copied; the strings live on in the chunks
    stacked = _one_chunk(stacked)
    rank = positions(stacked["loan_id"], pd.Index(book_order))
    day = stacked["as_of_date"].to_numpy()
    order = np.lexsort((rank, day))
    return stacked.take(order).reset_index(drop=True)


__all__ = ["MART_COLUMNS", "slim_snapshots", "stream_snapshots_as_known"]
