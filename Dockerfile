# nplpipeline on the official Airflow image. The tag must match apache-airflow in
# pyproject.toml/constraints.txt and the Python of requires-python
# (tests/test_docker_compose.py checks both).
FROM apache/airflow:3.3.2-python3.11

# Working folders of the pipeline. Named volumes mounted over them in docker-compose.yaml
# start as copies of these, so they belong to airflow and the root group (the compose
# file runs Airflow as ${AIRFLOW_UID}:0).
USER root
RUN mkdir -p /opt/npl/landing /opt/npl/outbox /opt/npl/var /opt/npl/src \
    && chown -R airflow:0 /opt/npl \
    && chmod -R g+rwX /opt/npl
USER airflow

# The package, installed as the airflow user against the project's full pin set. README.md
# is copied because pyproject.toml declares it as the readme (the build reads it).
# constraints.txt does not pin the providers preinstalled in the base image (celery,
# postgres, ...): the import check fails the build, not the first task, if the install
# broke the Celery executor.
WORKDIR /opt/npl/src
COPY --chown=airflow:0 pyproject.toml constraints.txt README.md ./
COPY --chown=airflow:0 nplpipeline ./nplpipeline
RUN pip install --no-cache-dir -c constraints.txt . \
    && python -c "import nplpipeline, airflow.providers.celery.executors.celery_executor"

# Great Expectations suites are baked in; docker-compose.yaml bind-mounts ./expectations
# over them (like dags/ and plugins/) so edits show without a rebuild.
WORKDIR /opt/airflow
COPY --chown=airflow:0 expectations ./expectations

ENV NPL_PROJECT_ROOT=/opt/airflow \
    NPL_HOME=/opt/npl/var \
    NPL_LANDING_DIR=/opt/npl/landing \
    NPL_OUTBOX_DIR=/opt/npl/outbox
