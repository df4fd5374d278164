# Entry points for building, linting and testing. `make help` lists them.
# Tests need no AWS account: `make test` runs them against a private local
# emulator (moto) that scripts/local-aws.sh installs into .venv and starts.

CARGO ?= cargo
LOCAL_AWS := scripts/local-aws.sh

.DEFAULT_GOAL := help

.PHONY: help test lint fmt build-all bench aws-up aws-down aws-env validate-template

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: ## Run every test (debug) against a fresh private AWS emulator
	$(LOCAL_AWS) run -- $(CARGO) test --workspace

lint: ## Check formatting and clippy (warnings are errors)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format all code
	$(CARGO) fmt --all

build-all: ## Build the whole workspace (debug)
	$(CARGO) build --workspace

validate-template: ## Lint and test template.yaml offline (cfn-lint 1.53.3 + SAM transform tests)
	scripts/validate-template.sh

bench: ## Run the stream-core pipeline benchmark
	$(CARGO) bench -p stream-core --bench pipeline

aws-up: ## Start the long-running local AWS emulator (reused if up)
	$(LOCAL_AWS) start

aws-down: ## Stop the long-running local AWS emulator
	$(LOCAL_AWS) stop

aws-env: ## Print export lines for the running emulator (for eval)
	@$(LOCAL_AWS) env
