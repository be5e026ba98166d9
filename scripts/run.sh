#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a training run: installs what is
# missing, builds in Release, and trains the MLP on Fashion-MNIST (Debian's
# dataset-fashion-mnist package). Arguments go to the example, e.g.
#   scripts/run.sh --epochs 3 --threads 2
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec "${KILN_BUILD_DIR:-build}/examples/mlp_fashion" "$@"
