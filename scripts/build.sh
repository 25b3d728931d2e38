#!/usr/bin/env bash
# Configures and builds dltrain (Release, Ninja, ccache when installed) into build/.
# Usage: scripts/build.sh [extra cmake -D options]; DLTRAIN_BUILD_DIR picks another folder,
# DLTRAIN_BUILD_TARGET some targets (e.g. "dltrain", space-separated) instead of everything, DLTRAIN_SOURCE_DIR another
# CMake project (scripts/gpu/probe).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${DLTRAIN_BUILD_DIR:-build}
cmake -S "${DLTRAIN_SOURCE_DIR:-.}" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
# shellcheck disable=SC2086  # the target list splits into words
cmake --build "$build_dir" ${DLTRAIN_BUILD_TARGET:+--target $DLTRAIN_BUILD_TARGET}
