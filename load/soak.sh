#!/usr/bin/env bash
# Memory under steady load: GET /api/v1/me with wrk in back-to-back 10-second runs, the server's
# resident memory (VmRSS) sampled after each, printed as CSV (seconds, requests so far, RSS MiB).
#
#   bash load/soak.sh                     # 10 minutes at 32 connections
#   SOAK_SECONDS=120 CONNECTIONS=64 bash load/soak.sh
#
# Reports the RSS after the first 1,000,000 requests and at the end, and exits 1 if either is
# 64 MiB or more, or if the last minute's RSS is above the second minute's by more than 4 MiB
# (growth under steady load). Same needs as load/me.sh.
source "$(dirname "$0")/lib.sh"

SOAK_SECONDS="${SOAK_SECONDS:-600}"
CONNECTIONS="${CONNECTIONS:-32}"
need wrk "apt-get install wrk"

cargo build --release --quiet --bin gatehouse --example jwks_stub
start_jwks
start_app
curl -fs -H "Authorization: Bearer $token" "http://$APP_ADDR/api/v1/me" >/dev/null

echo "seconds,requests,rss_mib"
echo "0,0,$(awk -v k="$(rss_kib "$app_pid")" 'BEGIN{printf "%.1f", k/1024}')"
total=0 elapsed=0 bad=0 at_million="" samples=()
while [ "$elapsed" -lt "$SOAK_SECONDS" ]; do
  line="$(wrk_run "http://$APP_ADDR/api/v1/me" "$CONNECTIONS" 10s)"
  total=$(( total + $(field requests "$line") ))
  errors=$(( $(field non2xx "$line") + $(field socket_errors "$line") ))
  bad=$(( bad + errors ))
  [ "$errors" = 0 ] || echo "# errors in this run: ${line#RESULT }" >&2
  elapsed=$(( elapsed + 10 ))
  rss="$(awk -v k="$(rss_kib "$app_pid")" 'BEGIN{printf "%.1f", k/1024}')"
  samples+=("$rss")
  echo "$elapsed,$total,$rss"
  [ -z "$at_million" ] && [ "$total" -ge 1000000 ] && at_million="$rss"
done

failed=0
echo "requests: $total, non-2xx or socket errors: $bad"
[ "$bad" = 0 ] || failed=1
if [ -n "$at_million" ]; then
  echo "RSS after the first 1,000,000 requests: $at_million MiB"
  awk -v r="$at_million" 'BEGIN{exit !(r >= 64)}' && { echo "FAIL: 64 MiB or more"; failed=1; }
fi
echo "RSS at the end: ${samples[-1]} MiB"
awk -v r="${samples[-1]}" 'BEGIN{exit !(r >= 64)}' && { echo "FAIL: 64 MiB or more"; failed=1; }
if [ "${#samples[@]}" -ge 12 ]; then
  # Minute 2 against the last minute: warm-up (pool, caches, allocator arenas) is over by then.
  early="$(printf '%s\n' "${samples[@]:6:6}" | sort -g | tail -1)"
  late="$(printf '%s\n' "${samples[@]: -6}" | sort -g | tail -1)"
  echo "peak RSS in minute 2: $early MiB, in the last minute: $late MiB"
  awk -v a="$early" -v b="$late" 'BEGIN{exit !(b - a > 4)}' && { echo "FAIL: RSS grows"; failed=1; }
fi
exit "$failed"
