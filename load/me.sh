#!/usr/bin/env bash
# The API's hot path, GET /api/v1/me with a valid Cognito access token, under wrk, compared in the
# same run with load/minimal_me.rs: the least a server can do for that answer (parse the bearer
# token, verify RS256 with a cached key, one indexed SELECT through the same pool).
#
#   bash load/me.sh                                    # 32 and 256 connections, 2 rounds of 15 s
#   CONNECTIONS="64" DURATION=60s ROUNDS=1 bash load/me.sh
#
# Gatehouse runs with its defaults (RUST_LOG unset: no access log). Needs wrk (`apt-get install wrk`) and
# PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); makes a
# database of its own and drops it. Exits 1 when a goal of the README is missed: ≥ 0.8× the
# minimal handler's requests/s, p99 < 10 ms at 32 connections, no non-2xx answer.
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32 256}"
ROUNDS="${ROUNDS:-2}"
MIN_ADDR="${MIN_ADDR:-127.0.0.1:18792}"
need wrk "apt-get install wrk"

cargo build --release --quiet --bin gatehouse --example jwks_stub --example minimal_me
start_jwks
start_app
# The first request provisions the user; the load measures the steady state.
curl -fs -H "Authorization: Bearer $token" "http://$APP_ADDR/api/v1/me" >/dev/null
app_env BIND="$MIN_ADDR" "$bin/examples/minimal_me" 2>"$work/minimal.log" &
min_pid=$!
pids+=("$min_pid")
for _ in $(seq 1 100); do
  curl -fs -o /dev/null -H "Authorization: Bearer $token" "http://$MIN_ADDR/api/v1/me" && break
  sleep 0.1
done

failed=0
# CPU time per request (user + system, from /proc) is the steadier figure on a busy machine:
# requests/s moves with whatever else runs, CPU spent per answer much less.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s="$(getconf CLK_TCK)"
printf '%-11s %-9s %10s %9s %9s %8s %10s\n' connections server "req/s" "p50 ms" "p99 ms" non-2xx "CPU µs/req"
for c in $CONNECTIONS; do
  declare -A rps=() p99=() p50=() bad=() ticks=() reqs=()
  for round in $(seq 1 "$ROUNDS"); do
    # Alternate which goes first so drift (thermal, autovacuum) does not favour one side.
    order="minimal gatehouse"; [ $((round % 2)) = 0 ] && order="gatehouse minimal"
    for server in $order; do
      addr="$APP_ADDR" pid="$app_pid"
      [ "$server" = minimal ] && addr="$MIN_ADDR" pid="$min_pid"
      before="$(cpu_ticks "$pid")"
      line="$(wrk_run "http://$addr/api/v1/me" "$c" "$DURATION")"
      ticks[$server]=$(( ${ticks[$server]:-0} + $(cpu_ticks "$pid") - before ))
      reqs[$server]=$(( ${reqs[$server]:-0} + $(field requests "$line") ))
      rps[$server]=$(( ${rps[$server]:-0} + $(field rps "$line") ))
      p99[$server]="${p99[$server]:-} $(field p99_ms "$line")"
      p50[$server]="${p50[$server]:-} $(field p50_ms "$line")"
      bad[$server]=$(( ${bad[$server]:-0} + $(field non2xx "$line") + $(field socket_errors "$line") ))
    done
  done
  for server in minimal gatehouse; do
    worst99="$(tr ' ' '\n' <<<"${p99[$server]}" | sort -g | tail -1)"
    worst50="$(tr ' ' '\n' <<<"${p50[$server]}" | sort -g | tail -1)"
    cpu_us=$(( ${ticks[$server]} * 1000000 / ticks_per_s / ${reqs[$server]} ))
    printf '%-11s %-9s %10d %9s %9s %8d %10d\n' "$c" "$server" $(( ${rps[$server]} / ROUNDS )) \
      "$worst50" "$worst99" "${bad[$server]}" "$cpu_us"
    [ "$server" = gatehouse ] && [ "$c" = 32 ] && awk -v p="$worst99" 'BEGIN{exit !(p >= 10)}' \
      && { echo "FAIL: p99 $worst99 ms at 32 connections (goal < 10 ms)"; failed=1; }
  done
  ratio="$(awk -v g="${rps[gatehouse]}" -v m="${rps[minimal]}" 'BEGIN{printf "%.2f", g/m}')"
  echo "            gatehouse / minimal = ${ratio}x"
  awk -v r="$ratio" 'BEGIN{exit !(r < 0.8)}' && { echo "FAIL: below 0.8x"; failed=1; }
  [ "${bad[gatehouse]}" != 0 ] && { echo "FAIL: ${bad[gatehouse]} non-2xx or socket errors"; failed=1; }
  unset rps p99 p50 bad ticks reqs
done
echo "gatehouse RSS after the run: $(( $(rss_kib "$app_pid") / 1024 )) MiB"
exit "$failed"
