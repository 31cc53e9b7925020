#!/usr/bin/env bash
# Client generators against the served OpenAPI documents, as app teams use them:
#   1. openapi-spec-validator accepts both documents (the app API's and the hook's);
#   2. TypeScript: openapi-typescript turns /api/openapi.json into schema.d.ts, tsc --strict checks
#      clients/typescript/calls.ts against it (openapi-fetch; its @ts-expect-error lines prove the
#      types are precise), then node runs it;
#   3. Python: openapi-python-client generates a package from /api/openapi.json, and
#      clients/python/calls.py calls the server through it.
# Both programs call every operation against the running server, check statuses, headers and the
# typed error bodies, and fail if the document has an operation they did not call.
#
#   bash load/clients.sh
#   PROFILE=release bash load/clients.sh
#
# Needs python3, node and npm, and a PostgreSQL server at DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres); makes a database of its own and drops it. The tools
# are installed on first use, exactly as clients/python/requirements.txt and
# clients/typescript/package-lock.json pin them (every package, not only the tools), under
# ${XDG_CACHE_HOME:-~/.cache}/gatehouse/, one directory per lock file: a later run installs nothing. The app and a stand-in JWKS (examples/jwks_stub.rs) run on 127.0.0.1; the generated
# code goes to a temporary directory.
PROFILE="${PROFILE:-debug}"
JWKS_ADDR="${JWKS_ADDR:-127.0.0.1:18796}"
APP_ADDR="${APP_ADDR:-127.0.0.1:18797}"
source "$(dirname "$0")/lib.sh"
need node "Node.js 20 or newer"
need npm "it comes with Node.js"
need python3 "Python 3.11 or newer (the generated client uses typing.Self and enum.StrEnum)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse"

# The Python tools, in one venv named by the lock file's hash. The generated package needs httpx
# and attrs, which openapi-python-client itself depends on: calls.py runs in the same venv. Each
# marker is written last, so an interrupted install is redone rather than half used.
requirements=clients/python/requirements.txt
pytools="$cache/python-client-tools-$(sha256sum "$requirements" | cut -c1-16)"
if [ ! -e "$pytools/.installed" ]; then
  echo "installing $requirements into $pytools"
  rm -rf "$pytools"
  python3 -m venv "$pytools"
  "$pytools/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  touch "$pytools/.installed"
fi
version() { sed -n "s/^$1==//p" "$requirements"; }

# The TypeScript tools, exactly as the lock file says: the directory is named by its hash.
lock=clients/typescript/package-lock.json
tsdir="$cache/typescript-client-$(sha256sum "$lock" | cut -c1-16)"
if [ ! -e "$tsdir/.installed" ]; then
  echo "installing clients/typescript/package.json's tools into $tsdir"
  rm -rf "$tsdir"
  mkdir -p "$tsdir"
  cp clients/typescript/package.json "$lock" "$tsdir/"
  (cd "$tsdir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$tsdir/.installed"
fi

profile_flag=(); [ "$PROFILE" = release ] && profile_flag=(--release)
cargo build "${profile_flag[@]}" --quiet --bin gatehouse --example jwks_stub
# Four users: the first and second for the calls (the second may not change the first's articles),
# one per program to log out, since logging out revokes the token.
start_jwks "$work/other_token" "$work/py_logout_token" "$work/ts_logout_token"
start_app RUST_LOG="${RUST_LOG:-warn}"
url="http://$APP_ADDR"

echo "== openapi-spec-validator $(version openapi-spec-validator)"
curl -fsS "$url/api/openapi.json" -o "$work/openapi.json"
curl -fsS "$url/api/hooks/openapi.json" -o "$work/hooks-openapi.json"
(cd "$work" && "$pytools/bin/openapi-spec-validator" --validation-errors all \
  openapi.json hooks-openapi.json)

GATEHOUSE_OTHER_TOKEN="$(cat "$work/other_token")"
export GATEHOUSE_URL="$url" GATEHOUSE_TOKEN="$token" GATEHOUSE_OTHER_TOKEN

echo "== TypeScript: openapi-typescript, openapi-fetch, tsc $("$tsdir/node_modules/.bin/tsc" --version)"
ts="$work/ts"
mkdir "$ts"
cp clients/typescript/calls.ts clients/typescript/tsconfig.json clients/typescript/package.json "$ts/"
ln -s "$tsdir/node_modules" "$ts/node_modules"
"$ts/node_modules/.bin/openapi-typescript" "$work/openapi.json" -o "$ts/schema.d.ts"
# Type errors (and an unused @ts-expect-error) fail here; nothing is emitted then.
"$ts/node_modules/.bin/tsc" -p "$ts"
GATEHOUSE_LOGOUT_TOKEN="$(cat "$work/ts_logout_token")" node "$ts/out/calls.js"

echo "== Python: openapi-python-client $(version openapi-python-client)"
# On PATH for its ruff post-hooks; without ruff it warns, and a warning fails the generation.
PATH="$pytools/bin:$PATH" "$pytools/bin/openapi-python-client" generate \
  --path "$work/openapi.json" --meta none --output-path "$work/py/gatehouse_api_client" \
  --fail-on-warning
GATEHOUSE_LOGOUT_TOKEN="$(cat "$work/py_logout_token")" PYTHONPATH="$work/py" \
  "$pytools/bin/python" clients/python/calls.py

# Whatever the clients sent, the app must have logged no fault of its own.
if grep -q 'ERROR' "$work/app.log"; then
  echo "the app logged errors:" >&2
  grep 'ERROR' "$work/app.log" | head -20 >&2
  exit 1
fi
echo "clients: OK in ${SECONDS}s"
