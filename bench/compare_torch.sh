#!/usr/bin/env bash
# kiln against libtorch on the Fashion-MNIST examples, same network, optimizer,
# batch size and batch order, in one run; then the GAT of `gcn_cora --model gat` on
# Cora (200 epochs a side, 2 threads) when CORA_DIR (default ../shared/data/cora) holds
# it. Each side runs REPS times, alternating, and the script prints the median seconds
# per epoch and the ratio kiln / libtorch. libtorch runs in its best thread setting on
# this machine: MLP 1 thread (and OPENBLAS_NUM_THREADS=1), CNN 2 threads; kiln uses the
# same thread counts. WHAT picks the pairs: all (default), fashion or gat.
#
#   bench/compare_torch.sh [BUILD_DIR] [REPS] [WHAT]   (needs -DKILN_BUILD_BENCH=ON and libtorch-dev)
set -euo pipefail
build="${1:-build}"
reps="${2:-3}"
what="${3:-all}"
[ -x "$build/bench/torch_fashion" ] || { echo "no $build/bench/torch_fashion: apt-get install libtorch-dev, then rebuild"; exit 1; }

seconds() { grep '^RESULT ' | tail -1 | sed 's/^RESULT //' | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds_per_epoch"])'; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

run_pair() {  # name, epochs, threads, extra flags...
  local name=$1 epochs=$2 threads=$3; shift 3
  local kiln=() torch=()
  for ((i = 0; i < reps; i++)); do
    kiln+=("$("$build/examples/${name%%_*}_fashion" --epochs "$epochs" --threads "$threads" "$@" | seconds)")
    torch+=("$(OPENBLAS_NUM_THREADS=$threads "$build/bench/torch_fashion" --model "${name%%_*}" --epochs "$epochs" \
               --threads "$threads" "$@" | seconds)")
  done
  local k t
  k=$(median "${kiln[@]}")
  t=$(median "${torch[@]}")
  printf "%-8s threads %d  kiln %6.2f s/epoch  libtorch %6.2f s/epoch  ratio %.2f   (kiln: %s; libtorch: %s)\n" \
    "$name" "$threads" "$k" "$t" "$(python3 -c "print($k / $t)")" "${kiln[*]}" "${torch[*]}"
}

if [ "$what" != gat ]; then
  run_pair mlp 2 1
  run_pair cnn 1 2
  run_pair cnn_bn 1 2 --batchnorm
fi

cora="${CORA_DIR:-../shared/data/cora}"
if [ "$what" != fashion ] && [ -f "$cora/cora.content" ]; then
  per_epoch() {  # kiln's examples report train_seconds over their epochs
    grep '^RESULT ' | tail -1 | sed 's/^RESULT //' |
      python3 -c 'import json,sys; r = json.load(sys.stdin); print(r["train_seconds"] / r["mean_epochs_run"])'
  }
  kiln=() torch=()
  for ((i = 0; i < reps; i++)); do
    kiln+=("$("$build/examples/gcn_cora" --data "$cora" --model gat --epochs 200 --patience 0 --threads 2 | per_epoch)")
    torch+=("$(OPENBLAS_NUM_THREADS=2 "$build/bench/torch_gat" --data "$cora" --epochs 200 --threads 2 | seconds)")
  done
  k=$(median "${kiln[@]}")
  t=$(median "${torch[@]}")
  printf "%-8s threads %d  kiln %6.4f s/epoch  libtorch %6.4f s/epoch  ratio %.2f   (kiln: %s; libtorch: %s)\n" \
    gat 2 "$k" "$t" "$(python3 -c "print($k / $t)")" "${kiln[*]}" "${torch[*]}"
fi
