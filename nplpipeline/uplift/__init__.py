"""Next-best-action: uplift learned from the randomised experiment arms (issue #15).

Modules, in the order data flows: ``config`` (validated policy), ``treatments`` (one
vocabulary and the known propensities), ``training`` (the logged decisions, their
covariates and net outcomes), ``estimators`` (T- and DR-learner), ``evaluation``
(off-policy value, Qini/AUUC, uplift@k), ``policy`` (constrained choice), ``gate``
(promotion), ``explain`` (top reasons), ``versions`` (kept policies, selected as of a
date), ``stage`` (warehouse, MLflow and the CLI) and ``live`` (the nba arm inside the
plan step).
"""
