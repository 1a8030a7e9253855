"""The learned policy as an arm of the live plan step (``act_treatment_plan.policy_arm``).

On D, the plan step hands its accounts (arms drawn, legal readiness known) to
:class:`NbaChooser` before steps, channels and offers are built. For the nba arm's
accounts, the policy selected as of D (the latest trained on or before D, whatever its
gate said; ``nba_promoted`` records the gate) picks the treatment; its stable-hash
explore share keeps the base arm's draw, and ``strategy_for`` maps the treatment to a
strategy of the account's tier. Without a policy yet, nba accounts get their base arm's
static strategy and no decision row. Guardrails, capacity and worklists then apply to
the plan downstream as to any other. Per shard: the policy's capacity caps (if set)
bind within each shard's accounts.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from nplpipeline.act.arms import NBA_ARM
from nplpipeline.act.strategies import NbaArm
from nplpipeline.settings import Settings
from nplpipeline.uplift.config import UpliftPolicy
from nplpipeline.uplift.stage import load_learned, nba_rows, with_features
from nplpipeline.uplift.tables import nba_decisions
from nplpipeline.warehouse.partitions import replace_shard
from nplpipeline.warehouse.shards import Shard


class NbaChooser:
    """A ``StrategyChooser`` for ``plan_treatments``; keeps the day's decisions."""

    def __init__(
        self, conn: sa.Connection, as_of: dt.date, settings: Settings, uplift: UpliftPolicy,
        kept: pd.DataFrame, shard: Shard | None = None,
    ) -> None:  # fmt: skip
        self.conn, self.as_of, self.settings, self.uplift = conn, as_of, settings, uplift
        self.kept, self.shard = kept, shard
        self.selected = load_learned(settings, as_of, challenger=True)
        self.decisions = pd.DataFrame(columns=[c.name for c in nba_decisions.columns])

    @property
    def arm(self) -> NbaArm:
        spec = self.uplift.arm
        return spec.share, spec.seed, spec.tiers

    @property
    def version(self) -> str | None:
        return self.selected[0].version if self.selected else None

    def _inputs(self, plan: pd.DataFrame) -> pd.DataFrame:
        nba = plan[(plan["policy_arm"] == NBA_ARM).to_numpy()]
        prior = self.kept.drop_duplicates("loan_id").set_index("loan_id")["assigned_tier"]
        drawn_in = nba["loan_id"].astype(str).map(prior).fillna(nba["tier"])
        return with_features(self.conn, self.as_of, nba.assign(assigned_tier=drawn_in), self.shard)

    def __call__(self, plan: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(
            {"strategy_name": pd.Series(pd.NA, index=plan.index, dtype="string"),
             "nba_policy_version": pd.Series(pd.NA, index=plan.index, dtype="string")}
        )  # fmt: skip
        if self.selected is None or not (plan["policy_arm"] == NBA_ARM).any():
            return out
        rows = self._inputs(plan)
        if rows.empty:
            return out
        learned, promoted = self.selected
        self.decisions = nba_rows(learned, rows, self.as_of, self.settings, self.uplift, promoted)
        at = pd.Series(plan.index, index=plan["loan_id"].astype(str))
        idx = at.reindex(self.decisions["loan_id"]).to_numpy()
        out.loc[idx, "strategy_name"] = self.decisions["nba_strategy"].to_numpy()
        out.loc[idx, "nba_policy_version"] = learned.version
        return out

    def write(self) -> int:
        """Replace the day's decisions (this shard's rows of them)."""
        return replace_shard(self.conn, nba_decisions, self.as_of, self.shard, self.decisions)
