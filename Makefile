# Entry points for building, linting and testing. `make help` lists them.
# Tests need no AWS account: `make test` runs them against a private local
# emulator (moto) that scripts/local-aws.sh installs into .venv and starts.

CARGO ?= cargo
LOCAL_AWS := scripts/local-aws.sh

.DEFAULT_GOAL := help

.PHONY: help test lint fmt build-all bench bench-functions aws-up aws-down aws-env validate-template

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## A burst of orders through every function on a fresh private emulator, with a report
	@echo "demo: building the functions and the demo (several minutes on a first run; cargo's progress follows)" >&2
	$(CARGO) build -p demo
	$(LOCAL_AWS) run -- $(CARGO) run -q -p demo

CHAOS_ARGS ?=

.PHONY: chaos chaos-ci
chaos: ## The demo's orders (200) under each fault profile, through a fault-injecting proxy; invariant table
	scripts/chaos.sh full $(CHAOS_ARGS)

chaos-ci: ## A short chaos run (60 orders, no faults then mixed faults), for CI
	scripts/chaos.sh ci $(CHAOS_ARGS)

test: ## Run every test (debug) against a fresh private AWS emulator
	$(LOCAL_AWS) run -- $(CARGO) test --workspace

# The functions built without X-Ray (`--no-default-features`), so that build
# keeps compiling.
FUNCTION_PACKAGES := -p stream-core -p email-notification -p inventory-update -p order-saga-step

lint: ## Check formatting and clippy (warnings are errors), also without X-Ray
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy $(FUNCTION_PACKAGES) --no-default-features -- -D warnings

fmt: ## Format all code
	$(CARGO) fmt --all

build-all: ## Build the whole workspace (debug)
	$(CARGO) build --workspace

validate-template: ## Lint and test template.yaml offline (cfn-lint 1.53.3 + SAM transform tests)
	scripts/validate-template.sh

bench-functions: ## What Lambda bills per batch for each function and its Python counterpart (latency × keys, cost)
	scripts/bench-functions.sh --quota-check --strace

.PHONY: manifest
manifest: ## Rewrite functions.json from the functions' descriptors (the template tests and scripts read it)
	UPDATE_MANIFEST=1 $(CARGO) test -q -p event-source-runner --lib manifest

.PHONY: check-readme
check-readme: ## Check every command the README shows: known, naming what exists, flags real, the quick ones run
	python3 scripts/check_readme_commands.py --run

bench: ## Run the stream-core pipeline benchmark
	$(CARGO) bench -p stream-core --bench pipeline

aws-up: ## Start the long-running local AWS emulator (reused if up)
	$(LOCAL_AWS) start

aws-down: ## Stop the long-running local AWS emulator
	$(LOCAL_AWS) stop

aws-env: ## Print export lines for the running emulator (for eval)
	@$(LOCAL_AWS) env

# ---------------------------------------------------------------- cargo-lambda and SAM
# scripts/lambda-tools.sh installs cargo-lambda (PyPI wheel, with Zig) into .venv.

LAMBDA_TOOLS := scripts/lambda-tools.sh
ARCH ?= arm64
FN ?=
EVENT ?=

.PHONY: lambda-tools build invoke local-state sam-build deploy deploy-guided

lambda-tools: ## Install cargo-lambda (and Zig) into .venv, and the aarch64 target
	ARCH=$(ARCH) $(LAMBDA_TOOLS) install

build: ## Release build of the three functions: target/lambda/<fn>/bootstrap (ARCH=x86_64 for Intel)
	ARCH=$(ARCH) $(LAMBDA_TOOLS) build

invoke: ## Run one function locally on a sample event: make invoke FN=<fn> EVENT=events/<fn>/<case>.json
	@test -n "$(FN)" && test -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<function>/<case>.json" >&2; exit 2; }
	$(LAMBDA_TOOLS) invoke $(FN) $(EVENT)

local-state: ## Show the local emulator's stock, sagas, sent mail and dead letters
	@$(LAMBDA_TOOLS) local-state

sam-build: ## sam build (a release build through cargo-lambda, into .aws-sam/)
	ARCH=$(ARCH) $(LAMBDA_TOOLS) sam-build

DEPLOY_PARAMS ?=
DEPLOY_ARGS ?=

deploy: ## sam build, then sam deploy with no prompt: make deploy DEPLOY_PARAMS="SenderEmail=... StartingPosition=LATEST" [DEPLOY_ARGS=--dry-run]
	ARCH=$(ARCH) DEPLOY_PARAMS='$(DEPLOY_PARAMS)' $(LAMBDA_TOOLS) deploy $(DEPLOY_ARGS)

