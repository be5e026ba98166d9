#!/usr/bin/env bash
# Configures and builds kiln in Release into ${KILN_BUILD_DIR:-build}.
# Extra arguments go to CMake's configure step (e.g. -DKILN_BLAS=Eigen).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${KILN_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build_dir" --parallel "$(nproc)"
