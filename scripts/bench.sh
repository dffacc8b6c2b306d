#!/usr/bin/env bash
# The benchmark behind `make bench`:
#   deps -> build the release `bench` binary -> its own local stack (in-memory) on bench ports
#   -> run `bench` once (gateway vs bare DynamoDB, see bench/src/bin/bench.rs) -> stack down -> leak check.
# The stack is torn down on every exit path (EXIT/INT/TERM trap). Traffic goes to 127.0.0.1 only.
#
# Usage: scripts/bench.sh [BINARY]     BINARY: bench (default, `make bench`), pipeline-bench
#                                      (`make bench-pipeline`), popular-bench (`make bench-popular`)
#                                      bench-lambda (`make bench-lambda`) or flash-bench (`make bench-flash`)
# Env:   BENCH_DDB_PORT (8400), BENCH_MOTO_PORT (5400), DDB_BACKEND (dynamodb-local, or dynoxide),
#        BENCH_PROFILE (release; `dev` builds the harness unoptimised, e.g. on a shared machine),
#        BENCH_GET_REQUESTS (2000), BENCH_CLIENTS (64), BENCH_ORDER_SECONDS (10),
#        PIPE_ORDERS (3000), PIPE_CLIENTS (16), BENCH_LAMBDA_COLD (10), BENCH_LAMBDA_WARM (300),
#        POP_SIZES (100,1000,10000), POP_CALLS,
#        FLASH_BUYERS (500), FLASH_BUCKETS (1,4,16,64), FLASH_SCALE (40), FLASH_SECONDS (8), ...
#        BENCH_STANDIN_MS (5), BENCH_CONCURRENT_SECONDS (3), BENCH_LOGINS (500),
#        -- passed to the binary.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

STACK="$REPO_ROOT/localstack/stack.sh"
export DDB_PORT="${BENCH_DDB_PORT:-8400}"
export MOTO_PORT="${BENCH_MOTO_PORT:-5400}"
export DDB_IN_MEMORY=1
export STACK_RUN_DIR="$REPO_ROOT/.local/stack-bench-$DDB_PORT"
# The binaries stop themselves (bench-lambda within ~5 minutes); this is only the last resort.
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"

log() { echo "bench.sh: $*" >&2; }

trap run_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# --- deps and build (before the stack, so compiling does not compete with a running DynamoDB server) ---
"$STACK" install
BIN_NAME="${1:-bench}"
BENCH_PROFILE="${BENCH_PROFILE:-release}"
log "building the $BIN_NAME binary ($BENCH_PROFILE profile)"
if [[ "$BIN_NAME" == bench-lambda ]]; then
  # The functions it runs and its hello-world baseline, in the same cargo invocation (same profile).
  # The functions and both baselines with the Lambdas' profile (lambda-release), the harness with BENCH_PROFILE.
  # bench-init in both profiles: its init breakdown compares aws-lc with and without jitter entropy.
  env "${LAMBDA_BUILD_ENV[@]}" cargo build --profile lambda-release -p shop-bench --bin bench-hello \
    --bin bench-getitem --bin bench-init \
    -p shop-functions --bin products-get --bin orders-create --bin order-relay --bin auth-login
  cargo build --profile "$BENCH_PROFILE" -p shop-bench --bin bench-lambda --bin bench-init
  export BENCH_LAMBDA_BIN_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/lambda-release"
else
  cargo build --profile "$BENCH_PROFILE" -p shop-bench --bin "$BIN_NAME"
fi
PROFILE_DIR="$BENCH_PROFILE"
if [[ "$BENCH_PROFILE" == dev ]]; then PROFILE_DIR=debug; fi
BENCH_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/$PROFILE_DIR/$BIN_NAME"
# With DDB_BACKEND=dynoxide the stack runs a release local-dynamodb too (a debug one would not be a fair DynamoDB).
if [[ "${DDB_BACKEND:-dynamodb-local}" == dynoxide && -z "${LOCAL_DYNAMODB_BIN:-}" ]]; then
  LOCAL_DYNAMODB_BIN="$(cargo_build_bins --release -p shop-tools --bin local-dynamodb | tail -n1)"
  export LOCAL_DYNAMODB_BIN
fi

# --- stack (a leftover from a run that was SIGKILLed is stopped first) ---
run_stack_up

run_client_env
# Local traffic must not go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
# The DynamoDB server (the group leader exec'd into java or local-dynamodb): the binary reports its CPU
# use per phase, under this name.
BENCH_DDB_PID="$(cat "$STACK_RUN_DIR/ddb.pid" 2>/dev/null || true)"
if [[ "${DDB_BACKEND:-dynamodb-local}" == dynoxide ]]; then BENCH_DDB_NAME=dynoxide; else BENCH_DDB_NAME="DynamoDB Local"; fi
export BENCH_DDB_NAME
BENCH_MOTO_PID="$(cat "$STACK_RUN_DIR/moto.pid" 2>/dev/null || true)"
export BENCH_DDB_PID BENCH_MOTO_PID
TABLE_PREFIX="bench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')-"
export TABLE_PREFIX
log "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT EVENTS_ENDPOINT=$EVENTS_ENDPOINT"

rc=0
# In the background + wait, so INT/TERM reach the trap at once (which then stops the whole command tree).
log "running: $BENCH_BIN"
timeout --signal=TERM --kill-after=10 "$BENCH_TIMEOUT" "$BENCH_BIN" &
children=$!
wait "$children" || rc=$?
children=""
if ((rc != 0)); then log "FAIL: bench exited $rc"; fi
exit "$rc"
