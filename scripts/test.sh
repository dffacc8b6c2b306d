#!/usr/bin/env bash
# The test run behind `make test` (after lint):
#   deps -> local stack on test ports (in-memory) -> cargo tests -> cfn-lint -> stack down -> leak check.
# The stack is torn down on every exit path (EXIT/INT/TERM trap).
#
# Usage: scripts/test.sh [COMMAND...]    default COMMAND: cargo test --workspace --all-targets
# Env:   TEST_DDB_PORT (8100), TEST_MOTO_PORT (5100)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

STACK="$REPO_ROOT/localstack/stack.sh"
export DDB_PORT="${TEST_DDB_PORT:-8100}"
export MOTO_PORT="${TEST_MOTO_PORT:-5100}"
export DDB_IN_MEMORY=1
export STACK_RUN_DIR="$REPO_ROOT/.local/stack-test-$DDB_PORT"

if (($# > 0)); then cmd=("$@"); else cmd=(cargo test --workspace --all-targets); fi

log() { echo "test.sh: $*" >&2; }

child=""
trap run_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# --- deps ---
"$STACK" install
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

# --- stack (a leftover from a run that was SIGKILLed is stopped first) ---
run_stack_up
rm -f "$STACK_RUN_DIR/stall-report.txt"

run_client_env
TABLE_PREFIX="test-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')-"
export TABLE_PREFIX
log "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT EVENTS_ENDPOINT=$EVENTS_ENDPOINT TABLE_PREFIX=$TABLE_PREFIX"

rc=0
# In the background + wait, so INT/TERM reach the trap at once (which then stops the whole command tree).
log "running: ${cmd[*]}"
"${cmd[@]}" &
child=$!
wait "$child" || rc=$?
child=""
if ((rc != 0)); then log "FAIL: ${cmd[*]} exited $rc"; fi
if [[ -s "$STACK_RUN_DIR/stall-report.txt" ]]; then log "$(cat "$STACK_RUN_DIR/stall-report.txt")"; fi

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
