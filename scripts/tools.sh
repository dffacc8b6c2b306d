#!/usr/bin/env bash
# Tools venv (outside the clone): cfn-lint, and for `make package` aws-sam-cli + cargo-lambda (PyPI wheels).
#
#   scripts/tools.sh install [cfn-lint|browser|all]   idempotent; one stamp per pinned requirement
#                                              browser: selenium, and Debian's chromium + chromium-driver when
#                                              /usr/bin/chromium or /usr/bin/chromedriver is missing (apt)
#   scripts/tools.sh bin                       prints the venv's bin directory (put it first on PATH)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=localstack/versions.env
. "$REPO_ROOT/localstack/versions.env"

CACHE_DIR="${SHOP_CACHE_DIR:-$HOME/.cache/shop-backend}"
PYTHON="${PYTHON:-python3}"
PY_TAG="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
TOOLS_VENV="$CACHE_DIR/venv-tools-py$PY_TAG"

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
      all) install_reqs "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$AWS_SAM_CLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" ;;
      *) echo "usage: $0 install [cfn-lint|browser|all]" >&2; exit 2 ;;
    esac
    ;;
  bin) echo "$TOOLS_VENV/bin" ;;
  *) echo "usage: $0 install [cfn-lint|browser|all] | bin" >&2; exit 2 ;;
esac
