#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite:
# installs what is missing, builds in Release, runs every test with CTest.
# The safetensors interchange test needs the reference Python package, and the metrics
# test scikit-learn: they are installed from PyPI into a virtual environment inside the
# build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build_dir="${KILN_BUILD_DIR:-build}"
venv="$build_dir/pyvenv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import safetensors, numpy, sklearn" 2>/dev/null; then
  mkdir -p "$build_dir"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check safetensors numpy scikit-learn
fi
scripts/build.sh -DKILN_TEST_PYTHON="$(cd "$venv/bin" && pwd)/python"
cd "$build_dir"
# Tests side by side, one per core: most of them run on one thread (small tensors).
# OpenMP's idle workers sleep instead of spinning, or two programs sharing the cores
# would slow each other many times over; the tests that keep every core busy (a build,
# whole training runs) declare it (CTest's PROCESSORS) and so run beside nothing else
# on a 2-core machine.
export OMP_WAIT_POLICY=passive
ctest --output-on-failure --timeout 1200 --parallel "$(nproc)"
