#!/usr/bin/env bash
# `make package`: every Lambda for arm64 in ONE `cargo lambda build` (profile lambda-release, Cargo.toml) (one dependency graph, shared by all
# 21 binaries), then `sam build`, whose makefile build method (functions/Makefile) only copies each
# bootstrap into .aws-sam/build. Prints the time of each step and the size of every bootstrap.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

TOOLS_BIN="$(scripts/tools.sh bin)"
export PATH="$TOOLS_BIN:$PATH" SAM_CLI_TELEMETRY=0
export LAMBDA_DIR="$REPO_ROOT/target/lambda"

start=$(date +%s)
env "${LAMBDA_BUILD_ENV[@]}" cargo lambda build --profile lambda-release --arm64 --package shop-functions --bins
built=$(date +%s)
sam build --template-file infra/template.yaml --build-dir .aws-sam/build --build-in-source
done_at=$(date +%s)

echo "package: cargo lambda build $((built - start)) s, sam build $((done_at - built)) s, total $((done_at - start)) s"
echo "package: arm64 bootstrap sizes (stripped):"
for f in .aws-sam/build/*Function/bootstrap; do
  awk -v n="$(basename "$(dirname "$f")")" -v b="$(stat -c %s "$f")" 'BEGIN { printf "  %-32s %6.2f MiB\n", n, b / 1048576 }'
done
