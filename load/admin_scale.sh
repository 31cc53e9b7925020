#!/usr/bin/env bash
# The back office with a million users: seeds a database of its own (`gatehouse seed`), starts the
# release binary, logs in through the admin login form (with its CSRF token), times each users
# list request ROUNDS times with curl and prints p50/p95, then exports every user as CSV while
# sampling the server's resident memory.
#
#   bash load/admin_scale.sh                   # 1,000,000 users, every request
#   REUSE=1 bash load/admin_scale.sh           # keep the database seeded by an earlier run
#   ONLY=search_name,csv bash load/admin_scale.sh
#   USERS=200000 ROUNDS=10 bash load/admin_scale.sh
#
# Needs curl, psql and a PostgreSQL server at DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres). The database (DB_NAME, default scale_users_1m) is
# kept afterwards so the next run can reuse it; drop it with `dropdb`.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS="${USERS:-1000000}"
ROUNDS="${ROUNDS:-20}"
ONLY="${ONLY:-}"
REUSE="${REUSE:-0}"
APP_ADDR="${APP_ADDR:-127.0.0.1:18795}"
SERVER_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_NAME="${DB_NAME:-scale_users_1m}"
DB_URL="${SERVER_URL%/*}/${DB_NAME}"
ADMIN="scale_admin"
PASSWORD="scale-test-password-7319"
BASE="http://$APP_ADDR"
BIN="${CARGO_TARGET_DIR:-target}/release/gatehouse"

wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

cargo build --release --quiet --bin gatehouse

work="$(mktemp -d)"
app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="$DB_URL" RUST_LOG="${RUST_LOG:-warn}" COOKIE_SECURE=false \
  SECRET_KEY="scale-test-secret-key-0123456789abcdef"
if [ "$REUSE" != 1 ]; then
  psql "$SERVER_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
fi
echo "== gatehouse seed --users $USERS (database $DB_NAME)"
start=$(date +%s.%N)
"$BIN" seed --users "$USERS"
printf 'seed: %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"
GATEHOUSE_SUPERUSER_PASSWORD="$PASSWORD" "$BIN" createsuperuser --no-input \
  --username "$ADMIN" >/dev/null 2>&1 || true

BIND="$APP_ADDR" "$BIN" serve --no-migrate 2>"$work/app.log" &
app_pid=$!
for _ in $(seq 1 100); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$BASE/readyz" >/dev/null || { cat "$work/app.log" >&2; exit 1; }

jar="$work/cookies"
csrf() { sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' | head -n1; }
token="$(curl -fsS -c "$jar" -b "$jar" "$BASE/admin/login/" | csrf)"
status="$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" -H "Origin: $BASE" \
  --data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode "username=$ADMIN" \
  --data-urlencode "password=$PASSWORD" "$BASE/admin/login/")"
[ "$status" = 303 ] || { echo "login failed: HTTP $status" >&2; exit 1; }

# name  path
QUERIES=(
  "list                /admin/users/"
  "sort_username_desc  /admin/users/?o=-username"
  "sort_email          /admin/users/?o=email"
  "sort_email_desc     /admin/users/?o=-email"
  "sort_staff          /admin/users/?o=is_staff"
  "sort_staff_desc     /admin/users/?o=-is_staff"
  "sort_active         /admin/users/?o=is_active"
  "sort_active_desc    /admin/users/?o=-is_active"
  "sort_source         /admin/users/?o=source"
  "sort_source_desc    /admin/users/?o=-source"
  "sort_created        /admin/users/?o=created_at"
  "sort_created_desc   /admin/users/?o=-created_at"
  "search_domain       /admin/users/?q=shop.example"
  "search_name         /admin/users/?q=olivia"
  "search_name_domain  /admin/users/?q=olivia+shop.example"
  "search_rare         /admin/users/?q=tanaka4242"
  "search_digits       /admin/users/?q=31415"
  "search_short        /admin/users/?q=li"
  "filter_inactive     /admin/users/?is_active=0"
  "filter_staff        /admin/users/?is_staff=1"
  "filter_cognito      /admin/users/?is_active=1&source=cognito"
  "filter_month        /admin/users/?created_from=2025-01-01&created_to=2025-01-31"
  "filter_mixed        /admin/users/?is_active=0&q=shop.example&o=-created_at"
  "page_middle         /admin/users/?p=2500&per=200"
  "page_last           /admin/users/?p=5000&per=200"
)

percentile() { # $1 = percent; stdin = numbers
  sort -n | awk -v p="$1" '{ a[NR] = $1 } END { i = int((p / 100) * NR + 0.999); if (i < 1) i = 1; print a[i] }'
}

printf '\n%-20s %9s %9s  %s\n' "request" "p50 ms" "p95 ms" "shows"
for entry in "${QUERIES[@]}"; do
  read -r name path <<<"$entry"
  wanted "$name" || continue
  shows="$(curl -fsS -b "$jar" "$BASE$path" | sed -n 's/.*id="result-count">\([^<]*\)<.*/\1/p')"
  curl -fsS -o /dev/null -b "$jar" "$BASE$path"
  : >"$work/times"
  for _ in $(seq 1 "$ROUNDS"); do
    curl -fsS -o /dev/null -b "$jar" -w '%{time_total}\n' "$BASE$path" >>"$work/times"
  done
  p50="$(awk '{ print $1 * 1000 }' "$work/times" | percentile 50)"
  p95="$(awk '{ print $1 * 1000 }' "$work/times" | percentile 95)"
  printf '%-20s %9.1f %9.1f  %s  (%s)\n' "$name" "$p50" "$p95" "$shows" "$path"
done

if wanted csv; then
  rss() { awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$app_pid/status"; }
  before="$(rss)"
  ( while kill -0 "$app_pid" 2>/dev/null; do rss; sleep 0.2; done ) >"$work/rss" &
  sampler=$!
  start=$(date +%s.%N)
  read -r lines bytes < <(curl -fsS -b "$jar" "$BASE/admin/users/export.csv" | wc -lc)
  elapsed="$(echo "$(date +%s.%N) - $start" | bc)"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  peak="$(sort -n "$work/rss" | tail -n1)"
  printf '\ncsv export: %d rows (%d MB) in %.1f s; server RSS %s MiB before, %s MiB peak, %s MiB after\n' \
    "$((lines - 1))" "$((bytes / 1000000))" "$elapsed" "$before" "$peak" "$(rss)"
fi