deploy-guided: ## sam build, then sam deploy --guided (asks for the parameters; can save them to samconfig.toml)
	ARCH=$(ARCH) $(LAMBDA_TOOLS) deploy-guided $(DEPLOY_ARGS)

# ---------------------------------------------------------------- dead letters

ARGS ?=

.PHONY: redrive
redrive: ## List or re-publish dead letters: make redrive ARGS="list" | ARGS="redrive --all --dry-run"
	@test -n "$(ARGS)" || { echo 'usage: make redrive ARGS="list" or ARGS="redrive --function <name> [--dry-run]" (queue: DEAD_LETTER_QUEUE_URL or --queue-url)' >&2; exit 2; }
	$(CARGO) run -q -p dead-letters -- $(ARGS)

# ---------------------------------------------------------------- fuzzing
# tools/fuzz feeds every decoder generated and mutated input (Lambda events,
# envelopes, timestamps, KPL aggregates, emails). `make fuzz` is
# coverage-guided: it builds with SanitizerCoverage edge counters into
# target/fuzz-cov (the first build compiles the dependencies there once) and
# keeps the inputs that reached new code in target/fuzz-corpus for the next
# run. `make fuzz-ci` runs the plain debug build briefly, from a fixed seed so
# that CI is repeatable. Both print cases and failures per target, save
# failing inputs in target/fuzz-artifacts and exit non-zero on a new property
# violation.

FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 24
FUZZ_CI_SEED ?= 1
FUZZ_ARGS ?=
FUZZ_TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: fuzz fuzz-ci

fuzz: ## Fuzz every decoder, coverage-guided, FUZZ_SECONDS (60) per target; FUZZ_ARGS="--target kpl" for one
	RUSTC_WRAPPER=$(CURDIR)/tools/fuzz/sancov-rustc CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR)/fuzz-cov \
		$(CARGO) run -p fuzz --bin fuzz --config 'profile.dev.opt-level=2' -- \
		--seconds $(FUZZ_SECONDS) --corpus $(FUZZ_TARGET_DIR)/fuzz-corpus \
		--corpus-out $(FUZZ_TARGET_DIR)/fuzz-corpus \
		--artifacts $(FUZZ_TARGET_DIR)/fuzz-artifacts $(FUZZ_ARGS)

# The binary the workspace's test build makes (`cargo test` builds a
# package's binaries for its integration tests), so after `make test` this
# compiles nothing: building the fuzz package alone would resolve features
# differently and rebuild the AWS SDKs.
fuzz-ci: ## Fuzz every decoder briefly (debug build, FUZZ_CI_SECONDS (24) in all); fails on a new violation
	$(CARGO) test -q --workspace --no-run
	$(FUZZ_TARGET_DIR)/debug/fuzz --total-seconds $(FUZZ_CI_SECONDS) --seed $(FUZZ_CI_SEED) \
		--artifacts $(FUZZ_TARGET_DIR)/fuzz-artifacts $(FUZZ_ARGS)

# ---------------------------------------------------------------- producer
# tools/producer: put contract events on a stream, and size a stream and its
# Lambda consumers. `cargo run -q` builds silently, so a line says so first.

STREAM ?=
FILES ?=
PUBLISH_ARGS ?=

.PHONY: publish capacity
publish: ## Publish events: make publish STREAM=<name or ARN> FILES="events/x.json more.jsonl" [PUBLISH_ARGS="--dry-run"]
	@test -n "$(FILES)" || { echo 'usage: make publish STREAM=<stream name or ARN> FILES="<event files, - for stdin>" [PUBLISH_ARGS="--dry-run --skip-invalid"]' >&2; exit 2; }
	@echo "producer: building (quiet; the first build takes a while), then publishing..." >&2
	$(CARGO) run -q -p producer -- publish $(if $(STREAM),--stream $(STREAM)) $(PUBLISH_ARGS) $(FILES)

capacity: ## Shards, on-demand capacity, Lambda concurrency: make capacity ARGS="--records-per-second 5000 --avg-record-kb 2"
	@test -n "$(ARGS)" || { echo 'usage: make capacity ARGS="--records-per-second N --avg-record-kb X [--consumers C] [--enhanced-fan-out] [--parallelization-factor F] [--batch-size B] [--avg-batch-ms M]"' >&2; exit 2; }
	@echo "producer: building (quiet; the first build takes a while)..." >&2
	$(CARGO) run -q -p producer -- capacity $(ARGS)
