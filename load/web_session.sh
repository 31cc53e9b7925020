#!/usr/bin/env bash
# GET /api/v1/me by web session cookie vs by bearer token, under wrk, in the same run: the cookie
# path (one indexed lookup of the session and its user, no signature check) must not be slower
# than the bearer path (RS256 verification, then the user lookup).
#
#   bash load/web_session.sh                             # 32 connections, 2 rounds of 15 s
#   CONNECTIONS="32 256" DURATION=30s bash load/web_session.sh
#
# The stand-in pool (examples/jwks_stub.rs) also plays the managed login, signing everyone in as
# one user, so a real sign-in (`/auth/login` → `/auth/callback`) makes the session. Needs wrk and
# PostgreSQL at DATABASE_URL. Exits 1 when the cookie path is slower than the bearer path by more
# than the runs' noise (5 %), or any answer is not 2xx.
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUNDS="${ROUNDS:-2}"
need wrk "apt-get install wrk"

cargo build --release --quiet --bin gatehouse --example jwks_stub
start_jwks
start_app COGNITO_DOMAIN="http://$JWKS_ADDR" COGNITO_WEB_CLIENT_ID=7web0client0id0abcdefghij \
  PUBLIC_URL="http://$APP_ADDR"

# A browser's sign-in, with curl's cookie jar.
jar="$work/cookies"
authorize="$(curl -fs -o /dev/null -c "$jar" -w '%{redirect_url}' "http://$APP_ADDR/auth/login")"
callback="$(curl -fs -o /dev/null -w '%{redirect_url}' "$authorize")"
curl -fs -o /dev/null -b "$jar" -c "$jar" "$callback"
cookie="$(awk '$6 == "gatehouse_web" {print $7}' "$jar")"
[ -n "$cookie" ] || { echo "no session cookie after the sign-in" >&2; tail -5 "$work/app.log" >&2; exit 1; }
cookie_headers=(-H "Cookie: gatehouse_web=$cookie" -H "X-CSRF: 1")
bearer_headers=(-H "Authorization: Bearer $token")
curl -fs "${cookie_headers[@]}" "http://$APP_ADDR/api/v1/me" >/dev/null
curl -fs "${bearer_headers[@]}" "http://$APP_ADDR/api/v1/me" >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s="$(getconf CLK_TCK)"
failed=0
printf '%-11s %-7s %10s %9s %9s %8s %10s\n' connections by "req/s" "p50 ms" "p99 ms" non-2xx "CPU µs/req"
for c in $CONNECTIONS; do
  declare -A rps=() p99=() p50=() bad=() ticks=() reqs=()
  for round in $(seq 1 "$ROUNDS"); do
    order="bearer cookie"; [ $((round % 2)) = 0 ] && order="cookie bearer"
    for by in $order; do
      if [ "$by" = cookie ]; then headers=("${cookie_headers[@]}"); else headers=("${bearer_headers[@]}"); fi
      before="$(cpu_ticks "$app_pid")"
      line="$(wrk -t"${THREADS:-2}" -c"$c" -d"$DURATION" -s load/report.lua "${headers[@]}" \
        "http://$APP_ADDR/api/v1/me" | grep '^RESULT')"
      ticks[$by]=$(( ${ticks[$by]:-0} + $(cpu_ticks "$app_pid") - before ))
      reqs[$by]=$(( ${reqs[$by]:-0} + $(field requests "$line") ))
      rps[$by]=$(( ${rps[$by]:-0} + $(field rps "$line") ))
      p99[$by]="${p99[$by]:-} $(field p99_ms "$line")"
      p50[$by]="${p50[$by]:-} $(field p50_ms "$line")"
      bad[$by]=$(( ${bad[$by]:-0} + $(field non2xx "$line") + $(field socket_errors "$line") ))
    done
  done
  for by in bearer cookie; do
    worst99="$(tr ' ' '\n' <<<"${p99[$by]}" | sort -g | tail -1)"
    worst50="$(tr ' ' '\n' <<<"${p50[$by]}" | sort -g | tail -1)"
    cpu_us=$(( ${ticks[$by]} * 1000000 / ticks_per_s / ${reqs[$by]} ))
    printf '%-11s %-7s %10d %9s %9s %8d %10d\n' "$c" "$by" $(( ${rps[$by]} / ROUNDS )) \
      "$worst50" "$worst99" "${bad[$by]}" "$cpu_us"
    [ "${bad[$by]}" != 0 ] && { echo "FAIL: ${bad[$by]} non-2xx or socket errors by $by"; failed=1; }
  done
  ratio="$(awk -v k="${rps[cookie]}" -v b="${rps[bearer]}" 'BEGIN{printf "%.2f", k/b}')"
  echo "            cookie / bearer = ${ratio}x"
  awk -v r="$ratio" 'BEGIN{exit !(r < 0.95)}' && { echo "FAIL: the cookie path is slower"; failed=1; }
  unset rps p99 p50 bad ticks reqs
done
exit "$failed"
