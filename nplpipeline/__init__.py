"""nplpipeline: consumer-loan NPL collections on Apache Airflow.

The sub-packages follow the data: ``simulate`` (a source to run on) -> ``ingest`` ->
``validate`` -> ``delinquency`` -> ``features`` -> ``model`` -> ``score`` -> ``act`` ->
``report``; ``warehouse``, ``config`` and ``settings`` serve them all.
"""

__version__ = "0.1.0"
