# tailwatch — every entry point a developer or CI needs. Each target installs what it needs itself,
# idempotently, from the package registries (crates.io, PyPI).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
DYNALITE := tests/aws/dynalite/node_modules/.bin/dynalite
CARGO ?= cargo
DATA_DIR ?= ./tailwatch-data

.PHONY: run test setup browser lint fmt test-rust unit e2e test-aws fuzz fuzz-smoke infra sam-validate ddl build deploy clean bench

LISTEN ?= 127.0.0.1:8088

# Your own detections, kept outside this tree (docs/DETECTIONS.md): RULES = a directory of TOML
# rules (`make run` reads it at start-up; `make build`/`deploy` compile it into the detect function),
# RUST_DETECTIONS = a directory of Rust detection files (compiled into the CLI and the detect
# function by shared/user). CONFIG = a tailwatch.toml (its `[rules] paths` are read too).
RULES ?=
RUST_DETECTIONS ?=
CONFIG ?=
export TAILWATCH_RUST_DETECTIONS := $(if $(RUST_DETECTIONS),$(abspath $(RUST_DETECTIONS)))
export TAILWATCH_RULES := $(if $(RULES),$(abspath $(RULES)))

## run: build and start local tailwatch on the embedded default (no AWS account needed);
## RULES=dir, RUST_DETECTIONS=dir, CONFIG=file add your own detections
run:
	$(CARGO) build --profile local -p tailwatch-cli
	./target/local/tailwatch serve --listen $(LISTEN) --data-dir $(DATA_DIR) \
		$(if $(CONFIG),--config $(CONFIG)) $(if $(RULES),--path $(RULES))

## test: set up and pass every test
test: setup lint test-rust e2e fuzz-smoke

## setup: Python venv with the test tools (DuckDB, pytest, moto), dynalite (npm) for the AWS
## tests' DynamoDB, and Chromium (Debian package) for the console's browser test; a no-op when
## already current
setup: $(VENV)/.installed $(DYNALITE) browser

## browser: Chromium for cli/tests/console.rs. Installed with apt-get when running as root (CI, dev
## machines here); otherwise says how, and the browser test prints that it skipped (under CI=true a
## missing browser fails it).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (apt-get) for the console browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not installed: the console browser test will be skipped (sudo apt-get install chromium)"; fi

$(DYNALITE): tests/aws/dynalite/package.json tests/aws/dynalite/package-lock.json
	cd tests/aws/dynalite && npm ci --silent --no-audit --no-fund
	touch $@

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## test-rust: every Rust test in the workspace, the AWS end-to-end crate included, with the AWS API
## emulator running. One build for all: building the AWS end-to-end crate on its own selects other
## features of tokio/hyper and compiles the AWS SDK a second time.
test-rust: setup
	tests/aws/with-emulator.sh $(CARGO) test --workspace

## unit: every Rust test in the workspace but the AWS end-to-end crate (no emulator needed)
unit:
	$(CARGO) test --workspace --exclude tailwatch-aws-e2e

## test-aws: the AWS path end to end against the AWS API emulators (moto; dynalite for DynamoDB),
## started and stopped here
test-aws: setup
	tests/aws/with-emulator.sh $(CARGO) test -p tailwatch-aws-e2e

## e2e: end-to-end tests in tests/ (real binaries, real DuckDB), including tests/infra
e2e: setup
	$(CARGO) test --workspace --no-run --quiet
	$(PY) -m pytest -q tests

## infra: only the deployable part: template.yaml (contracts, cfn-lint, checkov offline), events/,
## the saved Athena queries run in DuckDB (all of it also runs in e2e)
infra: setup
	$(CARGO) build -p tailwatch-cli
	$(PY) -m pytest -q tests/infra

## sam-validate: `sam validate --lint` with the AWS SAM CLI in its own venv (.venv-sam); not in `test`
sam-validate: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} \
		$(SAM_VENV)/bin/sam validate --lint --template template.yaml

## build: the three Lambda functions as SAM builds them for deployment (RULES=dir and
## RUST_DETECTIONS=dir compile your own detections into the detect function) (`sam build --beta-features`:
## cargo lambda with zig, release profile, no Docker), for ARCH (x86_64 here and in CI; the template's
## default is arm64: `make build ARCH=arm64` after `rustup target add aarch64-unknown-linux-gnu`).
## Checks each bootstrap is an ELF for ARCH and prints the sizes. A cold build takes about 14 minutes
## on 2 cores (fat LTO links each function for ~3 minutes); CI builds in SAM's debug mode instead.
ARCH ?= x86_64
SAM_BUILD_DIR ?= .aws-sam/build
build: $(SAM_VENV)/.installed
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} \
		$(SAM_VENV)/bin/sam build --beta-features --template template.yaml --build-dir $(SAM_BUILD_DIR) \
		--parameter-overrides Architecture=$(ARCH)
	python3 infra/lambda_artifacts.py $(SAM_BUILD_DIR) $(ARCH)

## deploy: build for ARCH (default here: arm64, the template's default) and `sam deploy --guided`
## into the AWS account of your current credentials. See docs/DEPLOY.md.
deploy: ARCH = arm64
deploy: build
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam deploy --guided --template-file $(SAM_BUILD_DIR)/template.yaml \
		--capabilities CAPABILITY_IAM --parameter-overrides Architecture=$(ARCH)

$(SAM_VENV)/.installed: tests/requirements-sam.txt
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements-sam.txt
	touch $@

## ddl: regenerate infra/athena/*.sql and infra/snowflake/*.sql from shared/core/src/lake.rs
ddl:
	TAILWATCH_REGENERATE_DDL=1 $(CARGO) test -p tailwatch-core --lib ddl::tests::committed_ddl_files_are_current

## bench: benchmarks (corpus, throughput against serde_json baselines, memory, Lambda start-up,
## replay, serve under load) written into docs/PERFORMANCE.md; not part of `make test`.
## About 6 minutes once the release binaries are built (the first build of the three Lambda
## functions with fat LTO takes 10-20 minutes more on 2 cores). BENCH_SERVE_SECS=10 for a shorter load test.
BENCH_SERVE_SECS ?= 60
bench:
	$(CARGO) build --release -p tailwatch-ingest -p tailwatch-normalize -p tailwatch-detect
	$(CARGO) build --release -p tailwatch-cli -p tailwatch-bench
	TAILWATCH_BENCH_COMMAND="make bench  # = target/release/tailwatch-bench all --serve-secs $(BENCH_SERVE_SECS) --write docs/PERFORMANCE.md" \
		./target/release/tailwatch-bench all --serve-secs $(BENCH_SERVE_SECS) --write docs/PERFORMANCE.md

## fuzz: every fuzz target (libFuzzer + ASan via cargo-fuzz) for FUZZ_SECONDS each (default 300)
FUZZ_SECONDS ?= 300
fuzz:
	fuzz/run-fuzz.sh $(FUZZ_SECONDS)

## fuzz-smoke: every fuzz target for 12 s (part of `make test`; six targets, kept short for CI)
fuzz-smoke:
	fuzz/run-fuzz.sh 12

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(SAM_VENV) $(DATA_DIR) .aws-sam
