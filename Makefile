# The same targets run locally and in CI (.ci/run calls `make test` verbatim).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint typecheck pytest docs test demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/pytest

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck docs pytest

# The Conduit example: migrate a SQLite database (or $DATABASE_URL's), seed it, serve it
# at http://127.0.0.1:8000 (OpenAPI page at /docs). Seeding is skipped if it has users.
demo: $(STAMP)
	cd examples/conduit && export DATABASE_URL="$${DATABASE_URL:-sqlite:///conduit.db}" && \
		$(CURDIR)/$(BIN)/asqla migrations upgrade && \
		$(CURDIR)/$(BIN)/python -m conduit.seed && \
		exec $(CURDIR)/$(BIN)/uvicorn --factory conduit.main:create_app --host 127.0.0.1 --port 8000

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache
