"""Reason codes: for each scored account, the features that pushed it most toward
non-recovery, in words a collector understands.

- Scorecard: points the row lost on a feature against that feature's best bin (the
  classic adverse-action method; impact in points).
- Boosted model: for each feature, how much higher the predicted recovery probability
  would be if the row had the training-typical value (median / mode) for that feature,
  everything else unchanged; impact in probability points. Computed in row batches by
  `substitution.batched_impacts`, which reads each tree as a lookup table from a row's
  split decisions to its leaf, so the substituted leaf is a lookup, not a tree walk
  (equal to one full prediction per feature, which it replaces). Interactions are
  attributed to whichever feature is swapped, which is what a collector's "what if"
  question means.
Only features with a positive impact are reported; a row may have fewer than `top_k`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from nplpipeline.model.boosting import BoostedRecoveryModel
from nplpipeline.model.scorecard import WoEScorecard
from nplpipeline.model.substitution import batched_impacts

DEFAULT_PHRASES: dict[str, str] = {
    # delinquency now and its recent path
    "dpd": "Days past due is high",
    "bucket": "Account is in a late delinquency bucket",
    "installments_overdue": "Several installments are overdue",
    # arrears and balance
    "overdue_amount": "Overdue amount is large",
    "overdue_principal": "Overdue principal is large",
    "overdue_interest": "Overdue interest is large",
    "overdue_fees": "Overdue fees are large",
    "outstanding_principal": "Outstanding balance is large",
    "principal_amount": "Loan amount is large",
    "total_paid": "Little repaid over the life of the loan",
    "paid_share_of_due": "Small share of what fell due has been paid",
    "days_since_last_payment": "No payment for a long time",
    # loan terms
    "months_on_book": "Loan is recent (short payment history)",
    "term_months": "Loans of this term recover less often",
    "annual_interest_rate": "Interest rate is high",
    "product": "Product type recovers less often",
    # contact history
    "open_ptp_amount": "No open promise to pay",
    "days_since_last_rpc": "Customer not reached for a long time",
    # borrower
    "age_band": "Age group recovers less often",
    "income_band": "Income is low or unknown",
    "employment_type": "Employment type recovers less often",
    "province": "Region recovers less often",
}

# Families of windowed features (names follow nplpipeline.features.schema): pattern, template.
DEFAULT_PATTERNS: list[tuple[str, str]] = [
    (r"^rpc_(\d+)d$", "Few right-party contacts in the last {n} days"),
    (r"^attempts_(\d+)d$", "Contact attempts in the last {n} days did not help"),
    (r"^ptp_(\d+)d$", "Few promises to pay in the last {n} days"),
    (r"^broken_ptp_(\d+)d$", "Broke promises to pay in the last {n} days"),
    (r"^complaints_(\d+)d$", "Complained in the last {n} days"),
    (r"^payment_count_(\d+)d$", "Few payments in the last {n} days"),
    (r"^payment_amount_(\d+)d$", "Little paid in the last {n} days"),
    (r"^paid_(\d+)d$", "Little paid in the last {n} days"),
    (r"^dpd_lag_(\d+)m$", "Was already far behind {n} month(s) ago"),
    (r"^max_dpd_(\d+)m$", "Has been very late in the last {n} months"),
    (r"^roll_forward_(\d+)m$", "Rolled to later buckets in the last {n} months"),
    (r"^roll_back_(\d+)m$", "Few cures or roll-backs in the last {n} months"),
    (r"^months_delinquent_(\d+)m$", "Delinquent most of the last {n} months"),
]


def phrase_for(feature: str, phrases: Mapping[str, str] | None = None) -> str:
    """Configured phrase, else a default one, else '<feature> is unfavourable'."""
    if phrases and feature in phrases:
        return phrases[feature]
    if feature in DEFAULT_PHRASES:
        return DEFAULT_PHRASES[feature]
    for pattern, template in DEFAULT_PATTERNS:
        m = re.match(pattern, feature)
        if m:
            return template.format(n=m.group(1))
    return f"{feature} is unfavourable"


def feature_impacts(model: object, X: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """(features, rows x features matrix): how far each feature pulled each row down."""
    if isinstance(model, WoEScorecard):
        pts = model.row_points(X)
        best = np.array([model.best_points_[f] for f in model.feature_names_])
        return list(model.feature_names_), best[None, :] - pts
    if isinstance(model, BoostedRecoveryModel):
        return list(model.feature_names_), batched_impacts(model, X)
    raise TypeError(f"no reason-code method for {type(model).__name__}")


def reason_codes(
    model: object,
    X: pd.DataFrame,
    top_k: int = 3,
    phrases: Mapping[str, str] | None = None,
    min_impact: float = 1e-6,
) -> pd.DataFrame:
    """Per row: reason_i (phrase), reason_feature_i, reason_impact_i for i = 1..top_k.

    Impact is in points (scorecard) or probability (boosted). Index follows `X`.
    """
    features, impact = feature_impacts(model, X)
    k = min(top_k, len(features))
    order = np.argsort(-impact, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(impact, order, axis=1)
    names = np.asarray(features, dtype=object)[order]
    # one phrase per feature, then gathered: no per-row Python (regexes) on the hot path
    words = np.asarray([phrase_for(f, phrases) for f in features], dtype=object)[order]
    weak = top <= min_impact
    names[weak] = None
    words[weak] = None
    out = {}
    for i in range(k):
        out[f"reason_{i + 1}"] = words[:, i]
        out[f"reason_feature_{i + 1}"] = names[:, i]
        out[f"reason_impact_{i + 1}"] = np.where(weak[:, i], np.nan, top[:, i])
    return pd.DataFrame(out, index=X.index)
