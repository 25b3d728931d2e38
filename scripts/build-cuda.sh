#!/usr/bin/env bash
# Builds dltrain against a CUDA LibTorch, with the CUDA code paths compiled in: the LibTorch
# inside PyPI's torch wheel (2.11, built for CUDA 13.0 like the toolkit in /usr/local/cuda and the
# GPU servers' torch), installed without its nvidia-* wheels into a cached venv outside the tree.
# The CUDA headers and libraries come from the local toolkit; libraries only the wheel's nvidia-*
# packages carry (cuSPARSELt, NVSHMEM, cuFile) are left to run time, where a GPU server's torch
# install provides them. Here, without a GPU, this is the compile-and-link check of every CUDA path
# (the test binary builds but cannot start here: Catch2's post-build test listing reports the
# missing libcufile.so.0 and the build still succeeds).
# Usage: scripts/build-cuda.sh [extra cmake -D options]; DLTRAIN_BUILD_DIR (build-cuda),
# DLTRAIN_CUDA_TORCH (2.11.0), DLTRAIN_CUDA_VENV pick other places and versions.
set -euo pipefail
cd "$(dirname "$0")/.."
torch_version=${DLTRAIN_CUDA_TORCH:-2.11.0}
venv=${DLTRAIN_CUDA_VENV:-$HOME/.cache/dltrain/cuda-venv}
cuda=${CUDA_HOME:-/usr/local/cuda}
if [[ "$("$venv/bin/pip" show torch 2>/dev/null | sed -n 's/^Version: //p')" != "$torch_version"* ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --no-deps "torch==$torch_version"  # ~530 MB, once
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[[ -x "$cuda/bin/nvcc" ]] || { echo "build-cuda: no CUDA toolkit at $cuda (set CUDA_HOME)" >&2; exit 1; }
export PATH="$cuda/bin:$PATH"
DLTRAIN_BUILD_DIR=${DLTRAIN_BUILD_DIR:-build-cuda} scripts/build.sh \
  -DCMAKE_PREFIX_PATH="$site/torch/share/cmake" \
  -DCUDAToolkit_ROOT="$cuda" -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,--allow-shlib-undefined -Wl,-rpath-link,$cuda/lib64" -DDLTRAIN_GENERATE_DOCS=OFF "$@"
