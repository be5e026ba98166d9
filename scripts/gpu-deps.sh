#!/usr/bin/env bash
# Gathers into .gpu-deps/ (git-ignored) what scripts/gpu-check.sh needs on a GPU
# machine that has CUDA, CMake, a compiler and PyTorch but no package registry:
# the Debian packages of kiln's header-only dependencies and of Fashion-MNIST, and
# the Cora and MovieLens-100K data sets (u.data, u.user, u.item). Run it here, then
# carry .gpu-deps along with the source tree; it is git-ignored and never published.
#
#   scripts/gpu-deps.sh [CORA_DIR [MOVIELENS_DIR]]   (default ../shared/data/cora, ../shared/data/ml-100k)
set -euo pipefail
cd "$(dirname "$0")/.."
cora="${1:-../shared/data/cora}"
movielens="${2:-../shared/data/ml-100k}"
rm -rf .gpu-deps
mkdir -p .gpu-deps/debs
(cd .gpu-deps/debs && apt-get download zlib1g-dev nlohmann-json3-dev libeigen3-dev doctest-dev \
  dataset-fashion-mnist)
if [ -f "$cora/cora.content" ]; then
  tar czf .gpu-deps/cora.tar.gz -C "$(dirname "$cora")" "$(basename "$cora")"
else
  echo "gpu-deps: no Cora at $cora; the GPU check will skip the VGAE timing"
fi
if [ -f "$movielens/u.data" ]; then
  name="$(basename "$movielens")"
  tar czf .gpu-deps/ml-100k.tar.gz -C "$(dirname "$movielens")" "$name/u.data" "$name/u.user" "$name/u.item"
else
  echo "gpu-deps: no MovieLens-100K at $movielens; the GPU check will skip gvae_movielens"
fi
du -sh .gpu-deps
