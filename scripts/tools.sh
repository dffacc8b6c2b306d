#!/usr/bin/env bash
# Tools venv (outside the clone): cfn-lint, and for `make package` aws-sam-cli + cargo-lambda (PyPI wheels).
#
#   scripts/tools.sh install [cfn-lint|browser|contract|all]   idempotent; one stamp per pinned requirement
#                                              browser: selenium, and Debian's chromium + chromium-driver when
#                                              /usr/bin/chromium or /usr/bin/chromedriver is missing (apt)
#   scripts/tools.sh install contract          schemathesis + openapi-python-client (own venv), openapi-typescript (npm)
#   scripts/tools.sh bin                       prints the venv's bin directory (put it first on PATH)
#   scripts/tools.sh contract-bin              prints the contract venv's bin directory
#   scripts/tools.sh npm-bin                   prints the npm tools' bin directory
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=localstack/versions.env
. "$REPO_ROOT/localstack/versions.env"

CACHE_DIR="${SHOP_CACHE_DIR:-$HOME/.cache/shop-backend}"
PYTHON="${PYTHON:-python3}"
PY_TAG="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
TOOLS_VENV="$CACHE_DIR/venv-tools-py$PY_TAG"
CONTRACT_VENV="$CACHE_DIR/venv-contract-py$PY_TAG"
NPM_TOOLS="$CACHE_DIR/npm-tools-openapi-typescript-$OPENAPI_TYPESCRIPT_VERSION"

log() { echo "tools: $*" >&2; }

install_reqs() {
  local missing=() req
  for req in "$@"; do
    [[ -f "$TOOLS_VENV/.stamp-$req" ]] || missing+=("$req")
  done
  ((${#missing[@]} > 0)) || return 0
  mkdir -p "$CACHE_DIR"
  (
    flock 9
    if [[ ! -x "$TOOLS_VENV/bin/pip" ]]; then
      rm -rf "$TOOLS_VENV"
      "$PYTHON" -m venv "$TOOLS_VENV"
    fi
    log "installing ${missing[*]} into $TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}"
    for req in "${missing[@]}"; do touch "$TOOLS_VENV/.stamp-$req"; done
  ) 9>"$CACHE_DIR/.tools.lock"
}

install_contract() {
  mkdir -p "$CACHE_DIR"
  TOOLS_VENV="$CONTRACT_VENV" install_reqs "schemathesis==$SCHEMATHESIS_VERSION" \
    "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION"
  if [[ ! -x "$NPM_TOOLS/node_modules/.bin/openapi-typescript" ]]; then
    log "installing openapi-typescript@$OPENAPI_TYPESCRIPT_VERSION into $NPM_TOOLS"
    (
      flock 9
      mkdir -p "$NPM_TOOLS"
      npm install --prefix "$NPM_TOOLS" --silent --no-audit --no-fund "openapi-typescript@$OPENAPI_TYPESCRIPT_VERSION" >&2
    ) 9>"$CACHE_DIR/.npm.lock"
  fi
}

install_browser() {
  install_reqs "selenium==$SELENIUM_VERSION"
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then return 0; fi
  log "installing Debian's chromium and chromium-driver (apt)"
  local sudo=()
  if ((EUID != 0)); then sudo=(sudo); fi
  (
    flock 9
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >&2 ||
      { "${sudo[@]}" apt-get update -q >&2 && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >&2; }
  ) 9>"$CACHE_DIR/.apt.lock"
}

case "${1:-}" in
  install)
    case "${2:-all}" in
      cfn-lint) install_reqs "cfn-lint==$CFN_LINT_VERSION" ;;
      browser) mkdir -p "$CACHE_DIR"; install_browser ;;
      contract) install_contract ;;
      all) install_reqs "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$AWS_SAM_CLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" ;;
      *) echo "usage: $0 install [cfn-lint|browser|contract|all]" >&2; exit 2 ;;
    esac
    ;;
  bin) echo "$TOOLS_VENV/bin" ;;
  contract-bin) echo "$CONTRACT_VENV/bin" ;;
  npm-bin) echo "$NPM_TOOLS/node_modules/.bin" ;;
  *) echo "usage: $0 install [cfn-lint|browser|contract|all] | bin" >&2; exit 2 ;;
esac
