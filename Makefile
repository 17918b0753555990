# One gate: `make test` (what CI runs) bootstraps everything it needs by itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# python3.13 is the Lambda runtime. Find it the ordinary way: PATH first, then pyenv.
# (A pyenv shim on PATH that cannot run 3.13 does not count: we try to run it.)
PYTHON313 := $(shell \
	if python3.13 -c 'import sys' >/dev/null 2>&1; then command -v python3.13; \
	elif command -v pyenv >/dev/null 2>&1 && [ -x "$$(pyenv prefix 3.13.0 2>/dev/null)/bin/python3.13" ]; then echo "$$(pyenv prefix 3.13.0)/bin/python3.13"; \
	elif command -v pyenv >/dev/null 2>&1 && p=$$(pyenv prefix $$(pyenv versions --bare | grep -E '^3\.13' | tail -1) 2>/dev/null) && [ -x "$$p/bin/python3.13" ]; then echo "$$p/bin/python3.13"; \
	fi)
PY313_DIR := $(dir $(PYTHON313))
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
# sam build shells out to python3.13: put the one we found first on PATH.
SAM_ENV := PATH="$(PY313_DIR):$(CURDIR)/$(SAM_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0

.PHONY: help python313 setup sam-setup ministack-setup ministack-lock deploy-test deploy-local deploy-compare chromium fuzz-deep fuzz-ci test test-aws-faults test-tools test-unit test-integration test-e2e test-browser test-template sam-local-test lint validate build run clean screenshots

help:
	@echo "make run    - start the local stack (callback endpoint on :3000, moto on :5000; data kept in .acd-local/)"
	@echo "make test   - unit, integration, end-to-end and template tests"
	@echo "make deploy-test - template.yaml deployed into MiniStack (IAM enforced), checks through the stack"
	@echo "make sam-local-test - every sample through sam local invoke/start-api (Docker; root to set it up)"
	@echo "make lint   - ruff + mypy"
	@echo "make screenshots - the README's pictures of the day report and the wallboard (docs/)"
	@echo "make build  - sam build"
	@echo "make setup  - create/refresh .venv (idempotent)"

python313:
	@if [ -z "$(PYTHON313)" ]; then \
		echo "error: python3.13 not found. Put python3.13 on PATH, or install it with 'pyenv install 3.13.0'." >&2; \
		exit 1; fi

# Everything from the lock (exact versions of the whole tree), then the project itself.
$(VENV)/.installed: pyproject.toml requirements.lock | python313
	@[ -x $(PY) ] || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

setup: $(VENV)/.installed

