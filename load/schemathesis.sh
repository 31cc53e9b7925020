#!/usr/bin/env bash
# Schemathesis against the served OpenAPI document, with valid Cognito tokens: every operation
# gets generated valid and invalid requests, and every check must pass (no 5xx; statuses, content
# types, headers and bodies as documented; invalid input refused, valid input accepted).
#
#   bash load/schemathesis.sh                    # load/schemathesis.toml: 50 examples per operation
#   bash load/schemathesis.sh --max-examples 500 # any further `schemathesis run` options
#   PROFILE=release bash load/schemathesis.sh
#
# Needs python3 (schemathesis 4 is installed with pip into a venv under ~/.cache on first use;
# SCHEMATHESIS_VENV names another) and a PostgreSQL server at DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres); makes a database of its own and drops it. The app,
# a stand-in JWKS (examples/jwks_stub.rs) and schemathesis all run on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
VENV="${SCHEMATHESIS_VENV:-$HOME/.cache/gatehouse/schemathesis-$SCHEMATHESIS_VERSION}"
PROFILE="${PROFILE:-debug}"
JWKS_ADDR="${JWKS_ADDR:-127.0.0.1:18792}"
APP_ADDR="${APP_ADDR:-127.0.0.1:18793}"
SERVER_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_NAME="gatehouse_schemathesis_$$"
DB_URL="${SERVER_URL%/*}/${DB_NAME}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin gatehouse --example jwks_stub
else
  cargo build --quiet --bin gatehouse --example jwks_stub
fi
bin="$TARGET_DIR/$PROFILE"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$SERVER_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/examples/jwks_stub" "$JWKS_ADDR" "$work/token" "$work/logout_token" 2>"$work/jwks.log" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/logout_token" ] && break; sleep 0.1; done

DATABASE_URL="$DB_URL" BIND="$APP_ADDR" RUST_LOG="${RUST_LOG:-warn}" \
  SECRET_KEY="schemathesis-secret-key-0123456789abcdef" \
  COGNITO_ISSUER="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_GateTest1" \
  COGNITO_CLIENT_IDS="4example0client0id0abcdef" \
  COGNITO_JWKS_URL="http://$JWKS_ADDR/jwks.json" \
  COGNITO_HOOK_SECRET="schemathesis-hook-secret-0123456789abcdef" \
  "$bin/gatehouse" serve 2>"$work/app.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://$APP_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://$APP_ADDR/readyz" >/dev/null || { cat "$work/app.log" >&2; exit 1; }

status=0
GATEHOUSE_TOKEN="$(cat "$work/token")" GATEHOUSE_LOGOUT_TOKEN="$(cat "$work/logout_token")" \
  "$VENV/bin/schemathesis" --config-file load/schemathesis.toml run \
  --report-dir "$TARGET_DIR/schemathesis-report" --report junit \
  "$@" "http://$APP_ADDR/api/openapi.json" || status=$?

# Whatever schemathesis sent, the app must have logged no fault of its own (actix-http logs the
# malformed requests it refuses itself with 400 at ERROR level; those are not faults).
if grep 'ERROR' "$work/app.log" | grep -qv 'actix_http::h1::dispatcher'; then
  echo "the app logged errors:" >&2
  grep 'ERROR' "$work/app.log" | grep -v 'actix_http::h1::dispatcher' | head -20 >&2
  status=1
fi
exit "$status"
