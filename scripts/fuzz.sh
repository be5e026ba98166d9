#!/usr/bin/env bash
# Builds kiln's libFuzzer targets with clang (+ AddressSanitizer and
# UndefinedBehaviorSanitizer; the build scripts/sanitize.sh also uses:
# scripts/instrumented-build.sh) and runs each for SECONDS (default 5: the CI smoke run).
# The long campaign: scripts/fuzz.sh 600   (ten minutes per target)
#
# Targets: the IDX reader (plain and gzip), the safetensors reader, the Cora and
# MovieLens parsers, the quantized-model loader and the CSV reader. Seeds: tests/fuzz/corpus/<target>;
# what the fuzzer adds goes to build-asan/corpus/<target>, crashes to build-asan/crash_*.
# Prints each target's executions; exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
source scripts/instrumented-build.sh
targets=(idx safetensors cora movielens quant_model csv)
instrumented_build "${targets[@]/#/fuzz_}"

status=0
export KILN_NUM_THREADS=1
for t in "${targets[@]}"; do
  work="$build_dir/corpus/$t"
  log="$build_dir/fuzz_$t.log"
  mkdir -p "$work"
  if ! "$build_dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
       -print_final_stats=1 -artifact_prefix="$build_dir/crash_$t-" "$work" "tests/fuzz/corpus/$t" > "$log" 2>&1; then
    echo "fuzz_$t: FINDING (log: $log)"
    tail -40 "$log"
    status=1
  fi
  runs=$(grep -o 'number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz_$t: $runs executions in ${seconds} s, corpus $(ls "$work" | wc -l) new inputs"
done
exit $status
