# shellcheck shell=bash
# Helpers sourced by scripts/test.sh and scripts/dev.sh.

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

# Live (non-zombie) DynamoDB Local / moto servers on the given ports, as "pid args" lines.
stack_processes() {
  local ddb_port="$1" moto_port="$2" snapshot
  # Snapshot first, so the filter's own command line is not part of what it filters.
  snapshot="$(ps -eo pid=,stat=,args=)"
  awk -v dp="$ddb_port" -v mp="$moto_port" '
    $2 ~ /^Z/ { next }
    index($0, "DynamoDB" "Local.jar") && $0 ~ ("-port " dp "( |$)") { print $1, substr($0, index($0, $3)); next }
    index($0, "moto" "_server") && $0 ~ ("-p " mp "( |$)") { print $1, substr($0, index($0, $3)) }
  ' <<<"$snapshot"
}
