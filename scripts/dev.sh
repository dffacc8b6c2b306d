#!/usr/bin/env bash
# `make dev`: the whole shop on this machine, no Docker.
#   deps -> local stack on 8000/5000 (DynamoDB data kept in .local/stack-8000/ddb-data across restarts)
#   -> `shop-local setup` (tables, bus, queue, admin, seed catalog; idempotent)
#   -> local background processes (event relay etc.) -> API gateway on 127.0.0.1:$PORT in the foreground.
# Ctrl-C (INT) or TERM stops the gateway, the background processes and the stack.
#
# Env: PORT (3000), DDB_PORT (8000), MOTO_PORT (5000), DDB_IN_MEMORY (0), TABLE_PREFIX (shop-),
#      EVENT_BUS_NAME (shop-events), AWS_REGION (ap-northeast-2), SHOP_ADMIN_PASSWORD, ...
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

STACK="$REPO_ROOT/localstack/stack.sh"
export DDB_PORT="${DDB_PORT:-8000}"
export MOTO_PORT="${MOTO_PORT:-5000}"
export DDB_IN_MEMORY="${DDB_IN_MEMORY:-0}"
export STACK_RUN_DIR="${STACK_RUN_DIR:-$REPO_ROOT/.local/stack-$DDB_PORT}"
export PORT="${PORT:-3000}"

log() { echo "dev.sh: $*" >&2; }

# Background processes besides the gateway: name -> pid (stopped by the trap, logs in the run dir).
declare -A BG_PIDS=()
gateway=""

# start_bg NAME COMMAND...: starts a tracked background process, output to $STACK_RUN_DIR/NAME.log.
start_bg() {
  local name="$1"
  shift
  "$@" >"$STACK_RUN_DIR/$name.log" 2>&1 &
  BG_PIDS[$name]=$!
  echo "${BG_PIDS[$name]}" >"$STACK_RUN_DIR/$name.pid"
  log "started $name (pid ${BG_PIDS[$name]}, log $STACK_RUN_DIR/$name.log)"
}

cleanup() {
  local rc=$? name
  trap - EXIT INT TERM
  log "stopping"
  if [[ -n "$gateway" ]]; then stop_tree "$gateway" 5; fi
  for name in "${!BG_PIDS[@]}"; do
    stop_tree "${BG_PIDS[$name]}" 5
    rm -f "$STACK_RUN_DIR/$name.pid"
  done
  "$STACK" down || rc=1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- deps and stack ---
"$STACK" install
"$STACK" up

export DYNAMODB_ENDPOINT="http://127.0.0.1:$DDB_PORT"
export EVENTS_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
export AWS_REGION="${AWS_REGION:-ap-northeast-2}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_EC2_METADATA_DISABLED=true
export TABLE_PREFIX="${TABLE_PREFIX:-shop-}"
export EVENT_BUS_NAME="${EVENT_BUS_NAME:-shop-events}"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE

# --- build once, then run the binaries directly ---
log "building (release; the first build takes a few minutes)"
cargo build --release --bin shop-local --bin local-gateway --bin local-events
BIN="$REPO_ROOT/target/release"

# --- set-up: tables, admin, seed catalog ---
"$BIN/shop-local" setup

# --- local background processes -------------------------------------------------------------------------------
# Order events: the orders-table stream poller (runs the relay Lambda's code), the rule's queue
# dispatcher (runs the consumer Lambda's code) and the data-platform sink on :$DATA_PLATFORM_PORT.
export DATA_PLATFORM_PORT="${DATA_PLATFORM_PORT:-4000}"
start_bg local-events "$BIN/local-events"
# The reconciler Lambda's code on a timer (on AWS: every minute): settles charges and order keys left in doubt.
start_bg reconciler "$BIN/shop-local" reconcile --every "${RECONCILE_EVERY_SECONDS:-15}"

# --- API gateway (foreground) ---
log "starting the API gateway on http://127.0.0.1:$PORT"
"$BIN/local-gateway" &
gateway=$!

until curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/health"; do
  kill -0 "$gateway" 2>/dev/null || break
  sleep 1
done
if kill -0 "$gateway" 2>/dev/null; then
  cat >&2 <<MSG

  Shop API       http://127.0.0.1:$PORT        (health: http://127.0.0.1:$PORT/health)
  DynamoDB Local http://127.0.0.1:$DDB_PORT        (data: $([[ "$DDB_IN_MEMORY" == 1 ]] && echo in-memory || echo "$STACK_RUN_DIR/ddb-data"))
  moto           http://127.0.0.1:$MOTO_PORT        (EventBridge + SQS; dashboard /moto-api/)
  Data platform  http://127.0.0.1:$DATA_PLATFORM_PORT/events  (GET lists the OrderPlaced events received)
  Tables         ${TABLE_PREFIX}users, ${TABLE_PREFIX}products, ...   bus: $EVENT_BUS_NAME
  Logs           $STACK_RUN_DIR/*.log
  Ctrl-C stops everything.

MSG
fi

# Wait until the gateway or any background process exits (or a signal arrives); then the trap cleans up.
rc=0
exited=""
wait -n -p exited "$gateway" "${BG_PIDS[@]}" || rc=$?
if [[ "$exited" == "$gateway" ]]; then
  log "the gateway exited ($rc)"
  gateway=""
else
  log "background process $exited exited ($rc)"
fi
exit "$rc"
