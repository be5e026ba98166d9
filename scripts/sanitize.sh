#!/usr/bin/env bash
# Builds the tests and examples with AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer included) and runs them: the whole test suite, then short runs of
# the examples. Any report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${KILN_SANITIZE_BUILD_DIR:-build-asan}"
mkdir -p "$build_dir"
# -g1: line tables only, enough for the file:line of every frame in a report, and a
# fifth faster to compile than full debug information (the test and example programs
# themselves compile with -O0: tests/ and examples/CMakeLists.txt). Only the programs
# run below are built.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" -DKILN_SANITIZE=ON -DKILN_CUDA=OFF \
  -DKILN_BUILD_BENCH=OFF > "$build_dir/configure.log" 2>&1
targets=(kiln_tests autograd_demo mlp_fashion cnn_fashion mlp_by_hand quantize_fashion gcn_cora vgae_cora gvae_movielens)
cmake --build "$build_dir" --parallel "$(nproc)" --target "${targets[@]}" > "$build_dir/build.log" 2>&1 ||
  { tail -40 "$build_dir/build.log"; exit 1; }

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
echo "sanitize: test suite"
"$build_dir/tests/kiln_tests" --no-intro --minimal

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
run() { echo "sanitize: $*"; "$@" > "$tmp/out.log" 2>&1 || { tail -40 "$tmp/out.log"; exit 1; }; }
ex="$build_dir/examples"
run "$ex/autograd_demo"
run "$ex/mlp_fashion" --epochs 1 --limit 1000 --save "$tmp/mlp.safetensors"
run "$ex/cnn_fashion" --epochs 1 --limit 256 --test-limit 1000 --batchnorm --save "$tmp/cnn.safetensors"
run "$ex/mlp_by_hand" --epochs 1 --limit 500
run "$ex/quantize_fashion" --mlp "$tmp/mlp.safetensors" --cnn "$tmp/cnn.safetensors" --reps 1 --test-limit 1000 --out "$tmp/q"
shared="../shared/data"
if [ -d "$shared/cora" ]; then
  run "$ex/gcn_cora" --data "$shared/cora" --epochs 5
  run "$ex/gcn_cora" --data "$shared/cora" --model gat --epochs 3
  run "$ex/vgae_cora" --data "$shared/cora" --epochs 5
else
  echo "sanitize: $shared/cora absent, graph examples skipped"
fi
if [ -d "$shared/ml-100k" ]; then
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 2 --batch-size 300 --report-every 1 --eval val
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 1 --loss bpr
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 1 --loss bpr --side-features --side-weight 2
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 1 --no-side-features
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 1 --negatives 3 --loss softmax --layers 3 --schedule cosine --no-item-bias
else
  echo "sanitize: $shared/ml-100k absent, recommender example skipped"
fi
echo "sanitize: clean"
