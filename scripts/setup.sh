#!/usr/bin/env bash
# Installs dltrain's build and test dependencies from Debian's packages.
# Idempotent: only missing packages are installed, and `apt-get update` runs at most once.
# Usage: scripts/setup.sh [--python]   (--python adds the Python peers used by parity tests and benchmarks)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libtorch-dev libgloo-dev libopenblas0-pthread libopenblas0-openmp libgoogle-perftools-dev
  libopencv-dev libturbojpeg0-dev libpng-dev libtiff-dev libwebp-dev libyaml-cpp-dev
  libcli11-dev libspdlog-dev catch2 nlohmann-json3-dev libprotobuf-dev protobuf-compiler libonnx-dev libarchive-dev
  dataset-fashion-mnist python3 python3-pil gnuplot-nox graphviz help2man
  clang-14 libclang-rt-14-dev
)
if [[ "${1:-}" == "--python" ]]; then
  packages+=(python3-torch python3-torchvision python3-numpy python3-venv)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
