# The two commands: `make run` serves the app, `make test` runs every test. Both set up first.
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: run test lint bootstrap

bootstrap:
	@bash tools/bootstrap.sh run

run: bootstrap
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test:
	@bash tools/bootstrap.sh test
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(PY) -m ruff check musicgen pages app.py tests benchmarks
