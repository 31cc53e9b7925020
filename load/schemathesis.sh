#!/usr/bin/env bash
# Schemathesis against the served OpenAPI documents (the app API's, then the hook's), with valid
# Cognito tokens: every operation gets generated valid and invalid requests, and every check must
# pass (no 5xx; statuses, content types, headers and bodies as documented; invalid input refused,
# valid input accepted).
#
#   bash load/schemathesis.sh                    # load/schemathesis.toml: 50 examples per operation
#   bash load/schemathesis.sh --max-examples 500 # any further `schemathesis run` options
#   PROFILE=release bash load/schemathesis.sh
#
# Needs python3 (schemathesis 4 is installed with pip into a venv under ~/.cache on first use;
# SCHEMATHESIS_VENV names another) and a PostgreSQL server at DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres); makes a database of its own and drops it. The app,
# a stand-in JWKS (examples/jwks_stub.rs) and schemathesis all run on 127.0.0.1.
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
VENV="${SCHEMATHESIS_VENV:-$HOME/.cache/gatehouse/schemathesis-$SCHEMATHESIS_VERSION}"
PROFILE="${PROFILE:-debug}"
JWKS_ADDR="${JWKS_ADDR:-127.0.0.1:18792}"
APP_ADDR="${APP_ADDR:-127.0.0.1:18793}"
source "$(dirname "$0")/lib.sh"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

profile_flag=(); [ "$PROFILE" = release ] && profile_flag=(--release)
cargo build "${profile_flag[@]}" --quiet --bin gatehouse --example jwks_stub
start_jwks "$work/logout_token"
start_app RUST_LOG="${RUST_LOG:-warn}" COGNITO_HOOK_SECRET="schemathesis-hook-secret-0123456789abcdef"

status=0
# The app API's document, then the hook's own.
for doc in openapi.json hooks/openapi.json; do
  GATEHOUSE_TOKEN="$token" GATEHOUSE_LOGOUT_TOKEN="$(cat "$work/logout_token")" \
    "$VENV/bin/schemathesis" --config-file load/schemathesis.toml run \
    --report-dir "${CARGO_TARGET_DIR:-target}/schemathesis-report/${doc%%/*}" --report junit \
    "$@" "http://$APP_ADDR/api/$doc" || status=$?
done

# Whatever schemathesis sent, the app must have logged no fault of its own (actix-http logs the
# malformed requests it refuses itself with 400 at ERROR level; those are not faults).
if grep 'ERROR' "$work/app.log" | grep -qv 'actix_http::h1::dispatcher'; then
  echo "the app logged errors:" >&2
  grep 'ERROR' "$work/app.log" | grep -v 'actix_http::h1::dispatcher' | head -20 >&2
  status=1
fi
exit "$status"
