#!/usr/bin/env bash
# Here (Debian 12, with scripts/setup.sh's packages): gathers what building dltrain needs besides
# LibTorch and a compiler into one folder that travels to a GPU server with no package registry
# (scripts/gpu/build.sh builds there against the server's own LibTorch). Static archives where
# Debian ships them (OpenCV core + imgproc, yaml-cpp, TurboJPEG, libpng, zlib, protobuf with
# dltrain's generated TensorBoard messages, and the reference
# LAPACK/BLAS + gfortran runtime that OpenCV's core calls); header-only spdlog, fmt, CLI11,
# Catch2 and nlohmann/json; as shared libraries only what has no archive: oneTBB (OpenCV's
# parallel backend) and libGLX with its X11 chain (OpenCV's core references glX* symbols; never
# called). No imgcodecs: dltrain decodes JPEG and PNG itself (its static archive would pull GDAL
# and a dozen codecs). Nothing here is committed; the folder is ignored.
# Output: DIR/dltrain-gpu-bundle.tar.xz (about 9 MB; 51 MB unpacked) and DIR/VERSIONS; with
# --data also DIR/data/ (37 MB): the sources of the example data that scripts/gpu/run.sh
# prepares there (Debian's Fashion-MNIST IDX files, the photographs make-photos.py crops).
# Usage: scripts/gpu/gather.sh [--data] [DIR]   (default .gpu-bundle)
set -euo pipefail
cd "$(dirname "$0")/../.."
with_data=0
if [[ ${1:-} == --data ]]; then with_data=1; shift; fi
dest=${1:-.gpu-bundle}
arch=/usr/lib/x86_64-linux-gnu
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/include/opencv2" "$out/lib" "$out/cmake"

copy() { cp -rL "$@"; }
# Headers.
ocv=/usr/include/opencv4/opencv2
copy "$ocv/core" "$ocv/core.hpp" "$ocv/imgproc" "$ocv/imgproc.hpp" "$ocv/opencv_modules.hpp" "$out/include/opencv2/"
copy /usr/include/x86_64-linux-gnu/opencv4/opencv2/cvconfig.h "$out/include/opencv2/"
rm -rf "$out/include/opencv2/core/cuda" "$out/include/opencv2/core/opencl" "$out/include/opencv2/core/openvx" \
  "$out/include/opencv2/core/hal/intrin_"{neon,vsx,wasm,msa,rvv,rvv071,lasx,lsx}*.hpp 2>/dev/null || true
copy /usr/include/{yaml-cpp,spdlog,fmt,CLI,nlohmann,catch2} "$out/include/"
copy /usr/include/{turbojpeg.h,zlib.h,zconf.h} /usr/include/libpng16/{png.h,pngconf.h,pnglibconf.h} "$out/include/"

# Static archives (libpng16.a, the reference LAPACK/BLAS through Debian's alternatives links).
copy "$arch"/lib{opencv_core,opencv_imgproc,yaml-cpp,turbojpeg,png16,z}.a "$out/lib/"
copy "$arch/lapack/liblapack.a" "$arch/blas/libblas.a" "$out/lib/"
gcc_lib=$(dirname "$(gcc -print-libgcc-file-name)")
copy "$gcc_lib/libgfortran.a" "$gcc_lib/libquadmath.a" "$out/lib/"

# Protobuf for TensorBoard's event files: the archive, its headers, and dltrain's messages
# generated here by the same protoc (the server has none).
copy "$arch/libprotobuf.a" "$out/lib/"
mkdir -p "$out/include/google" "$out/generated"
copy /usr/include/google/protobuf "$out/include/google/"
rm -rf "$out/include/google/protobuf/compiler"
protoc -I src -I /usr/include --cpp_out="$out/generated" src/io/tensorboard.proto

# Shared libraries without an archive, under their sonames.
for so in libtbb.so.12 libGLX.so.0 libGLdispatch.so.0 libX11.so.6 libxcb.so.1 libXau.so.6 libXdmcp.so.6 libbsd.so.0 libmd.so.0; do
  copy "$arch/$so" "$out/lib/$so"
done

# Catch2's CMake test discovery.
copy /usr/lib/cmake/Catch2/{Catch.cmake,CatchAddTests.cmake} "$out/cmake/"

strip --strip-debug "$out"/lib/*.a
{
  echo "dltrain GPU bundle, gathered $(date -u +%F) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  dpkg-query -W -f='${Package} ${Version}\n' libopencv-core-dev libopencv-imgproc-dev libyaml-cpp-dev libturbojpeg0-dev \
    libpng-dev zlib1g-dev liblapack-dev libblas-dev libtbb12 libglx0 libspdlog-dev libfmt-dev libcli11-dev catch2 \
    nlohmann-json3-dev libprotobuf-dev 2>/dev/null || true
} >"$out/VERSIONS"
mkdir -p "$dest"
cp "$out/VERSIONS" "$dest/"
tar -C "$out" -cf - . | xz -T0 -6 >"$dest/dltrain-gpu-bundle.tar.xz"
if ((with_data)); then
  nature=usr/share/backgrounds/mate/nature
  scripts/bench/make-photos.py "$out/photos-probe" --count 1 >/dev/null  # fetches the photographs once
  mkdir -p "$dest/data/debs/mate-backgrounds/$nature" "$dest/data/fashion-mnist"
  cp "$HOME/.cache/dltrain/debs/mate-backgrounds/$nature/"*.jpg "$dest/data/debs/mate-backgrounds/$nature/"
  cp /usr/share/datasets/fashion-mnist/*.gz "$dest/data/fashion-mnist/"
fi
size_mb=$(du -sm "$dest" | cut -f1)
echo "gather: $dest/dltrain-gpu-bundle.tar.xz, $(du -sm "$out" | cut -f1) MB unpacked, ${size_mb} MB to carry"
((size_mb <= 50)) || { echo "gather: over the 50 MB that may travel with the tree" >&2; exit 1; }