$(SAM_VENV)/.installed: | python313
	@[ -x $(SAM_VENV)/bin/python ] || $(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet "aws-sam-cli==$(SAM_CLI_VERSION)"
	@touch $@

sam-setup: $(SAM_VENV)/.installed

# MiniStack, the AWS emulator of `make deploy-test`, in a venv of its own: it pins a botocore the
# project's boto3 cannot share. python3.13: the emulator runs Python functions on its interpreter.
MINISTACK_VENV := .venv-ministack
MINISTACK_LOCK := tools/acd_deploy/ministack.lock
$(MINISTACK_VENV)/.installed: $(MINISTACK_LOCK) | python313
	@[ -x $(MINISTACK_VENV)/bin/python ] || $(PYTHON313) -m venv $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/pip install --quiet -r $(MINISTACK_LOCK)
	@touch $@

ministack-setup: $(MINISTACK_VENV)/.installed

# After changing tools/acd_deploy/ministack.in: pin the emulator's whole tree again.
ministack-lock: setup
	$(VENV)/bin/uv pip compile --quiet tools/acd_deploy/ministack.in --python-version 3.13 -o $(MINISTACK_LOCK)

# template.yaml deployed with sam build + sam deploy into MiniStack (loopback, IAM enforced), then
# tests/deploy through the deployed stack. Everything it writes goes to a temporary directory.
deploy-test: setup sam-setup ministack-setup
	$(SAM_ENV) $(PY) -m pytest tests/deploy -p no:cacheprovider -o log_cli=true --log-cli-level=INFO

# The same deployment kept running for use by hand (prints the URL and how to query); Ctrl-C ends it.
deploy-local: setup sam-setup ministack-setup
	$(SAM_ENV) $(PY) -m acd_deploy

# The same simulated day through acd-local and through the deployed template, side by side
# (callbacks/s, settling, exactness, memory, kill -9): writes docs/deploy-compare.md. ~5 minutes.
deploy-compare: setup sam-setup ministack-setup
	$(SAM_ENV) $(PY) -m acd_deploy.compare

# Headless Chromium for the browser tests, from Debian's packages (the test tool's own browser
# download cannot work on a closed network). Nothing to do when it is there; quiet otherwise.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "error: $(CHROMIUM) is missing; install Debian's chromium (sudo apt-get install chromium)" >&2; exit 1; fi; \
		echo "installing Debian's chromium for the browser tests ..."; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null \
			|| { echo "error: apt-get could not install chromium" >&2; exit 1; }; \
	fi

# Two workers (pytest-xdist), one test file at a time each, so a file's module fixtures (a local
# stack, a moto server on a free port) are built once; the files go out cheapest tier first.
test: setup sam-setup chromium
	$(SAM_ENV) $(PY) -m pytest -n 2 --dist loadfile

# The unit tier without its whole days and deep properties (those run last in make test).
test-unit: setup
	$(PY) -m pytest tests/unit -m "not slow"

test-tools: setup
	$(PY) -m pytest tests/tools

test-integration: setup
	$(PY) -m pytest tests/integration

test-e2e: setup
	$(PY) -m pytest tests/e2e

test-browser: setup chromium
	$(PY) -m pytest tests/browser

# The README's pictures: the browser tests take them (test-output/browser/), this keeps five.
screenshots: test-browser
	cp test-output/browser/day-report.png docs/day-report.png
	cp test-output/browser/day-report-agents.png docs/day-report-agents.png
	cp test-output/browser/wallboard.png docs/wallboard.png
	cp test-output/browser/range.png docs/range.png
	cp test-output/browser/drill-down-call.png docs/drill-down-call.png

test-template: setup sam-setup
	$(SAM_ENV) $(PY) -m pytest tests/template

# The functions under SAM's own local tooling: installs/starts a private dockerd if none is
# usable, builds the Lambda base image offline (cached in .cache/sam-local/), then
# sam local invoke for every file in events/ and sam local start-api with real requests.
sam-local-test: setup sam-setup
	$(SAM_ENV) bash tools/sam_local/run.sh

# The property tests at depth: 10,000 generated requests per property, none may yield a 5xx;
# 10,000 texts shown by every view, 10,000 orders of a call's events; 5,000 random days on 1-8
# stream shards with injected faults (one test call: no per-test time-out).
fuzz-deep: fuzz-ci
	FUZZ_DEPTH=deep $(PY) -m pytest tests/unit/test_stream_shards.py -q -k live_reports --timeout=0

# What CI runs of it (the shard property's 5,000 days would double CI's time; make test runs 200).
fuzz-ci: setup
	FUZZ_DEPTH=deep $(PY) -m pytest tests/unit/test_fuzz_handler.py tests/unit/test_fuzz_reports.py -q

# What AWS adds to the emulators' world: the DynamoDB contract suite (in memory against moto's
# server), injected faults, several stream shards (pytest -m aws_faults).
test-aws-faults: setup
	$(PY) -m pytest -m aws_faults

lint: setup
	$(PY) -m acd_devkit.lock --check
	$(VENV)/bin/ruff check layers cli tools functions tests
	$(VENV)/bin/ruff format --check layers cli tools functions tests
	$(VENV)/bin/mypy layers/shared/acd_hub cli/acd_cli tools/acd_local tools/acd_sim tools/acd_bench tools/acd_devkit tools/acd_deploy tools/sam_local tools/cfn_rules
	$(PY) -m acd_devkit.deadcode

# cfn-lint (also inside sam validate --lint) reads .cfnlintrc: the hub's rules in tools/cfn_rules run too.
validate: setup sam-setup
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM_ENV) $(SAM) validate --lint
	$(SAM_ENV) $(SAM) validate --region eu-central-1

build: sam-setup
	$(SAM_ENV) $(SAM) build

# Keeps its data in .acd-local/ across a restart; `make run RUN_ARGS=--ephemeral` for a throwaway run.
RUN_ARGS ?=
run: setup
	$(VENV)/bin/acd-local $(RUN_ARGS)

.PHONY: load openapi lock
# After changing a dependency in pyproject.toml: pin the whole tree again, and the layer's
# requirements.txt from it (make lint fails while they disagree).
lock: setup
	$(VENV)/bin/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.13 -o requirements.lock
	$(PY) -m acd_devkit.lock --write
LOAD_SECONDS ?= 60
LOAD_CLIENTS ?= 8

# The local stack (in-process, free ports) at its top rate: req/s, latency percentiles, statuses,
# then every unique event checked stored exactly once by Query. Fails on any 5xx, loss or double.
load: setup
	$(PY) -m acd_bench.load --seconds $(LOAD_SECONDS) --clients $(LOAD_CLIENTS)

# Regenerate docs/openapi.yaml from the models (a test fails while it is stale).
openapi: setup
	$(PY) -m acd_devkit.openapi

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .cache/sam-local/run

.PHONY: bench
# What the hub costs next to bare baselines, measured side by side in one run (ratios, not timed
# tests): prints the table, writes bench-results.json (ignored) and docs/bench.md. ~5-10 minutes.
bench: setup
	$(PY) -m acd_bench.bench --out bench-results.json
