#!/usr/bin/env bash
# Tools venv (outside the clone): cfn-lint, and for `make package` aws-sam-cli + cargo-lambda (PyPI wheels).
#
#   scripts/tools.sh install [cfn-lint|all]   idempotent; one stamp per pinned requirement, fast when done
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

case "${1:-}" in
  install)
    case "${2:-all}" in
      cfn-lint) install_reqs "cfn-lint==$CFN_LINT_VERSION" ;;
      all) install_reqs "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$AWS_SAM_CLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" ;;
      *) echo "usage: $0 install [cfn-lint|all]" >&2; exit 2 ;;
    esac
    ;;
  bin) echo "$TOOLS_VENV/bin" ;;
  *) echo "usage: $0 install [cfn-lint|all] | bin" >&2; exit 2 ;;
esac
