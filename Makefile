# nplpipeline: every target installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOANS ?= 20000
SEED ?= 42
DAYS ?=
PYTEST_ARGS ?=
# Two workers: one per core on the CI machine; tests keep their own ports, folders and DBs.
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint airflow mlflow bench clean chromium

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP)

## A live run through Airflow on the lender twin (warm-up, then DAYS days of twin <->
## pipeline beside a status-quo world), then the summary. `make demo DAYS=90` runs longer.
demo: install
	$(BIN)/nplpipeline demo --loans $(LOANS) --seed $(SEED) $(if $(DAYS),--days $(DAYS))

## Headless Chromium (Debian's package) for the dashboard test; installed only when missing.
chromium:
	@test -x /usr/bin/chromium || command -v chromium >/dev/null || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

## Lint (ruff, incl. Airflow AIR rules) and the full test suite (DuckDB and PostgreSQL).
test: install chromium
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=20 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Airflow UI (api-server, scheduler, dag-processor, triggerer) on http://localhost:8080.
airflow: install
	$(BIN)/nplpipeline airflow db migrate
	$(BIN)/nplpipeline airflow standalone

## MLflow UI on the embedded store, http://127.0.0.1:5000.
mlflow: install
	@mkdir -p mlflow/artifacts
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow/mlflow.db \
		--default-artifact-root $(CURDIR)/mlflow/artifacts --host 127.0.0.1 --port 5000

## One day's whole chain after a warm-up history, timed against issue 14's targets, at 1M
## loans (unsharded) and 10M (16 shards); prints every step and the targets table, JSON
## into benchmarks/results/. Hours on a 2-core machine (benchmarks/README.md): a quick
## look is `make bench LOANS=100000`; SHARDS=K (one K, or one per size), PROFILE=1.
BENCH_LOANS := 1000000 10000000
BENCH_SHARDS := 1 16
bench: install
	$(BIN)/python benchmarks/run.py \
		--loans $(if $(filter command line environment,$(origin LOANS)),$(LOANS),$(BENCH_LOANS)) \
		--shards $(or $(SHARDS),$(if $(filter command line environment,$(origin LOANS)),1,$(BENCH_SHARDS))) \
		$(if $(PROFILE),--profile)

clean:
	rm -rf var .pytest_cache .ruff_cache
