#!/usr/bin/env bash
# Load test of the API's hot path, GET /api/v1/me with a valid Cognito access token, with wrk.
#
#   bash load/me.sh                      # 32 and 256 connections, 20 s each
#   CONNECTIONS="64" DURATION=60s bash load/me.sh
#
# Needs wrk (`apt-get install wrk`) and a PostgreSQL server at DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres); makes a database of its own and drops it.
# Everything runs on 127.0.0.1: the release binary, a stand-in JWKS (examples/jwks_stub.rs), wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-32 256}"
THREADS="${THREADS:-2}"
JWKS_ADDR="${JWKS_ADDR:-127.0.0.1:18790}"
APP_ADDR="${APP_ADDR:-127.0.0.1:18791}"
SERVER_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_NAME="gatehouse_load_$$"
DB_URL="${SERVER_URL%/*}/${DB_NAME}"

command -v wrk >/dev/null || { echo "load/me.sh needs wrk: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet --bin gatehouse --example jwks_stub

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$SERVER_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

target/release/examples/jwks_stub "$JWKS_ADDR" "$work/token" 2>"$work/jwks.log" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/token" ] && break; sleep 0.1; done
token="$(cat "$work/token")"

DATABASE_URL="$DB_URL" BIND="$APP_ADDR" RUST_LOG="${RUST_LOG:-warn}" \
  SECRET_KEY="load-test-secret-key-0123456789abcdef" \
  COGNITO_ISSUER="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_GateTest1" \
  COGNITO_CLIENT_IDS="4example0client0id0abcdef" \
  COGNITO_JWKS_URL="http://$JWKS_ADDR/jwks.json" \
  target/release/gatehouse serve 2>"$work/app.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://$APP_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://$APP_ADDR/readyz" >/dev/null || { cat "$work/app.log" >&2; exit 1; }
# The first request provisions the user; the load measures the steady state.
curl -fs -H "Authorization: Bearer $token" "http://$APP_ADDR/api/v1/me" >/dev/null

for c in $CONNECTIONS; do
  echo "== GET /api/v1/me, $c connections, $DURATION"
  wrk -t"$THREADS" -c"$c" -d"$DURATION" --latency \
    -H "Authorization: Bearer $token" "http://$APP_ADDR/api/v1/me"
done
