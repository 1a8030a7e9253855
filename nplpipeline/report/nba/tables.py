"""``mart_nba_comparison``: the learned policy's arm against the static arm and the status quo.

One row per (as-of date D, baseline, segment, policy):

* ``baseline = 'static'`` (``source = 'warehouse'``): the accounts planned on the start
  date S in the ``nba`` policy arm against those in the ``static`` arm, outcomes over
  (S, D] as known on D; policies ``nba``, ``static`` and ``difference`` (nba − static).
  The arm is a randomised draw per account, so the difference of means is unbiased.
* ``baseline = 'status_quo'`` (``source = 'twin_truth'``, dev and demo only): the nba arm's
  accounts in the pipeline's twin world against the same loan ids in the status quo's
  world, paired by loan; policies ``nba``, ``status_quo`` and ``difference``.

Segments ``overall`` and each tier of S. Figures are per account over the window; every
row carries the normal interval of its mean (``difference`` rows: of the difference).
Written by ``nplpipeline.report.nba.stage``.
"""

from __future__ import annotations

import sqlalchemy as sa

from nplpipeline.warehouse.tables import MONEY, metadata

nba_comparison = sa.Table(
    "mart_nba_comparison",
    metadata,
    sa.Column("as_of_date", sa.Date(), primary_key=True),  # last day of outcomes measured
    sa.Column("baseline", sa.String(), primary_key=True),  # static | status_quo
    sa.Column("segment", sa.String(), primary_key=True),  # overall | <tier on S>
    sa.Column("policy", sa.String(), primary_key=True),  # nba | static | status_quo | difference
    sa.Column("source", sa.String(), nullable=False),  # warehouse | twin_truth
    sa.Column("start_date", sa.Date(), nullable=False),  # the cohort's date S
    sa.Column("days", sa.Integer(), nullable=False),  # window (S, as_of_date]
    sa.Column("accounts", sa.Integer()),  # difference rows: the nba side's
    sa.Column("baseline_accounts", sa.Integer()),  # difference rows: the baseline's
    sa.Column("repaid", MONEY),  # per account, net of reversals
    sa.Column("contact_cost", MONEY),  # per account
    sa.Column("commissions", MONEY),  # per account, net of claw-backs
    sa.Column("net_recovery", MONEY),  # per account: repaid - contact cost - commissions
    sa.Column("net_recovery_ci_low", MONEY),
    sa.Column("net_recovery_ci_high", MONEY),
    sa.Column("contacts", sa.Double()),  # per account
    sa.Column("contacts_ci_low", sa.Double()),
    sa.Column("contacts_ci_high", sa.Double()),
    sa.Column("complaints_per_1000", sa.Double()),  # per 1,000 accounts
    sa.Column("complaints_ci_low", sa.Double()),
    sa.Column("complaints_ci_high", sa.Double()),
    sa.Column("confidence", sa.Double()),
)
