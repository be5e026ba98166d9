#!/usr/bin/env bash
# Builds the tests and examples with AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer included) and runs them: the whole test suite, then short runs of
# the examples. Any report fails the run. The build is the one scripts/fuzz.sh uses
# (scripts/instrumented-build.sh), so CI compiles the library once for both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/instrumented-build.sh
targets=(kiln_tests autograd_demo pinn_poisson mlp_fashion cnn_fashion rnn_fashion vit_fashion mlp_by_hand quantize_fashion gcn_cora vgae_cora
  gvae_movielens)
instrumented_build "${targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Only the OpenMP runtime's own thread descriptors (see the file); kiln's leaks still fail.
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt"
# Two programs share the cores below: OpenMP's idle workers sleep instead of spinning.
export OMP_WAIT_POLICY=passive

tmp="$(mktemp -d)"
background=""
trap '[ -z "$background" ] || kill "$background" 2>/dev/null; rm -rf "$tmp"' EXIT
# The test suite runs in two parts side by side, as most of its cases run on one thread
# (small tensors): the recurrent, 3-D and CSR-building cases (over half of the suite's
# time under the sanitizers) in the background; every other case, then the examples, in
# the foreground.
# The second part excludes exactly the files the first one takes, so every case runs.
slow_files="*/test_recurrent.cpp,*/test_volumes.cpp,*/test_csr_build.cpp"
suite() {
  local part=$1 start=$SECONDS
  shift
  "$build_dir/tests/kiln_tests" --no-intro --minimal "$@" > "$tmp/$part.log" 2>&1 ||
    { echo "sanitize: test suite, $part: failed"; tail -60 "$tmp/$part.log"; return 1; }
  echo "sanitize: test suite, $part ($((SECONDS - start)) s)"
}
suite "recurrent, 3-D and CSR cases" --source-file="$slow_files" &
background=$!
suite "other cases" --source-file-exclude="$slow_files"
run() {
  local start=$SECONDS
  "$@" > "$tmp/out.log" 2>&1 || { echo "sanitize: $*"; tail -40 "$tmp/out.log"; exit 1; }
  echo "sanitize: $* ($((SECONDS - start)) s)"
}
ex="$build_dir/examples"
run "$ex/autograd_demo" --steps 300
run "$ex/pinn_poisson" --steps 30 --points 64
run "$ex/mlp_fashion" --epochs 1 --limit 1000 --test-limit 1000 --save "$tmp/mlp.safetensors"
run "$ex/cnn_fashion" --epochs 1 --limit 256 --test-limit 256 --batchnorm --save "$tmp/cnn.safetensors"
run "$ex/rnn_fashion" --epochs 1 --limit 256 --test-limit 256 --cell gru --layers 2 --bidirectional
run "$ex/vit_fashion" --epochs 1 --limit 256 --test-limit 256 --layers 1 --patch 14
run "$ex/mlp_by_hand" --epochs 1 --limit 500 --test-limit 1000
run "$ex/quantize_fashion" --mlp "$tmp/mlp.safetensors" --cnn "$tmp/cnn.safetensors" --reps 1 --test-limit 256 --out "$tmp/q"
shared="../shared/data"
if [ -d "$shared/cora" ]; then
  run "$ex/gcn_cora" --data "$shared/cora" --epochs 5
  run "$ex/gcn_cora" --data "$shared/cora" --model gat --epochs 3
  run "$ex/vgae_cora" --data "$shared/cora" --epochs 5
else
  echo "sanitize: $shared/cora absent, graph examples skipped"
fi
if [ -d "$shared/ml-100k" ]; then
  # The sampled losses with small embeddings and few batches: the same code paths as the
  # tuned runs, in a tenth of their time under the sanitizers.
  small=(--dim 16 --batch-size 8192)
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 2 --batch-size 300 --report-every 1 --eval val
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 1 --loss bpr "${small[@]}"
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 1 --loss bpr --side-features --side-weight 2 "${small[@]}"
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 1 --no-side-features
  run "$ex/gvae_movielens" --data "$shared/ml-100k" --epochs 1 --negatives 3 --loss softmax --layers 3 --schedule cosine \
    --no-item-bias "${small[@]}"
else
  echo "sanitize: $shared/ml-100k absent, recommender example skipped"
fi
wait "$background"
background=""
echo "sanitize: clean"
