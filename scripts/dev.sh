#!/usr/bin/env bash
# `make dev`: the whole shop on this machine, no Docker, in one process (`shop-dev`, dev profile):
# set-up (tables, admin, demo catalog; idempotent), the order events, the reconciler on a timer, and
# the API gateway with the storefront and /ops on 127.0.0.1:$PORT. Two stacks under it (STACK):
#
#   embedded   (default) nothing but the Rust toolchain: DynamoDB runs inside shop-dev (dynoxide, data in
#              $SHOP_DATA_DIR, served on $DDB_PORT for other clients) and the bus and queues too
#   emulators  the reference: AWS's DynamoDB Local (Java 17) and moto (Python), from localstack/stack.sh
#              (installed on first use; data in .local/stack-$DDB_PORT/ddb-data)
#
# Ctrl-C (INT) or TERM stops the shop (and the emulators).
#
# Env: STACK (embedded), PORT (3000), DDB_PORT (8000), MOTO_PORT (5000), DDB_IN_MEMORY (0),
#      SHOP_DATA_DIR (.local/embedded), DATA_PLATFORM_PORT (4000), RECONCILE_EVERY_SECONDS (15),
#      TABLE_PREFIX (shop-), EVENT_BUS_NAME (shop-events), AWS_REGION (ap-northeast-2), SHOP_ADMIN_PASSWORD,
#      RUST_LOG (info), ...
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

FLAVOUR="${STACK:-embedded}"
STACK_SH="$REPO_ROOT/localstack/stack.sh"
export DDB_PORT="${DDB_PORT:-8000}"
export MOTO_PORT="${MOTO_PORT:-5000}"
export DDB_IN_MEMORY="${DDB_IN_MEMORY:-0}"
export STACK_RUN_DIR="${STACK_RUN_DIR:-$REPO_ROOT/.local/stack-$DDB_PORT}"
export SHOP_DATA_DIR="${SHOP_DATA_DIR:-$REPO_ROOT/.local/embedded}"

log() { echo "dev.sh: $*" >&2; }

case "$FLAVOUR" in
  embedded | emulators) ;;
  *)
    log "STACK is embedded (default) or emulators, not $FLAVOUR"
    exit 2
    ;;
esac

shop=""
emulators_up=0
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$shop" ]]; then stop_tree "$shop" 10; fi
  if ((emulators_up == 1)); then "$STACK_SH" down || rc=1; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build only what runs: shop-dev, in the dev profile (the one `make test` builds too), without the SSM
# client (no secret parameters locally; the largest SDK crate, docs/PERFORMANCE.md) ---
log "building shop-dev (dev profile; the first build takes a few minutes)"
SHOP_DEV="$(cargo_build_bins -p shop-tools --bin shop-dev --no-default-features | tail -n1)"
[[ -x "$SHOP_DEV" ]] || { log "shop-dev was not built"; exit 1; }

export DYNAMODB_ENDPOINT="http://127.0.0.1:$DDB_PORT"
export AWS_REGION="${AWS_REGION:-ap-northeast-2}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_EC2_METADATA_DISABLED=true
export TABLE_PREFIX="${TABLE_PREFIX:-shop-}"
export EVENT_BUS_NAME="${EVENT_BUS_NAME:-shop-events}"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE

if [[ "$FLAVOUR" == emulators ]]; then
  DDB_BACKEND=dynamodb-local "$STACK_SH" install
  emulators_up=1
  DDB_BACKEND=dynamodb-local "$STACK_SH" up
  export EVENTS_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
else
  unset EVENTS_ENDPOINT
  if (exec 3<>"/dev/tcp/127.0.0.1/$DDB_PORT") 2>/dev/null; then
    log "port $DDB_PORT (the embedded DynamoDB) is taken; is an emulator stack still running? (make clean-stack)"
    exit 1
  fi
fi

# In the background + wait, so INT/TERM reach the trap at once.
"$SHOP_DEV" --stack "$FLAVOUR" &
shop=$!
rc=0
wait "$shop" || rc=$?
shop=""
exit "$rc"
