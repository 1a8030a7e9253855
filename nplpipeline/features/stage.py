"""The features stage: raw warehouse tables in, ``int_features`` partitions out.

Each as-of date's rows replace that date's partition, so reruns and backfills are
idempotent; each (date, shard) written is stamped with what it was built from
(``builds``), so a reader can tell stored rows from stale ones. Labels are written
beside the features and are NULL until the horizon has passed in the data; rerunning
an old date later fills them in.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nplpipeline.config.policy import DelinquencyPolicy
from nplpipeline.features.build import FeatureBuilder
from nplpipeline.features.builds import (
    BuildStamp,
    build_key,
    inputs_key,
    latest_drop_date,
    record_build,
)
from nplpipeline.features.calendar import as_date, month_ends
from nplpipeline.features.config import FeatureConfig, load_feature_config
from nplpipeline.features.inputs import INPUT_COLUMNS
from nplpipeline.features.labels import label_accounts
from nplpipeline.features.schema import (
    LABEL_COLUMN,
    LABEL_DATA_DATE_COLUMN,
    apply_dtypes,
    output_columns,
)
from nplpipeline.features.tables import features_table
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import Settings, get_settings
from nplpipeline.staging import (
    loan_customer_ids,
    stg_arrears_candidates,
    stg_contact_history,
    stg_customers_as_of,
    stg_installments,
    stg_loan_status_history,
    stg_loans_as_of,
    stg_repayments,
)
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.frames import read_frame
from nplpipeline.warehouse.keys import staged_keys
from nplpipeline.warehouse.partitions import replace_shard
from nplpipeline.warehouse.shards import Shard

log = logging.getLogger(__name__)

__all__ = [
    "build_and_store_features",
    "load_training_frame",
    "month_ends",
    "read_inputs",
    "run_build_features",
]


def read_inputs(
    conn: Connection,
    as_of: dt.date | None = None,
    shard: Shard | None = None,
    rows_on: Sequence[dt.date] | None = None,
    policy: DelinquencyPolicy | None = None,
) -> tuple[dict[str, pd.DataFrame], dt.date | None]:
    """The raw columns the features need, and the data date (latest drop loaded);
    customers as they stood on ``as_of`` (the latest date built) when given; only
    ``shard``'s loans (and their customers) when given. The data date is the whole
    warehouse's, so every shard labels against the same date.

    With ``rows_on`` (the dates to be built) only the loans that can get a feature row
    on one of them are read (``staging.stg_arrears_candidates`` under ``policy``: a
    superset of the delinquent, on-book loans), with all of their own rows: every
    feature and label is a function of one loan's rows, so the frames then build the
    same rows for those dates as the whole book's would, for a few percent of the
    preparation. They do not serve other dates.

    The data date bounds what the labels may look at: a horizon ending after it is
    not over yet in the data, so its label is unknown.
    """
    data_date = latest_drop_date(conn)
    known = data_date or as_of or dt.date(1970, 1, 1)  # everything loaded: labels look ahead
    if not rows_on:
        return _read_frames(conn, known, as_of, shard, None), data_date
    policy = policy or get_settings().policy.delinquency
    # The engine's rounding: 0.29 * 100 must not become 28 (DelinquencyEngine).
    tolerance = int(np.floor(round(policy.paid_tolerance * 100, 6)))
    candidates = stg_arrears_candidates(
        rows_on, known, policy.on_book_statuses, tolerance, shard=shard
    )
    with staged_keys(conn, candidates, "feature_loans") as loan_ids:
        return _read_frames(conn, known, as_of, shard, loan_ids), data_date


def _read_frames(
    conn: Connection,
    known: dt.date,
    as_of: dt.date | None,
    shard: Shard | None,
    loan_ids: sa.Select | None,
) -> dict[str, pd.DataFrame]:
    """Each input as known by ``known``, of ``loan_ids`` (a subquery) when given."""
    customer_ids = None if loan_ids is None else loan_customer_ids(loan_ids)
    return {
        "loans": stg_loans_as_of(
            conn, known, INPUT_COLUMNS["loans"], loan_ids=loan_ids, shard=shard
        ),
        "installments": stg_installments(
            conn, INPUT_COLUMNS["installments"], loan_ids=loan_ids, shard=shard
        ),
        "repayments": stg_repayments(
            conn, known, INPUT_COLUMNS["repayments"], loan_ids=loan_ids, shard=shard
        ),
        "collection_actions": stg_contact_history(
            conn,
            known,
            INPUT_COLUMNS["collection_actions"],
            loan_ids=loan_ids,
            vocabulary=False,
            shard=shard,
        ),
        # borrower attributes as they stood on the latest date built
        "customers": stg_customers_as_of(
            conn, as_of or known, INPUT_COLUMNS["customers"], customer_ids, shard=shard
        ),
        # each date's population: the statuses valid that day
        "loan_status_history": stg_loan_status_history(conn, known, loan_ids, shard=shard),
    }


def run_build_features(
    as_of_dates: list[dt.date],
    settings: Settings | None = None,
    config: FeatureConfig | None = None,
) -> dict[str, object]:
    """Build and store features and labels for ``as_of_dates``; returns counts (no PII)."""
    return build_and_store_features(as_of_dates, settings, config)[1]


def build_and_store_features(
    as_of_dates: list[dt.date],
    settings: Settings | None = None,
    config: FeatureConfig | None = None,
    shard: Shard | None = None,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Build and store features and labels for ``as_of_dates`` with the caller's settings
    (only ``shard``'s loans and rows when given); returns the typed frame (what scoring
    uses, without reading it back) and counts."""
    settings = settings or get_settings()
    config = config or load_feature_config()
    policy = settings.policy.delinquency
    table = features_table(config)
    dates = sorted({as_date(d) for d in as_of_dates})
    clock = time.perf_counter()
    with opened(settings.warehouse_url) as engine:
        with begin(engine) as conn:
            ensure_schema(conn)
            loads = inputs_key(conn)  # before the reads: a load during them shows as stale
            frames, data_date = read_inputs(
                conn, dates[-1] if dates else None, shard, rows_on=dates, policy=policy
            )
        stamp = BuildStamp(build_key(config, policy), loads, data_date)
        read_s, clock = time.perf_counter() - clock, time.perf_counter()
        builder = FeatureBuilder(frames, policy, config)
        features = builder.build_many(dates)
        build_s, clock = time.perf_counter() - clock, time.perf_counter()
        features[LABEL_COLUMN] = label_accounts(
            features, frames, config, policy=policy, data_date=data_date, builder=builder
        )
        features[LABEL_DATA_DATE_COLUMN] = pd.Timestamp(data_date) if data_date else pd.NaT
        label_s, clock = time.perf_counter() - clock, time.perf_counter()
        per_date: dict[str, dict[str, int]] = {}
        with begin(engine) as conn:
            for d in dates:
                part = features[features["as_of_date"] == pd.Timestamp(d)]
                replace_shard(conn, table, d, shard, _for_table(part))
                record_build(conn, table, d, shard, stamp, dates[-1], len(part))
                labels = part[LABEL_COLUMN]
                per_date[d.isoformat()] = {
                    "rows": len(part),
                    "labelled": int(labels.notna().sum()),
                    "recovered": int(labels.fillna(False).astype(bool).sum()),
                }
        write_s = time.perf_counter() - clock
    log.info(
        "features %s..%s: %d rows (read %.1fs, build %.1fs, label %.1fs, write %.1fs)",
        dates[0] if dates else None, dates[-1] if dates else None, len(features),
        read_s, build_s, label_s, write_s,
    )  # fmt: skip
    return features, {
        "as_of_dates": [d.isoformat() for d in dates],
        "data_date": data_date.isoformat() if data_date else None,
        "rows": len(features),
        "labelled": int(features[LABEL_COLUMN].notna().sum()),
        "per_date": per_date,
        "seconds": {
            "read": round(read_s, 2),
            "build": round(build_s, 2),
            "label": round(label_s, 2),
            "write": round(write_s, 2),
        },
    }


