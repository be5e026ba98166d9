# The instrumented build that scripts/sanitize.sh and scripts/fuzz.sh share (sourced
# by both): clang with AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer's
# coverage on everything (-DKILN_SANITIZE=ON -DKILN_BUILD_FUZZERS=ON), Debug with
# -O1 -g1: line tables only, enough for the file:line of every frame in a report. The
# test and example programs themselves compile with -O0 (tests/ and
# examples/CMakeLists.txt): their time is spent in the library. Eigen does the GEMM:
# OpenBLAS's OpenMP build would bring libgomp next to clang's libomp.
#
#   instrumented_build TARGET...   configures and builds the targets in $build_dir
#                                  (KILN_ASAN_BUILD_DIR, default build-asan); on
#                                  failure prints the log's tail.
build_dir="${KILN_ASAN_BUILD_DIR:-build-asan}"
instrumented_build() {
  local dir="$build_dir"
  mkdir -p "$dir"
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
    -DKILN_SANITIZE=ON -DKILN_BUILD_FUZZERS=ON -DKILN_CUDA=OFF -DKILN_BLAS=Eigen -DKILN_BUILD_BENCH=OFF \
    > "$dir/configure.log" 2>&1 || { tail -40 "$dir/configure.log"; return 1; }
  cmake --build "$dir" --parallel "$(nproc)" --target "$@" > "$dir/build.log" 2>&1 ||
    { tail -40 "$dir/build.log"; return 1; }
}
