# Shared by the load and fault scripts: a scratch database, the stand-in JWKS with a valid token,
# and the release server, all on 127.0.0.1, torn down on exit. Source it; do not run it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SERVER_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_NAME="gatehouse_load_$$"
DB_URL="${SERVER_URL%/*}/${DB_NAME}"
JWKS_ADDR="${JWKS_ADDR:-127.0.0.1:18790}"
APP_ADDR="${APP_ADDR:-127.0.0.1:18791}"
ISSUER="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_GateTest1"
CLIENT_ID="4example0client0id0abcdef"
# Which build the starters run: release (the default) or debug (what `cargo test` built).
PROFILE="${PROFILE:-release}"
bin="${CARGO_TARGET_DIR:-target}/$PROFILE"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$SERVER_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "$0 needs $1: $2" >&2; exit 1; }; }

# The environment of a server under test; extra VAR=value pairs may follow the command.
app_env() {
  # Always run in the background (`app_env … &`): exec makes $! the server itself.
  # development: the stub serves the JWKS over plain HTTP.
  exec env GATEHOUSE_ENV=development DATABASE_URL="$DB_URL" \
    SECRET_KEY="load-test-secret-key-0123456789abcdef" \
    COGNITO_ISSUER="$ISSUER" COGNITO_CLIENT_IDS="$CLIENT_ID" \
    COGNITO_JWKS_URL="http://$JWKS_ADDR/jwks.json" "$@"
}

# start_jwks [FILE…]: serves the JWKS and sets $token to a valid access token (one hour); each
# FILE gets another token of its own (the stub writes them in order, the last one last).
start_jwks() {
  "$bin/examples/jwks_stub" "$JWKS_ADDR" "$work/token" "$@" 2>"$work/jwks.log" &
  pids+=($!)
  local last="$work/token"
  [ "$#" -gt 0 ] && last="${!#}"
  for _ in $(seq 1 50); do [ -s "$last" ] && break; sleep 0.1; done
  token="$(cat "$work/token")"
}

# wait_ready URL [tries]: polls until URL answers 2xx.
wait_ready() {
  for _ in $(seq 1 "${2:-100}"); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# start_app [VAR=value…]: starts the release server on $APP_ADDR, sets $app_pid, waits until ready.
start_app() {
  app_env BIND="$APP_ADDR" "$@" "$bin/gatehouse" serve 2>>"$work/app.log" &
  app_pid=$!
  pids+=("$app_pid")
  wait_ready "http://$APP_ADDR/readyz" 300 || { tail -20 "$work/app.log" >&2; exit 1; }
}

# rss_kib PID: resident set size in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# wrk_run URL CONNECTIONS DURATION: prints wrk's RESULT line (load/report.lua).
wrk_run() {
  wrk -t"${THREADS:-2}" -c"$2" -d"$3" -s load/report.lua \
    -H "Authorization: Bearer $token" "$1" | grep '^RESULT'
}

# field NAME LINE: the value of NAME=… in a RESULT line.
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
