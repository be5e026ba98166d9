#!/usr/bin/env bash
# Builds kiln's libFuzzer targets with clang (+ AddressSanitizer and
# UndefinedBehaviorSanitizer) and runs each for SECONDS (default 5: the CI smoke run).
# The long campaign: scripts/fuzz.sh 600   (ten minutes per target)
#
# Targets: the IDX reader (plain and gzip), the safetensors reader, the Cora and
# MovieLens parsers, and the quantized-model loader. Seeds: tests/fuzz/corpus/<target>;
# what the fuzzer adds goes to build-fuzz/corpus/<target>, crashes to build-fuzz/crash_*.
# Prints each target's executions; exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
build_dir="${KILN_FUZZ_BUILD_DIR:-build-fuzz}"
mkdir -p "$build_dir"
# Eigen for GEMM: OpenBLAS's OpenMP build would bring libgomp next to clang's libomp.
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_BUILD_FUZZERS=ON -DKILN_CUDA=OFF \
  -DKILN_BLAS=Eigen -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_EXAMPLES=OFF -DKILN_BUILD_BENCH=OFF > "$build_dir/configure.log" 2>&1
cmake --build "$build_dir" --parallel "$(nproc)" > "$build_dir/build.log" 2>&1 || { tail -40 "$build_dir/build.log"; exit 1; }

status=0
export KILN_NUM_THREADS=1
for t in idx safetensors cora movielens quant_model; do
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
