"""Model training and governance: OOT split, scorecard and boosted models, metrics,
reason codes, MLflow registry with a champion/challenger promotion gate, monitoring.

Plain Python; Airflow tasks call ``train.train_and_register`` and, for a date's model,
``pinning.pinned_model`` (the version decided for that date, ``registry.champion_as_of``).
"""
