#!/usr/bin/env bash
# Fault drill under load: PostgreSQL is stopped (fast shutdown, as a restart does) while 16
# connections hammer GET /api/v1/me, then started again. Checks that
#   - every answer is a 200 or a 503 `database_unavailable` (never a 500, never a hang),
#   - the server process stays up,
#   - all answers are 200 again within 2 s of PostgreSQL accepting connections.
#
#   bash load/faults.sh                 # release build
#   PROFILE=debug bash load/faults.sh   # the binaries `cargo test` built (.ci/run does this)
#
# Needs to run as a user allowed to stop and start the local cluster (pg_ctlcluster) and nothing
# else using that cluster meanwhile. DOWN_SECONDS (default 3) is how long it stays down.
source "$(dirname "$0")/lib.sh"

DOWN_SECONDS="${DOWN_SECONDS:-3}"
cluster="$(ls /etc/postgresql | head -n1)"
profile_flag=(); [ "$PROFILE" = release ] && profile_flag=(--release)
cargo build "${profile_flag[@]}" --quiet --bin gatehouse --example jwks_stub --example hammer
restart_on_exit() {
  pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
}
trap 'restart_on_exit; cleanup' EXIT

start_jwks
start_app RUST_LOG=warn
curl -fs -H "Authorization: Bearer $token" "http://$APP_ADDR/api/v1/me" >/dev/null

now_ms() { date +%s%3N; }
t0="$(now_ms)"
"$bin/examples/hammer" "http://$APP_ADDR/api/v1/me" "$work/token" 16 $(( DOWN_SECONDS + 9 )) \
  "$work/answers.csv" 2>"$work/hammer.log" &
hammer=$!
sleep 3
echo "stopping PostgreSQL ($cluster main, fast shutdown) under load"
t_stop=$(( $(now_ms) - t0 ))
pg_ctlcluster --skip-systemctl-redirect "$cluster" main stop -m fast
sleep "$DOWN_SECONDS"
pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
until pg_isready -q -h 127.0.0.1 -p 5432; do sleep 0.05; done
t_ready=$(( $(now_ms) - t0 ))
echo "PostgreSQL accepts connections again"
wait "$hammer"

failed=0
kill -0 "$app_pid" 2>/dev/null || { echo "FAIL: the server process died"; failed=1; }
echo "answers by status and code:"
tail -n +2 "$work/answers.csv" | awk -F, '{print $2, $3}' | sort | uniq -c | sed 's/^/  /'
# hammer's clock started a little after t0; the lag only makes the figures below pessimistic.
awk -F, -v stop="$t_stop" -v ready="$t_ready" '
  NR == 1 { next }
  $2 != 200 && !($2 == 503 && $3 == "database_unavailable") { bad++ }
  $4 + 0 > max { max = $4 + 0 }
  $2 != 200 && $1 + 0 > last_fail { last_fail = $1 + 0 }
  END {
    recovery = last_fail > ready ? last_fail - ready : 0
    printf "database down at %d ms, back at %d ms; last non-200 sent at %d ms\n", stop, ready, last_fail
    printf "slowest answer: %.0f ms; service back %d ms after the database\n", max, recovery
    if (bad) { printf "FAIL: %d answers were neither 200 nor 503 database_unavailable\n", bad; exit 1 }
    if (recovery > 2000) { print "FAIL: recovery took more than 2 s"; exit 1 }
  }' "$work/answers.csv" || failed=1
exit "$failed"
