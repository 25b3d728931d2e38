#!/usr/bin/env bash
# The newcomer's second command (and what CI runs): installs the dependencies, builds, and runs
# the whole test suite (unit and end-to-end). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python
scripts/build.sh
build_dir=${DLTRAIN_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
