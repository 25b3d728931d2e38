#!/usr/bin/env bash
# Here, before spending GPU time: builds exactly what scripts/gpu/build.sh builds on a GPU server
# (the bundle + PyPI's CUDA LibTorch 2.11, the GPU servers' version) and runs the whole suite on
# the CPU. The wheel's CUDA libraries need three nvidia-* libraries that build-cuda.sh leaves out
# (cuFile, cuSPARSELt, NVSHMEM); they are fetched once from PyPI into ~/.cache/dltrain/wheels/nv
# so the binaries can start. Catches link and loader problems (it caught LibTorch's exported
# libstdc++ copy) but not GPU-only ones; the [cuda] cases pass with a warning here.
# Usage: scripts/gpu/rehearse.sh   (DLTRAIN_BUILD_DIR, default build-gpu-rehearsal)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${DLTRAIN_CUDA_VENV:-$HOME/.cache/dltrain/cuda-venv}
nv=$HOME/.cache/dltrain/wheels/nv
[[ -x $venv/bin/python ]] || { echo "rehearse: no torch wheel at $venv; scripts/build-cuda.sh installs it" >&2; exit 1; }
if [[ ! -f $nv/libs/libcufile.so.0 ]]; then
  mkdir -p "$nv/libs"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$nv" nvidia-cufile nvidia-cusparselt-cu13 nvidia-nvshmem-cu13
  for wheel in "$nv"/nvidia_cufile-*.whl "$nv"/nvidia_cusparselt_cu13-*.whl "$nv"/nvidia_nvshmem_cu13-*.whl; do
    unzip -o -q -j "$wheel" '*.so*' -d "$nv/libs"
  done
fi
[[ -f .gpu-bundle/dltrain-gpu-bundle.tar.xz ]] || scripts/gpu/gather.sh
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export LD_LIBRARY_PATH=$nv/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
build=${DLTRAIN_BUILD_DIR:-build-gpu-rehearsal}
DLTRAIN_BUILD_DIR=$build DLTRAIN_TORCH_PREFIX=$site/torch/share/cmake scripts/gpu/build.sh
DLTRAIN_PYTHON=${DLTRAIN_PYTHON:-$HOME/.cache/dltrain/py-venv/bin/python} ctest --test-dir "$build" -j"$(nproc)" --output-on-failure
