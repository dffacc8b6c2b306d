# Shop backend: developer and CI entry points (GNU make). Everything runs without Docker.
#   make dev          whole shop locally (API on http://127.0.0.1:3000): Rust only, DynamoDB and events embedded
#   make dev STACK=emulators  the same on DynamoDB Local + moto (Java 17, Python; the reference); Ctrl-C stops all
#   make test         lint, then scripts/test.sh (cargo tests against DynamoDB Local and dynoxide, cfn-lint)
#   make bench        scripts/bench.sh: release load generator vs its own local stack (docs/PERFORMANCE.md)
#   make bench-pipeline  the local event pipeline under load: orders/s in, events/s out, lag (docs/PERFORMANCE.md)
#   make bench-popular  GET /products/popular at 100/1,000/10,000 products sold: reads and latency, before/after
#   make bench-lambda the Lambdas under a runtime-API emulator vs a hello-world: cold, warm, RSS, size
#   make bench-flash  one product, 500 buyers, stock in 1/4/16/64 buckets, behind a model of DynamoDB's limits
#   make deps         DynamoDB Local + moto (+ cfn-lint) into ${SHOP_CACHE_DIR:-~/.cache/shop-backend} (not for make dev)
#   make tools        cfn-lint, aws-sam-cli, cargo-lambda into the tools venv (for `make package`)
#   make package      every Lambda for arm64 in one cargo-lambda build, then sam build of infra/template.yaml
#   make clean-stack  stops the local stacks of `make dev`, `make test` and `make bench`

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# `make dev STACK=emulators`: the stack under the shop (embedded or emulators).
STACK ?= embedded
STACK_SH := localstack/stack.sh
TOOLS := scripts/tools.sh
TEST_DDB_PORT ?= 8100
TEST_MOTO_PORT ?= 5100
TEST_DYNOXIDE_PORT ?= $(shell echo $$(($(TEST_DDB_PORT) + 1)))
BENCH_DDB_PORT ?= 8400
BENCH_MOTO_PORT ?= 5400

.PHONY: help deps tools lint test bench bench-pipeline bench-popular bench-lambda bench-flash dev package clean-stack stack-up stack-down stack-status

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

deps:
	$(STACK_SH) install
	$(TOOLS) install cfn-lint

tools:
	$(TOOLS) install all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test: lint
	TEST_DDB_PORT=$(TEST_DDB_PORT) TEST_MOTO_PORT=$(TEST_MOTO_PORT) TEST_DYNOXIDE_PORT=$(TEST_DYNOXIDE_PORT) scripts/test.sh

bench:
	BENCH_DDB_PORT=$(BENCH_DDB_PORT) BENCH_MOTO_PORT=$(BENCH_MOTO_PORT) scripts/bench.sh

bench-pipeline:
	BENCH_DDB_PORT=$(BENCH_DDB_PORT) BENCH_MOTO_PORT=$(BENCH_MOTO_PORT) scripts/bench.sh pipeline-bench

bench-popular:
	BENCH_DDB_PORT=$(BENCH_DDB_PORT) BENCH_MOTO_PORT=$(BENCH_MOTO_PORT) scripts/bench.sh popular-bench

bench-lambda:
	BENCH_DDB_PORT=$(BENCH_DDB_PORT) BENCH_MOTO_PORT=$(BENCH_MOTO_PORT) scripts/bench.sh bench-lambda

bench-flash:
	BENCH_DDB_PORT=$(BENCH_DDB_PORT) BENCH_MOTO_PORT=$(BENCH_MOTO_PORT) scripts/bench.sh flash-bench

dev:
	STACK=$(STACK) scripts/dev.sh

# One `cargo lambda build --arm64` for every function, then `sam build` (functions/Makefile copies each).
package: tools
	scripts/package.sh

stack-up:
	$(STACK_SH) up

stack-down:
	$(STACK_SH) down

stack-status:
	$(STACK_SH) status

clean-stack:
	$(STACK_SH) down
	DDB_PORT=$(TEST_DDB_PORT) MOTO_PORT=$(TEST_MOTO_PORT) STACK_RUN_DIR=$(CURDIR)/.local/stack-test-$(TEST_DDB_PORT) $(STACK_SH) down
	STACK_RUN_DIR=$(CURDIR)/.local/stack-test-$(TEST_DYNOXIDE_PORT) $(STACK_SH) down
	DDB_PORT=$(BENCH_DDB_PORT) MOTO_PORT=$(BENCH_MOTO_PORT) STACK_RUN_DIR=$(CURDIR)/.local/stack-bench-$(BENCH_DDB_PORT) $(STACK_SH) down
