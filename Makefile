# tailwatch — every entry point a developer or CI needs. Each target installs what it needs itself,
# idempotently, from the package registries (crates.io, PyPI).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
CARGO ?= cargo
DATA_DIR ?= ./tailwatch-data

.PHONY: run test setup lint fmt unit e2e test-aws build clean

LISTEN ?= 127.0.0.1:8088

## run: build and start local tailwatch on the embedded default (no AWS account needed)
run:
	$(CARGO) build --profile local -p tailwatch-cli
	./target/local/tailwatch serve --listen $(LISTEN) --data-dir $(DATA_DIR)

## test: set up and pass every test
test: setup lint unit e2e test-aws

## setup: Python venv with the test tools (DuckDB, pytest); a no-op when already current
setup: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## unit: every Rust test in the workspace (the AWS end-to-end crate runs under test-aws)
unit:
	$(CARGO) test --workspace --exclude tailwatch-aws-e2e

## test-aws: the AWS path end to end against the AWS API emulator (moto), started and stopped here
test-aws: setup
	tests/aws/with-emulator.sh $(CARGO) test -p tailwatch-aws-e2e

## e2e: end-to-end tests in tests/ (real binaries, real DuckDB)
e2e: setup
	$(CARGO) build -p tailwatch-cli
	$(PY) -m pytest -q tests

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(DATA_DIR)
