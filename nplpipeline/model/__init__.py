"""Model training and governance: OOT split, scorecard and boosted models, metrics,
reason codes, MLflow registry with a champion/challenger promotion gate, monitoring.

Plain Python; Airflow tasks call ``train.train_and_register`` and ``registry.load_champion``.
"""
