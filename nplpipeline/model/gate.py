"""The champion/challenger promotion gate, as a pure function of figures.

Kept apart from MLflow so the rule can be read and tested on its own: a challenger is
promoted only if it passes every check; with no champion the first model is promoted.
"Never promote a worse model": a failed or unevaluable check refuses promotion.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from nplpipeline.model.config import GateConfig


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    challenger_version: str | None = None
    champion_version: str | None = None
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def segment_drops(challenger: pd.DataFrame, champion: pd.DataFrame, min_rows: int) -> pd.DataFrame:
    """Champion AUC minus challenger AUC per segment value (both from `segment_metrics`)."""
    keys = ["segment", "value"]
    both = challenger[[*keys, "n", "auc"]].merge(
        champion[[*keys, "auc"]], on=keys, suffixes=("_challenger", "_champion")
    )
    both = both[(both.n >= min_rows) & both.auc_challenger.notna() & both.auc_champion.notna()]
    return both.assign(drop=both.auc_champion - both.auc_challenger).sort_values(
        "drop", ascending=False, ignore_index=True
    )


def decide(
    config: GateConfig,
    challenger_auc: float,
    challenger_psi: float,
    champion_auc: float | None,
    challenger_segments: pd.DataFrame | None = None,
    champion_segments: pd.DataFrame | None = None,
    champion_error: str | None = None,
    challenger_version: str | None = None,
    champion_version: str | None = None,
) -> GateDecision:
    """Apply the gate. `champion_auc is None` and no error = there is no champion."""
    ids = {"challenger_version": challenger_version, "champion_version": champion_version}
    if champion_auc is None and champion_error is None:
        return GateDecision(True, "no champion: first model is promoted", **ids)
    if champion_error is not None:
        ok = config.promote_if_champion_unscorable
        return GateDecision(
            ok,
            f"champion could not score the OOT set ({champion_error}); "
            + ("promoted by config" if ok else "refused, needs manual review"),
            **ids,
        )
    checks = [
        Check(
            "auc",
            challenger_auc,
            champion_auc + config.auc_margin,
            challenger_auc >= champion_auc + config.auc_margin,
            f"challenger {challenger_auc:.4f} vs champion {champion_auc:.4f} "
            f"+ margin {config.auc_margin}",
        ),
        Check(
            "score_psi_train_to_test",
            challenger_psi,
            config.psi_limit,
            math.isfinite(challenger_psi) and challenger_psi < config.psi_limit,
        ),
    ]
    if challenger_segments is not None and champion_segments is not None:
        drops = segment_drops(challenger_segments, champion_segments, config.min_segment_rows)
        worst = float(drops["drop"].iloc[0]) if len(drops) else 0.0
        where = (
            f"{drops.segment.iloc[0]}={drops.value.iloc[0]}"
            if len(drops)
            else "no segment large enough"
        )
        checks.append(
            Check(
                "worst_segment_auc_drop",
                worst,
                config.segment_collapse_limit,
                worst <= config.segment_collapse_limit,
                where,
            )
        )
    failed = [c.name for c in checks if not c.passed]
    reason = "all checks passed" if not failed else "failed: " + ", ".join(failed)
    return GateDecision(not failed, reason, checks=checks, **ids)
