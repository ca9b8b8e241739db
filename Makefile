# `make run` serves the app; `make test` runs every test (unit, app, integration, browser); `make test-fast` the unit
# and app tests only (no server, sweep or training process); `make lint` checks style. Each sets up what it needs first.
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: run test test-fast lint bootstrap

bootstrap:
	@bash tools/bootstrap.sh run

run: bootstrap
	$(PY) -m dashboard.serve --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# pyproject.toml's testpaths: tests/unit, tests/app, tests/integration (fastest first; browser tests in integration/browser)
test:
	@bash tools/bootstrap.sh test
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast:
	@bash tools/bootstrap.sh test
	$(PY) -m pytest tests/unit tests/app $(PYTEST_ARGS)

# The whole tree (ruff skips .venv, what .gitignore names, and artifacts/: pyproject.toml)
lint:
	@bash tools/bootstrap.sh lint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
