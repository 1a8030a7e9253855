"""The feature frame's columns and dtypes, stated once for build, stage, table and tests.

Column names depend on the configured lookback windows; the module-level constants are
those of the default configuration (what ``int_features`` stores).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nplpipeline.config.policy import DelinquencyPolicy
from nplpipeline.contract import EMPLOYMENT_TYPES, PRODUCTS
from nplpipeline.features.config import FeatureConfig

MISSING = "missing"  # category of an unknown band (no birth date, no income)

ID_COLUMNS: tuple[str, ...] = ("loan_id", "customer_id", "as_of_date")
SEGMENT_COLUMNS: tuple[str, ...] = ("product", "bucket")
LABEL_COLUMN = "recovered"
# Written beside the label: the data cut it was computed with (labels mature as data
# arrives; a later rerun of an as-of date may label rows that were unlabelled before).
LABEL_DATA_DATE_COLUMN = "label_data_date"


def _window_columns(config: FeatureConfig) -> dict[str, str]:
    cols: dict[str, str] = {}
    for w in config.payment_windows_days:
        cols[f"payment_count_{w}d"] = "int64"
        cols[f"payment_amount_{w}d"] = "float64"
    return cols


def _contact_columns(config: FeatureConfig) -> dict[str, str]:
    cols: dict[str, str] = {}
    for w in config.contact_windows_days:
        for name in ("attempts", "rpc", "ptp", "broken_ptp", "complaints"):
            cols[f"{name}_{w}d"] = "int64"
    return cols


def feature_dtypes(config: FeatureConfig) -> dict[str, str]:
    """Model inputs in output order, with their dtype ("category" for categoricals)."""
    lags = {f"dpd_lag_{m}m": "float64" for m in range(1, config.dpd_lag_months + 1)}
    r = config.roll_months
    return {
        # delinquency on the day and its recent path
        "dpd": "int64",
        "bucket": "category",
        **lags,
        f"roll_forward_{r}m": "int64",
        f"roll_back_{r}m": "int64",
        f"months_delinquent_{r}m": "int64",
        f"max_dpd_{r}m": "int64",
        # arrears and balance
        "overdue_principal": "float64",
        "overdue_interest": "float64",
        "overdue_fees": "float64",
        "overdue_amount": "float64",
        "installments_overdue": "int64",
        "outstanding_principal": "float64",
        "principal_amount": "float64",
        "total_paid": "float64",
        # total_paid / (total_paid + overdue_amount): share of what fell due that is paid
        "paid_share_of_due": "float64",
        # payment behaviour
        **_window_columns(config),
        "days_since_last_payment": "float64",
        # loan terms
        "months_on_book": "int64",
        "term_months": "int64",
        "annual_interest_rate": "float64",
        "product": "category",
        # collection contact history
        # attempts: contacts on config.attempt_channels; rpc: config.right_party_outcomes;
        # broken_ptp: promises whose date fell in the window, unpaid (activity.py)
        **_contact_columns(config),
        "open_ptp_amount": "float64",
        "days_since_last_rpc": "float64",
        # borrower
        "age_band": "category",
        "income_band": "category",
        "employment_type": "category",
        "province": "category",
    }


def feature_columns(config: FeatureConfig) -> list[str]:
    return list(feature_dtypes(config))


def categorical_features(config: FeatureConfig) -> list[str]:
    return [c for c, t in feature_dtypes(config).items() if t == "category"]


def output_columns(config: FeatureConfig) -> list[str]:
    """Identifiers first, then model inputs (segments product and bucket are among them)."""
    return [*ID_COLUMNS, *feature_columns(config)]


def category_levels(config: FeatureConfig, policy: DelinquencyPolicy) -> dict[str, list[str]]:
    """Fixed vocabularies so a category code means the same on every date.

    Province is open-ended (the contract does not enumerate it): its levels are the
    sorted values seen in the frame, so the model stage must keep its own vocabulary.
    """
    return {
        "bucket": list(policy.bucket_names),
        "product": list(PRODUCTS),
        "employment_type": list(EMPLOYMENT_TYPES),
        "age_band": [*config.age_band_labels, MISSING],
        "income_band": [*config.income_band_labels, MISSING],
    }


def apply_dtypes(
    frame: pd.DataFrame, config: FeatureConfig, policy: DelinquencyPolicy
) -> pd.DataFrame:
    """Order columns and cast to the schema's dtypes (used after build and after reads)."""
    levels = category_levels(config, policy)
    out: dict[str, pd.Series] = {}
    for c in ("loan_id", "customer_id"):
        out[c] = frame[c].astype("str")
    out["as_of_date"] = pd.to_datetime(frame["as_of_date"]).astype("datetime64[s]")
    for column, dtype in feature_dtypes(config).items():
        values = frame[column]
        if dtype == "category":
            values = values.astype("object").where(values.notna(), None)
            cats = levels.get(column)
            if cats is None:
                cats = sorted({v for v in values.dropna().unique()})
                if column == "bucket":  # pragma: no cover - bucket is always in levels
                    cats = list(policy.bucket_names)
            out[column] = pd.Series(pd.Categorical(values, categories=cats), index=frame.index)
        else:
            out[column] = values.astype(np.dtype(dtype))
    extra = [c for c in frame.columns if c not in out]
    result = pd.DataFrame(out, index=frame.index)
    for c in extra:
        result[c] = frame[c]
    return result.reset_index(drop=True)


_DEFAULT = FeatureConfig()
FEATURE_COLUMNS: tuple[str, ...] = tuple(feature_columns(_DEFAULT))
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(categorical_features(_DEFAULT))
NUMERIC_FEATURES: tuple[str, ...] = tuple(
    c for c in FEATURE_COLUMNS if c not in CATEGORICAL_FEATURES
)
