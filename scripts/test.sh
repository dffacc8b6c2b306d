#!/usr/bin/env bash
# The test run behind `make test` (after lint), against both DynamoDB backends at once:
#   deps -> build the tests once -> stacks on test ports (in memory):
#     reference  DynamoDB Local + moto on TEST_DDB_PORT / TEST_MOTO_PORT
#     dynoxide   local-dynamodb on TEST_DYNOXIDE_PORT (events: the reference stack's moto)
#   -> the tests against each backend (in parallel on 4+ cores) -> cfn-lint -> stacks down -> leak check.
# A test that passes on one backend and fails on the other fails the run (docs/PERFORMANCE.md, "Two
# DynamoDB backends"). The stacks are torn down on every exit path (EXIT/INT/TERM trap).
#
# Usage: scripts/test.sh [COMMAND...]
#   default: `cargo test --workspace --all-targets` against DynamoDB Local, and the DynamoDB-bound suite
#   (`cargo test -p shop-functions --test api`) against dynoxide; a COMMAND given runs against each.
# Env:   TEST_DDB_PORT (8100), TEST_MOTO_PORT (5100), TEST_DYNOXIDE_PORT (TEST_DDB_PORT + 1),
#        TEST_BACKENDS ("dynamodb-local dynoxide"; name one to run against it alone),
#        TEST_PARALLEL (1 on 4+ cores: on 2, two runs at once starve each other into request timeouts)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

STACK="$REPO_ROOT/localstack/stack.sh"
REF_DDB_PORT="${TEST_DDB_PORT:-8100}"
export MOTO_PORT="${TEST_MOTO_PORT:-5100}"
DYNOXIDE_PORT="${TEST_DYNOXIDE_PORT:-$((REF_DDB_PORT + 1))}"
TEST_BACKENDS="${TEST_BACKENDS:-dynamodb-local dynoxide}"
if [[ -z "${TEST_PARALLEL:-}" ]]; then
  if (($(nproc) >= 4)); then TEST_PARALLEL=1; else TEST_PARALLEL=0; fi
fi
export DDB_IN_MEMORY=1
# Run dirs, by backend (the stall test freezes the pid in its run dir's ddb.pid).
declare -A RUN_DIR=([dynamodb-local]="$REPO_ROOT/.local/stack-test-$REF_DDB_PORT"
  [dynoxide]="$REPO_ROOT/.local/stack-test-$DYNOXIDE_PORT")
declare -A DDB_PORT_OF=([dynamodb-local]="$REF_DDB_PORT" [dynoxide]="$DYNOXIDE_PORT")

