"""The thin layer between Airflow and the stages: assets, run dates, local Airflow setup.

Only this sub-package imports Airflow; every stage it calls is plain Python.
"""
