#!/usr/bin/env bash
# Fuzzes the token path and the admin form parsing with cargo fuzz (libFuzzer), each target for
# FUZZ_SECONDS (default 600), starting from the committed seeds in fuzz/seeds/<target>/.
#
#   load/fuzz.sh                  # both targets, one after the other
#   load/fuzz.sh token            # one target
#   FUZZ_SECONDS=60 load/fuzz.sh  # a short run
#
# New corpus entries go to fuzz/corpus/<target>/, crashes to fuzz/artifacts/<target>/ (both
# ignored by git; copy a crash into fuzz/seeds/<target>/ as crash-* once fixed, so `cargo test`
# replays it). The last lines per target give executions, execs/s, coverage (cov), features (ft)
# and the number of crash files.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-600}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(token admin_form)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# cargo fuzz passes nightly-only flags (-Zsanitizer=address, …). This machine has only a stable
# toolchain; RUSTC_BOOTSTRAP=1 lets it accept them.
export RUSTC_BOOTSTRAP=1

# Built once for all targets: release optimisation, debug assertions and overflow checks,
# AddressSanitizer (cargo fuzz's defaults).
if [ ${#targets[@]} -eq 1 ]; then
    cargo fuzz build "${targets[0]}"
else
    cargo fuzz build
fi

status=0
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="fuzz/artifacts/$target/last-run.log"
    before=$(find "fuzz/artifacts/$target" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
    echo "== $target: ${FUZZ_SECONDS}s from fuzz/seeds/$target ($(ls "fuzz/seeds/$target" | wc -l) seeds)"
    start=$(date +%s)
    if ! cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=1
    fi
    elapsed=$(( $(date +%s) - start ))
    after=$(find "fuzz/artifacts/$target" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    echo "   wall ${elapsed}s; last status: ${last}"
    echo "   executions ${execs:-?}, ${rate:-?} execs/s, peak RSS ${rss:-?} MB, new crash files $(( after - before ))"
    if [ "$status" -ne 0 ]; then
        echo "   FAILED: see $log"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -n 20 || true
    fi
done
exit "$status"