if (($# > 0)); then
  ref_cmd=("$@")
  second_cmd=("$@")
else
  ref_cmd=(cargo test --workspace --all-targets)
  second_cmd=(cargo test -p shop-functions --test api)
fi

log() { echo "test.sh: $*" >&2; }
wants_backend() { [[ " $TEST_BACKENDS " == *" $1 "* ]]; }
for b in $TEST_BACKENDS; do
  [[ -n "${RUN_DIR[$b]:-}" ]] || { log "TEST_BACKENDS: unknown backend $b (dynamodb-local, dynoxide)"; exit 2; }
done

trap run_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# --- deps ---
if wants_backend dynamodb-local; then "$STACK" install; else STACK_SERVICES=moto "$STACK" install; fi
scripts/tools.sh install cfn-lint
scripts/tools.sh install browser
scripts/tools.sh install contract
CFN_LINT="$(scripts/tools.sh bin)/cfn-lint"
# The storefront's browser test (functions/tests/api/storefront.rs) runs scripts/storefront_test.py with it.
SHOP_BROWSER_PYTHON="$(scripts/tools.sh bin)/python"
export SHOP_BROWSER_PYTHON
# The contract tests (functions/tests/api/contract.rs): schemathesis, openapi-python-client, openapi-typescript.
SHOP_CONTRACT_BIN="$(scripts/tools.sh contract-bin)"
SHOP_NPM_BIN="$(scripts/tools.sh npm-bin)"
export SHOP_CONTRACT_BIN SHOP_NPM_BIN

# --- build once, before the stacks start (both runs then only run) ---
# `cargo test ARGS -- FILTERS` builds with `cargo test --no-run ARGS`; prints the executables built.
no_run() {
  local args=() a
  for a in "${@:3}"; do
    [[ "$a" == -- ]] && break
    args+=("$a")
  done
  cargo test --no-run --message-format=json-render-diagnostics "${args[@]}" |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
}
builds=()
if wants_backend dynamodb-local; then builds+=(ref_cmd); fi
if wants_backend dynoxide; then builds+=(second_cmd); fi
for name in "${builds[@]}"; do
  declare -n build="$name"
  if [[ "${build[0]}" == cargo && "${build[1]:-}" == test ]]; then
    log "building: ${build[*]}"
    built="$(no_run "${build[@]}")"
    # The workspace's test build links local-dynamodb (tools/tests/local_programs.rs runs it): the
    # dynoxide stack runs that one rather than building it again with another feature set.
    if [[ -z "${LOCAL_DYNAMODB_BIN:-}" ]] && grep -q '/local-dynamodb$' <<<"$built"; then
      LOCAL_DYNAMODB_BIN="$(grep '/local-dynamodb$' <<<"$built" | tail -n1)"
      export LOCAL_DYNAMODB_BIN
    fi
  fi
  unset -n build
done

# --- stacks (a leftover from a run that was SIGKILLed is stopped first) ---
# moto serves both runs (events carry per-test bus and queue names); DynamoDB is one server per backend.
if wants_backend dynamodb-local; then
  DDB_PORT="$REF_DDB_PORT" STACK_RUN_DIR="${RUN_DIR[dynamodb-local]}" STACK_SERVICES="ddb moto" \
    DDB_BACKEND=dynamodb-local run_stack_up
else
  DDB_PORT="$REF_DDB_PORT" STACK_RUN_DIR="${RUN_DIR[dynamodb-local]}" STACK_SERVICES="moto" run_stack_up
fi
if wants_backend dynoxide; then
  DDB_PORT="$DYNOXIDE_PORT" STACK_RUN_DIR="${RUN_DIR[dynoxide]}" STACK_SERVICES="ddb" \
    DDB_BACKEND=dynoxide run_stack_up
fi
for b in $TEST_BACKENDS; do rm -f "${RUN_DIR[$b]}/stall-report.txt" "${RUN_DIR[$b]}/test-output.log"; done

# run_against BACKEND COMMAND...: the command with the backend's endpoints, run dir and table prefix.
run_against() {
  local backend="$1"
  shift
  (
    DDB_PORT="${DDB_PORT_OF[$backend]}"
    run_client_env
    export STACK_RUN_DIR="${RUN_DIR[$backend]}"
    TABLE_PREFIX="test-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')-"
    export TABLE_PREFIX
    log "[$backend] DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT EVENTS_ENDPOINT=$EVENTS_ENDPOINT TABLE_PREFIX=$TABLE_PREFIX: $*"
    exec "$@"
  )
}

# In the background + wait, so INT/TERM reach the trap at once (which then stops every command tree).
# In parallel, the reference run prints as it goes and the other run's output follows when both are done.
rc=0
declare -A pid_of=() started_at=() took=() rc_of=()
finish() {
  local b="$1"
  rc_of[$b]=0
  wait "${pid_of[$b]}" || rc_of[$b]=$?
  took[$b]=$((SECONDS - started_at[$b]))
}
for b in $TEST_BACKENDS; do
  if [[ "$b" == dynamodb-local ]]; then cmd=("${ref_cmd[@]}"); else cmd=("${second_cmd[@]}"); fi
  started_at[$b]=$SECONDS
  if [[ "$TEST_PARALLEL" == 1 && "$b" != dynamodb-local ]]; then
    run_against "$b" "${cmd[@]}" >"${RUN_DIR[$b]}/test-output.log" 2>&1 &
  else
    run_against "$b" "${cmd[@]}" &
  fi
  pid_of[$b]=$!
  children+=" ${pid_of[$b]}"
  if [[ "$TEST_PARALLEL" != 1 ]]; then finish "$b"; fi
done
if [[ "$TEST_PARALLEL" == 1 ]]; then
  for b in $TEST_BACKENDS; do finish "$b"; done
fi
children=""
for b in $TEST_BACKENDS; do
  if [[ -s "${RUN_DIR[$b]}/test-output.log" ]]; then
    log "----- output of the run against $b -----"
    cat "${RUN_DIR[$b]}/test-output.log"
    log "-----"
  fi
  if [[ -s "${RUN_DIR[$b]}/stall-report.txt" ]]; then log "[$b] $(cat "${RUN_DIR[$b]}/stall-report.txt")"; fi
  if ((rc_of[$b] != 0)); then
    log "FAIL against $b (${took[$b]} s): exited ${rc_of[$b]}"
    rc=1
  else
    log "passed against $b (${took[$b]} s)"
  fi
done

log "running: cfn-lint infra/template.yaml infra/edge-waf.yaml"
if ! "$CFN_LINT" infra/template.yaml; then
  log "FAIL: cfn-lint infra/template.yaml"
  rc=1
fi
# CLOUDFRONT-scope web ACLs exist only in us-east-1.
if ! "$CFN_LINT" --regions us-east-1 -- infra/edge-waf.yaml; then
  log "FAIL: cfn-lint infra/edge-waf.yaml"
  rc=1
fi
exit "$rc"
