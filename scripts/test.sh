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
# One test at a time: kiln's OpenMP workers spin while they wait, so two tests sharing
# the cores run far slower than one after the other (memory_stability: 18 s alone,
# 207 s next to another test on 2 cores).
ctest --output-on-failure --timeout 1200
