#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a training run:
# installs what is missing, builds in Release, runs the main example.
# Arguments go to the example (e.g. --steps 500 --threads 2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec "${KILN_BUILD_DIR:-build}/examples/autograd_demo" "$@"
