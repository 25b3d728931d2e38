#!/usr/bin/env bash
# There (a GPU server with a compiler, CMake, Ninja and a Python whose torch wheel holds a CUDA
# LibTorch, but no OpenCV, yaml-cpp, spdlog or CLI11 and no package registry): builds dltrain
# and its tests against that LibTorch, with everything else from the bundle that
# scripts/gpu/gather.sh made on a Debian machine (.gpu-bundle/, carried with the source tree).
# Usage: scripts/gpu/build.sh [extra cmake -D options]
#   DLTRAIN_BUILD_DIR (build-gpu), DLTRAIN_PYTHON (python3: whose torch to build against),
#   DLTRAIN_TORCH_PREFIX (a LibTorch's CMake prefix instead of the Python's torch).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${DLTRAIN_BUILD_DIR:-build-gpu}
bundle_tar=.gpu-bundle/dltrain-gpu-bundle.tar.xz
[[ -f $bundle_tar ]] || { echo "gpu/build: no $bundle_tar; run scripts/gpu/gather.sh on a Debian machine first" >&2; exit 1; }
if [[ -z ${DLTRAIN_TORCH_PREFIX+set} ]]; then
  DLTRAIN_TORCH_PREFIX=$("${DLTRAIN_PYTHON:-python3}" -c 'import torch; print(torch.utils.cmake_prefix_path)')
fi

bundle=$(realpath -m "$build/bundle")
if [[ ! -f $bundle/VERSIONS || $bundle_tar -nt $bundle/VERSIONS ]]; then
  rm -rf "$bundle" && mkdir -p "$bundle"
  tar -xJf "$bundle_tar" -C "$bundle"
fi

args=(-DDLTRAIN_BUNDLE="$bundle")
[[ -n $DLTRAIN_TORCH_PREFIX ]] && args+=(-DCMAKE_PREFIX_PATH="$DLTRAIN_TORCH_PREFIX")
cuda=${CUDA_HOME:-/usr/local/cuda}
if [[ ! -x $cuda/bin/nvcc ]] && command -v nvcc >/dev/null; then cuda=$(dirname "$(dirname "$(command -v nvcc)")"); fi
if [[ -x $cuda/bin/nvcc ]]; then
  export PATH="$cuda/bin:$PATH"
  args+=(-DCUDAToolkit_ROOT="$cuda" -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc")
fi
# A toolchain without the shared libstdc++ would link the static one into dltrain, a second C++
# runtime beside LibTorch's (DltrainDependencies.cmake refuses it): link the system's
# libstdc++.so.6 through a folder of its own. Not for the plain probe (DLTRAIN_SOURCE_DIR), which
# is linked as the toolchain links it.
extra_link=""
if [[ -z ${DLTRAIN_SOURCE_DIR:-} && $(c++ -print-file-name=libstdc++.so) != /* ]]; then
  system_libstdcxx=$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
  [[ -n $system_libstdcxx ]] || { echo "gpu/build: no libstdc++.so.6 on this machine" >&2; exit 1; }
  shim=$(realpath -m "$build/libstdcxx")
  mkdir -p "$shim" && ln -sf "$system_libstdcxx" "$shim/libstdc++.so"
  args+=(-DDLTRAIN_LIBSTDCXX="$system_libstdcxx")
  extra_link=" -L$shim"
  echo "gpu/build: the toolchain has no shared libstdc++; linking $system_libstdcxx"
fi
# LibTorch's CUDA libraries find theirs (cuDNN, cuBLAS, ... in the nvidia-* wheels) at run time
# through their own RPATH; the linker need not resolve them.
link_flags="-Wl,--allow-shlib-undefined$extra_link"
DLTRAIN_BUILD_DIR=$build scripts/build.sh "${args[@]}" -DCMAKE_EXE_LINKER_FLAGS="$link_flags" "$@"
