#!/usr/bin/env bash
# Runs one fuzz target for ctest (docs/fuzzing.md).
#   run_fuzzer.sh fuzz   BINARY SEED_DIR WORK_DIR SECONDS [DICT]
#       fuzzes a copy of the seeds for SECONDS; crash inputs land in WORK_DIR.
#   run_fuzzer.sh replay BINARY SEED_DIR REGRESSION_DIR
#       runs every seed and every saved crash input once.
# Exits non-zero when libFuzzer reports a crash, leak, timeout or OOM.
set -euo pipefail

mode=$1 binary=$2 seeds=$3
common=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "$mode" in
  fuzz)
    work=$4 seconds=$5 dict=${6:-}
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/crashes"
    cp -r "$seeds"/. "$work/corpus/"
    args=("${common[@]}" -max_total_time="$seconds" -artifact_prefix="$work/crashes/")
    if [ -n "$dict" ]; then args+=(-dict="$dict"); fi
    status=0
    "$binary" "${args[@]}" "$work/corpus" || status=$?
    if [ "$status" -ne 0 ]; then
      echo "run_fuzzer: $(basename "$binary") failed (exit $status); inputs in $work/crashes:" >&2
      ls -l "$work/crashes" >&2 || true
      echo "copy each to tests/fuzz/regressions/$(basename "$binary" | sed 's/^fuzz_//')/ after fixing the bug" >&2
    fi
    exit "$status"
    ;;
  replay)
    regressions=$4
    dirs=("$seeds")
    if [ -d "$regressions" ]; then dirs+=("$regressions"); fi
    exec "$binary" "${common[@]}" -runs=0 "${dirs[@]}"
    ;;
  *)
    echo "usage: run_fuzzer.sh fuzz|replay ..." >&2
    exit 2
    ;;
esac
