#!/usr/bin/env bash
# Installs the Debian packages kiln needs, skipping those already present.
# Uses sudo when not run as root.
set -euo pipefail

packages=(
  build-essential cmake          # compiler and build system
  libopenblas-openmp-dev         # BLAS, the OpenMP build (shares kiln's thread pool)
  libeigen3-dev                  # GEMM fallback when OpenBLAS is absent
  zlib1g-dev nlohmann-json3-dev
  doctest-dev libbenchmark-dev   # tests and benchmarks
  dataset-fashion-mnist          # /usr/share/datasets/fashion-mnist
  python3 python3-venv           # the safetensors interchange test (reference package from PyPI)
  clang libclang-rt-14-dev libomp-dev  # the sanitizer and libFuzzer build (scripts/sanitize.sh, fuzz.sh)
  libtorch-dev                   # PyTorch's C++ library: the differential test against it, benchmark peers
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
