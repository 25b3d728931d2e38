#!/usr/bin/env bash
# The newcomer's second command (and what CI runs): installs the dependencies, builds, and runs
# the whole test suite (unit and end-to-end). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python
scripts/build.sh
# Python's safetensors package (PyPI, in a cached venv) lets a test read our checkpoints back.
venv=${DLTRAIN_PY_VENV:-$HOME/.cache/dltrain/py-venv}
if ! "$venv/bin/python" -c "import safetensors.numpy" 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q safetensors numpy || echo "test: no safetensors for Python; that check will be skipped"
fi
export DLTRAIN_PYTHON="$venv/bin/python"
build_dir=${DLTRAIN_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
