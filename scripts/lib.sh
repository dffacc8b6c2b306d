# shellcheck shell=bash
# Helpers sourced by scripts/test.sh, scripts/bench.sh, scripts/dev.sh, scripts/package.sh and localstack/stack.sh.

# cargo_build_bins CARGO_BUILD_ARGS...: builds (diagnostics on stderr) and prints the path of every
# executable built, one a line (wherever the target directory is).
cargo_build_bins() {
  cargo build --message-format=json-render-diagnostics "$@" | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
}

# Prints a process and all its descendants (pids, parents first).
proc_tree() {
  local pid="$1" child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    proc_tree "$child"
  done
}

# kill_tree PID [SIGNAL]: signals PID and every descendant, collected before any is signalled.
kill_tree() {
  local pids
  pids="$(proc_tree "$1" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill "-${2:-TERM}" $pids 2>/dev/null || true
}

# stop_tree PID [GRACE_SECONDS]: TERM, wait, then KILL what is left.
stop_tree() {
  local pid="$1" grace="${2:-5}" i left
  kill -0 "$pid" 2>/dev/null || return 0
  local pids
  pids="$(proc_tree "$pid" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    left=""
    for p in $pids; do
      if [[ -e /proc/$p ]] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then left+="$p "; fi
    done
    [[ -z "$left" ]] && return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $left 2>/dev/null || true
}

# Live (non-zombie) DynamoDB servers (DynamoDB Local or local-dynamodb) and moto servers on the given
# ports, as "pid args" lines.
stack_processes() {
  local ddb_port="$1" moto_port="$2" snapshot
  # Snapshot first, so the filter's own command line is not part of what it filters.
  snapshot="$(ps -eo pid=,stat=,args=)"
  awk -v dp="$ddb_port" -v mp="$moto_port" '
    $2 ~ /^Z/ { next }
    index($0, "DynamoDB" "Local.jar") && $0 ~ ("-port " dp "( |$)") { print $1, substr($0, index($0, $3)); next }
    index($0, "local-" "dynamodb") && $0 ~ ("--port " dp "( |$)") { print $1, substr($0, index($0, $3)); next }
    index($0, "moto" "_server") && $0 ~ ("-p " mp "( |$)") { print $1, substr($0, index($0, $3)) }
  ' <<<"$snapshot"
}

# --- a run on stacks of its own (scripts/test.sh, scripts/bench.sh) ---
# They use the caller's STACK and log(), and `children` (the pids of the commands the run is waiting
# for, stopped first on exit).
run_preexisting="" # pids of servers on the run's ports that were running before it (not its to judge)
run_groups=""      # process groups of the servers the run started
run_stacks=()      # one "DDB_PORT|MOTO_PORT|STACK_RUN_DIR|STACK_SERVICES|DDB_BACKEND" per stack started
children=""

# run_stack_up: stops a leftover of a run that was SIGKILLed, then starts the stack of the caller's
# DDB_PORT, MOTO_PORT, STACK_RUN_DIR, STACK_SERVICES and DDB_BACKEND. Call once per stack.
# shellcheck disable=SC2153 # DDB_PORT and MOTO_PORT are the caller's
run_stack_up() {
  local services="${STACK_SERVICES:-ddb moto}" ddb_port="-" moto_port="-"
  if [[ " $services " == *" ddb "* ]]; then ddb_port="$DDB_PORT"; fi
  if [[ " $services " == *" moto "* ]]; then moto_port="$MOTO_PORT"; fi
  run_stacks+=("$ddb_port|$moto_port|$STACK_RUN_DIR|$services|${DDB_BACKEND:-dynamodb-local}")
  "$STACK" down
  run_preexisting+="$(stack_processes "$ddb_port" "$moto_port" | cut -d' ' -f1)"$'\n'
  "$STACK" up
  run_groups+=" $(cat "$STACK_RUN_DIR/ddb.pid" "$STACK_RUN_DIR/moto.pid" 2>/dev/null | tr '\n' ' ' || true)"
}

# run_client_env: the environment of the run's clients: the stack's endpoints, local credentials,
# no AWS profile.
# shellcheck disable=SC2153 # DDB_PORT and MOTO_PORT are the caller's
run_client_env() {
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$DDB_PORT"
  export EVENTS_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
  export AWS_REGION=ap-northeast-2
  export AWS_ACCESS_KEY_ID=local
  export AWS_SECRET_ACCESS_KEY=local
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_DEFAULT_PROFILE
}

# run_exit: the run's EXIT trap. Stops the commands, then every stack, and fails the run when a server
# it started survived the teardown; logs OK or FAILED and exits with the run's status.
run_exit() {
  local rc=$?
  trap - EXIT INT TERM
  local pid entry ddb_port moto_port dir services backend
  for pid in $children; do stop_tree "$pid" 5; done
  for entry in "${run_stacks[@]}"; do
    IFS='|' read -r ddb_port moto_port dir services backend <<<"$entry"
    DDB_PORT="$ddb_port" MOTO_PORT="$moto_port" STACK_RUN_DIR="$dir" STACK_SERVICES="$services" \
      DDB_BACKEND="$backend" "$STACK" down || rc=1
  done
  local leaked="" line pgid
  for entry in "${run_stacks[@]}"; do
    IFS='|' read -r ddb_port moto_port dir services backend <<<"$entry"
    while read -r line; do
      [[ -n "$line" ]] || continue
      grep -qx "${line%% *}" <<<"$run_preexisting" || leaked+="$line"$'\n'
    done < <(stack_processes "$ddb_port" "$moto_port")
  done
  for pgid in $run_groups; do
    leaked+="$(ps -eo pid=,pgid=,stat=,args= | awk -v g="$pgid" '$2 == g && $3 !~ /^Z/')"
  done
  if [[ -n "$leaked" ]]; then
    log "FAIL: stack processes of this run survived teardown:"
    echo "$leaked" >&2
    rc=1
  fi
  if ((rc == 0)); then log "OK"; else log "FAILED (exit $rc)"; fi
  exit "$rc"
}

# The environment of every build of the Lambdas (profile lambda-release: `make package`, `make bench-lambda`):
# aws-lc without its CPU jitter entropy source (seeded from the OS and the CPU's RNG instead), which costs every
# cold start its first random bytes; docs/PERFORMANCE.md ("Init, step by step") has the measurement. Only this
# profile: other builds keep aws-lc-sys as it comes (and their artifacts, shared in target/, untouched).
# shellcheck disable=SC2034 # used by the scripts that source this file
LAMBDA_BUILD_ENV=(AWS_LC_SYS_NO_JITTER_ENTROPY=1)
