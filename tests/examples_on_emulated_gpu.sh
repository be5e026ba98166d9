#!/usr/bin/env bash
# The examples with --device cuda on the CPU emulator of the GPU kernels
# (tests/cuda_emulator), a few steps each, against the same runs on the CPU: every
# GPU path of the examples runs on any machine. Test accuracies must agree within
# 0.02 (the GPU's sums run in another order), the quantized models' exactly; the
# graph VAE recommender draws its noise from the GPU's own stream, so it must only
# run and report.
# usage: tests/examples_on_emulated_gpu.sh EXAMPLES_DIR DATA_DIR   (DATA_DIR holds cora/, ml-100k/)
set -euo pipefail
examples="$1"
data="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The value of `key` (dotted for nested ones: mlp.int8.test_acc) in the RESULT line of a log.
result() {
  python3 - "$1" "$2" <<'PY'
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("RESULT ")][-1]
value = json.loads(line[len("RESULT "):])
for key in sys.argv[2].split("."):
    value = value[key]
print(value)
PY
}

# Runs `name` on the CPU and on the emulated GPU with the same arguments and compares test_acc.
compare() {
  local name=$1
  shift
  "$examples/$name" "$@" > "$tmp/$name.cpu.log"
  "$examples/${name}_emulated" --device cuda "$@" > "$tmp/$name.gpu.log"
  local cpu gpu
  cpu="$(result "$tmp/$name.cpu.log" test_acc)"
  gpu="$(result "$tmp/$name.gpu.log" test_acc)"
  local model
  model="$(grep -oE -- '--(model|cell) [a-z]+' <<< "$*" | head -1 || true)"
  echo "$name${model:+ $model}: test accuracy $cpu on the CPU, $gpu on the emulated GPU"
  python3 -c "import sys; sys.exit(0 if abs($cpu - $gpu) <= 0.02 else 1)"
}

if [ -d /usr/share/datasets/fashion-mnist ]; then
  compare mlp_fashion --epochs 1 --limit 1024
  compare cnn_fashion --epochs 1 --limit 512 --test-limit 2000 --batchnorm
  [ "$(result "$tmp/cnn_fashion.gpu.log" test_images)" = 2000 ]
  compare rnn_fashion --epochs 1 --limit 512 --test-limit 1000
  compare rnn_fashion --epochs 1 --limit 512 --test-limit 500 --cell gru --layers 2 --bidirectional --hidden 32
  compare vit_fashion --epochs 1 --limit 512 --test-limit 1000 --layers 2 --dropout 0
  compare mlp_by_hand --epochs 1 --limit 1024
  # The quantized MLP's integer kernels are bit-exact: the same test accuracy to the last image.
  "$examples/mlp_fashion" --epochs 1 --limit 1024 --save "$tmp/mlp.ckpt" > /dev/null
  "$examples/quantize_fashion" --mlp "$tmp/mlp.ckpt" --reps 1 > "$tmp/quantize.cpu.log"
  "$examples/quantize_fashion_emulated" --device cuda --mlp "$tmp/mlp.ckpt" --reps 1 > "$tmp/quantize.gpu.log"
  for format in int8 int4; do
    cpu="$(result "$tmp/quantize.cpu.log" mlp.$format.test_acc)"
    gpu="$(result "$tmp/quantize.gpu.log" mlp.$format.test_acc)"
    echo "quantize_fashion: $format MLP test accuracy $cpu on the CPU, $gpu on the emulated GPU"
    [ "$cpu" = "$gpu" ]
  done
else
  echo "mlp_fashion: Fashion-MNIST absent, skipped"
fi
if [ -f "$data/cora/cora.content" ]; then
  compare gcn_cora --data "$data/cora" --epochs 20 --runs 1
  compare gcn_cora --data "$data/cora" --model gat --epochs 5 --runs 1
  "$examples/vgae_cora_emulated" --device cuda --data "$data/cora" --epochs 3 --runs 1 > "$tmp/vgae.log"
  echo "vgae_cora: test AUC $(result "$tmp/vgae.log" test_auc) after 3 epochs on the emulated GPU"
else
  echo "gcn_cora, vgae_cora: $data/cora absent, skipped"
fi
if [ -f "$data/ml-100k/u.data" ]; then
  for model in gvae bpr; do
    "$examples/gvae_movielens_emulated" --device cuda --data "$data/ml-100k" --model $model --epochs 1 --runs 1 \
      > "$tmp/gvae.log"
    echo "gvae_movielens --model $model: NDCG@10 $(result "$tmp/gvae.log" ndcg_at_10) after 1 epoch on the emulated GPU"
  done
else
  echo "gvae_movielens: $data/ml-100k absent, skipped"
fi