def _for_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as plain strings and the nullable label as object for Arrow."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("object").where(out[column].notna(), None)
    out[LABEL_COLUMN] = out[LABEL_COLUMN].astype("object").where(out[LABEL_COLUMN].notna(), None)
    return out


def load_training_frame(
    engine: Engine,
    start: dt.date,
    end: dt.date,
    config: FeatureConfig | None = None,
    policy: DelinquencyPolicy | None = None,
) -> pd.DataFrame:
    """Labelled rows with as-of dates in [start, end], typed like ``build_features`` output
    plus the boolean label (the frame model training and out-of-time validation read)."""
    config = config or load_feature_config()
    policy = policy or get_settings().policy.delinquency
    table = features_table(config)
    query = (
        sa.select(*table.c)
        .where(table.c.as_of_date >= as_date(start))
        .where(table.c.as_of_date <= as_date(end))
        .where(table.c[LABEL_COLUMN].is_not(None))
    )
    with begin(engine) as conn:
        ensure_schema(conn)
        frame = read_frame(conn, query)
    typed = apply_dtypes(frame, config, policy)
    typed[LABEL_COLUMN] = typed[LABEL_COLUMN].astype(bool)
    typed[LABEL_DATA_DATE_COLUMN] = pd.to_datetime(typed[LABEL_DATA_DATE_COLUMN])
    columns = [*output_columns(config), LABEL_COLUMN, LABEL_DATA_DATE_COLUMN]
    return (
        typed[columns].sort_values(["as_of_date", "loan_id"], kind="stable").reset_index(drop=True)
    )


def load_features_on(
    engine: Engine,
    as_of: dt.date,
    config: FeatureConfig | None = None,
    policy: DelinquencyPolicy | None = None,
) -> pd.DataFrame:
    """Every delinquent account on ``as_of``, labelled or not, typed like training rows
    (what scoring and monitoring read)."""
    config = config or load_feature_config()
    policy = policy or get_settings().policy.delinquency
    table = features_table(config)
    with begin(engine) as conn:
        ensure_schema(conn)
        frame = read_frame(conn, sa.select(table).where(table.c.as_of_date == as_date(as_of)))
    return apply_dtypes(frame, config, policy)
