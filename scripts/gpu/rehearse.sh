#!/usr/bin/env bash
# Here, before spending GPU time: builds exactly what scripts/gpu/build.sh builds on a GPU server
# (the bundle + PyPI's CUDA LibTorch 2.11, the GPU servers' version) and runs the whole suite on
# the CPU. The torch wheel is installed without its nvidia-* wheels (scripts/build-cuda.sh); a
# stand-in for them, laid out as on a GPU server (site-packages/nvidia/{cu13,cudnn,nccl,
# cusparselt,nvshmem}/lib, nccl/include), links to the CUDA toolkit's libraries and to the three that only the
# wheels carry (cuFile, cuSPARSELt, NVSHMEM, fetched once from PyPI into
# ~/.cache/dltrain/wheels/nv). So the binaries start without LD_LIBRARY_PATH and the wheel rules
# of the link (its folders first, DT_RPATH, no toolkit folder) are built and checked as there.
# Catches link and loader problems (it caught LibTorch's exported libstdc++ copy) but not
# GPU-only ones; the [cuda] cases pass with a warning here.
# Usage: scripts/gpu/rehearse.sh   (DLTRAIN_BUILD_DIR, default build-gpu-rehearsal)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${DLTRAIN_CUDA_VENV:-$HOME/.cache/dltrain/cuda-venv}
nv=$HOME/.cache/dltrain/wheels/nv
cuda=${CUDA_HOME:-/usr/local/cuda}
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
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
toolkit_lib=$(realpath "$cuda/lib64")
stand_in() {  # stand_in FOLDER LIBRARY_GLOB...: links the matching libraries into nvidia/FOLDER/lib
  local folder=$site/nvidia/$1/lib
  shift
  mkdir -p "$folder"
  for pattern in "$@"; do
    for lib in $toolkit_lib/$pattern $nv/libs/$pattern; do if [[ -e $lib ]]; then ln -sf "$lib" "$folder/"; fi; done
  done
}
stand_in cu13 'libcudart.so.13' 'libcublas.so.13' 'libcublasLt.so.13' 'libcufft.so.12' 'libcurand.so.10' \
  'libcusparse.so.12' 'libcusolver.so.12' 'libnvrtc.so.13' 'libnvrtc-builtins.so.13*' 'libnvJitLink.so.13' \
  'libcupti.so.13' 'libcufile.so.0'
stand_in cudnn 'libcudnn*.so.9'
stand_in nccl 'libnccl.so.2'
# The nvidia-nccl wheel's header (dltrain's NCCL path compiles against it): the toolkit's, the
# same NCCL 2.28 as the wheel torch pins.
mkdir -p "$site/nvidia/nccl/include" && ln -sf "$(realpath "$cuda/include/nccl.h")" "$site/nvidia/nccl/include/"
stand_in cusparselt 'libcusparseLt.so.0'
stand_in nvshmem 'libnvshmem_host.so.3'
[[ -f .gpu-bundle/dltrain-gpu-bundle.tar.xz ]] || scripts/gpu/gather.sh
build=${DLTRAIN_BUILD_DIR:-build-gpu-rehearsal}
DLTRAIN_BUILD_DIR=$build DLTRAIN_TORCH_PREFIX=$site/torch/share/cmake scripts/gpu/build.sh
DLTRAIN_PYTHON=${DLTRAIN_PYTHON:-$HOME/.cache/dltrain/py-venv/bin/python} ctest --test-dir "$build" -j"$(nproc)" --output-on-failure
