#!/usr/bin/env bash
# Checks a running `make dev` from outside with nothing but curl and sed: /health, the storefront,
# /ops, then a new user places an order and its OrderPlaced event must reach the data-platform sink.
#
# Usage: scripts/dev_check.sh     Env: PORT (3000), DATA_PLATFORM_PORT (4000), DEV_CHECK_WAIT (30 s)
set -euo pipefail

API="http://127.0.0.1:${PORT:-3000}"
SINK="http://127.0.0.1:${DATA_PLATFORM_PORT:-4000}/events"
WAIT="${DEV_CHECK_WAIT:-30}"

fail() {
  echo "dev_check: FAIL: $*" >&2
  exit 1
}
# call METHOD PATH [BODY [TOKEN]]: the HTTP status in $REPLY_STATUS, the body in $REPLY_BODY.
call() {
  local method="$1" path="$2" body="${3:-}" token="${4:-}"
  local args=(-s -m 10 -o "/tmp/dev_check.$$" -w '%{http_code}' -X "$method")
  [[ -z "$body" ]] || args+=(-H 'content-type: application/json' -d "$body")
  [[ -z "$token" ]] || args+=(-H "authorization: Bearer $token")
  REPLY_STATUS="$(curl "${args[@]}" "$API$path" || echo 000)"
  REPLY_BODY="$(cat /tmp/dev_check.$$ 2>/dev/null || true)"
  rm -f /tmp/dev_check.$$
}
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$2" | head -n1; }
expect() {
  call "$@"
  [[ "$REPLY_STATUS" == 2* ]] || fail "$1 $2 answered $REPLY_STATUS: $REPLY_BODY"
  echo "dev_check: $1 $2 -> $REPLY_STATUS"
}

expect GET /health
expect GET /
grep -qi "<html" <<<"$REPLY_BODY" || fail "the storefront is not HTML"
expect GET /ops
expect GET /ops/metrics

email="check-$(date +%s)-$RANDOM@shop.local"
expect POST /auth/signup "{\"email\":\"$email\",\"password\":\"check-password-123\",\"name\":\"Check\"}"
expect POST /auth/login "{\"email\":\"$email\",\"password\":\"check-password-123\"}"
token="$(field accessToken "$REPLY_BODY")"
[[ -n "$token" ]] || fail "no access token"
expect POST /balance/charge '{"amount":100000,"paymentMethod":"tok_sandbox"}' "$token"
expect GET '/products?limit=1'
product="$(field productId "$REPLY_BODY")"
[[ -n "$product" ]] || fail "no product in the catalog"
expect POST /orders "{\"items\":[{\"productId\":\"$product\",\"quantity\":1}]}" "$token"
order="$(field orderId "$REPLY_BODY")"

for ((i = 0; i < WAIT * 5; i++)); do
  if curl -s -m 5 "$SINK" | grep -q "\"evt_$order\""; then
    echo "dev_check: OK: order $order's event reached the data platform ($SINK) after ~$((i / 5)) s"
    exit 0
  fi
  sleep 0.2
done
fail "order $order's event did not reach $SINK within $WAIT s"
