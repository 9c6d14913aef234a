# jupyterhub-mlops — `make demo` and `make test` install everything themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)/cluster$(if $(PYTHONPATH),:$(PYTHONPATH))

PYTEST_ARGS ?=
# Workers of the whole suite, each with its own control plane; a test file stays on one
# worker, so module fixtures (a hub, a deployed chart) start once. 1 runs it in-process.
TEST_WORKERS ?= 2

.PHONY: install install-python demo test test-fast bench lint clean cluster-up cluster-down cluster-status

install:
	@bash scripts/bootstrap.sh

install-python:  ## the virtualenv and npm packages only: no control-plane build
	@bash scripts/bootstrap.sh python

demo: install
	@$(PY) -m demo

test: install
	@$(PY) -m pytest $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

test-fast: install-python  ## unit tests only: no cluster, browser or hub
	@$(PY) -m pytest -m "not cluster and not browser and not slow" $(PYTEST_ARGS)

bench: install
	@$(PY) -m benchmarks

lint: install-python
	@$(VENV)/bin/ruff check contract spawner server_ext cluster tests benchmarks demo scripts
	@$(VENV)/bin/ruff format --check contract spawner server_ext cluster tests benchmarks demo scripts
	@$(VENV)/bin/mypy  # the packages and settings in pyproject.toml's [tool.mypy]
	@cd labextension && npm run lint
	@cd ui-tests && npm run lint

cluster-up: install
	@cluster/mlops-cluster up

cluster-down:
	@cluster/mlops-cluster down

cluster-status:
	@cluster/mlops-cluster status

clean:
	-@cluster/mlops-cluster down >/dev/null 2>&1
	rm -rf $(VENV) labextension/node_modules labextension/lib labextension/tsconfig.tsbuildinfo \
	  server_ext/jupyter_mlops/labextension test-artifacts .pytest_cache .ruff_cache .demo
	@echo "kept the control-plane build cache in ~/.cache/jupyterhub-mlops (rm -rf it to rebuild)"
