"""Daily scoring: every delinquent account gets the champion's recovery probability, its
top reasons in a collector's words, and the plan's tier.

No champion, or one that fails to load, fails the run: a stale or empty scoring must
never pass as fresh. The model is the one decided for the date (``model.pinning``): a
date already scored (any shard) keeps the version on its rows, a date never scored uses
the champion as of it, never today's. Rerunning a date replaces that date's scores. With a ``shard``
(``warehouse/shards.py``) features, scores and reason codes are computed for that
shard's accounts only and replace only its rows of the date.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from nplpipeline.config.tiers import assign_tiers
from nplpipeline.score.tables import TOP_REASONS, account_scores
from nplpipeline.settings import Settings, get_settings
from nplpipeline.warehouse.engine import begin, opened
from nplpipeline.warehouse.partitions import replace_shard
from nplpipeline.warehouse.shards import Shard

log = logging.getLogger(__name__)


def score_frame(features: pd.DataFrame, champion: Any, policy: Any) -> pd.DataFrame:
    """Scores, reasons and tiers for a typed feature frame (pure: no I/O)."""
    from nplpipeline.model.reasons import reason_codes

    if features.empty:  # e.g. a shard without delinquent accounts today
        return pd.DataFrame(columns=[c.name for c in account_scores.columns])
    probability = champion.score(features)
    reasons = reason_codes(champion.model, features, top_k=TOP_REASONS)
    out = pd.DataFrame(
        {
            "as_of_date": features["as_of_date"].to_numpy(),
            "loan_id": features["loan_id"].to_numpy(),
            "customer_id": features["customer_id"].to_numpy(),
            "model_name": champion.name,
            "model_version": str(champion.version),
            "recovery_probability": probability,
            "tier": assign_tiers(features["dpd"].to_numpy(), probability, policy.tiering),
            "dpd": features["dpd"].to_numpy(),
            "bucket": features["bucket"].astype(str).to_numpy(),
            "product": features["product"].astype(str).to_numpy(),
            "overdue_amount": features["overdue_amount"].to_numpy(),
            "outstanding_principal": features["outstanding_principal"].to_numpy(),
        }
    )
    for i in range(1, TOP_REASONS + 1):
        out[f"reason_{i}"] = reasons[f"reason_{i}"].to_numpy()
        out[f"reason_feature_{i}"] = reasons[f"reason_feature_{i}"].to_numpy()
    return out


def run_scoring(
    as_of: dt.date, settings: Settings | None = None, shard: Shard | None = None
) -> dict[str, Any]:
    """Score ``as_of``'s delinquent accounts (``shard``'s only, when given) and store
    them; returns counts by tier."""
    from nplpipeline.features.stage import build_and_store_features
    from nplpipeline.model.pinning import pinned_model

    settings = settings or get_settings()
    with opened(settings.warehouse_url) as engine:
        champion, choice = pinned_model(engine, account_scores, as_of, settings.mlflow_tracking_uri)
        # The day's features with the caller's settings, used as built (not read back).
        features, _ = build_and_store_features([as_of], settings, shard=shard)
        scored = score_frame(features, champion, settings.policy)
        with begin(engine) as conn:
            rows = replace_shard(conn, account_scores, as_of, shard, scored)
    by_tier = {str(k): int(v) for k, v in scored["tier"].value_counts().sort_index().items()}
    summary = {
        "as_of": as_of.isoformat(),
        "shard": (shard or Shard()).to_xcom(),
        "model_version": str(champion.version),
        "model": choice.to_xcom(),  # which version and why: ids and counts only
        "accounts": rows,
        "by_tier": by_tier,
        "mean_probability": round(float(np.mean(scored["recovery_probability"])), 4)
        if rows
        else None,
    }
    log.info("scoring %s: %s", as_of, summary)
    return summary


def gather_scores(as_of: dt.date, results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The shards' reduce: all reported, accounts summed, and one model version for the
    whole date (a promotion landing between two shards' first runs would split it)."""
    from nplpipeline.model.pinning import AmbiguousModelError
    from nplpipeline.orchestration.sharding import gather, shard_results

    results = shard_results(results)
    summary = gather(as_of, results, ("accounts",))
    versions = sorted({str(r["model_version"]) for r in results})
    if len(versions) > 1:
        raise AmbiguousModelError(
            f"the shards of {as_of} scored with {len(versions)} model versions"
            f" ({', '.join(versions)}); delete the date's scores and rerun it"
        )
    return summary | {"model_version": versions[0] if versions else None}
