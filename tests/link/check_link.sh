#!/usr/bin/env bash
# Link hygiene of one dltrain executable (third_party/cmake/DltrainDependencies.cmake says why
# each rule holds), read from its dynamic section and dynamic symbol table:
#   - libstdc++.so.6 is a direct dependency ahead of LibTorch's libraries, and no C++ runtime is
#     linked in statically (no libstdc++ symbol of its own);
#   - it exports none of the symbols of the archives it links (BLAS/LAPACK, gfortran, zlib,
#     libpng, libjpeg/TurboJPEG, OpenCV, yaml-cpp), which would interpose on LibTorch's and cuDNN's;
#   - --rpath-first DIRS: its search path is a DT_RPATH (searched before LD_LIBRARY_PATH) that
#     starts with DIRS (a torch wheel's nvidia-* folders and torch/lib);
#   - --forbid DIR: no search-path entry lies in DIR (the CUDA toolkit's libraries).
# Usage: check_link.sh BINARY [--rpath-first DIR:DIR...] [--forbid DIR]...   Exits 1 on a violation.
set -uo pipefail
binary=${1:?usage: check_link.sh BINARY [--rpath-first DIRS] [--forbid DIR]...}
shift
rpath_first="" forbidden=()
while (($#)); do
  case $1 in
    --rpath-first) rpath_first=$2; shift 2 ;;
    --forbid) [[ -n $2 ]] && forbidden+=("$2"); shift 2 ;;
    *) echo "check_link: unknown option $1" >&2; exit 2 ;;
  esac
done
failed=0
fail() { echo "FAIL: $binary: $*"; failed=1; }

dynamic=$(readelf -d -W "$binary") || { echo "check_link: readelf cannot read $binary" >&2; exit 2; }
mapfile -t needed < <(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dynamic")
position() { local i; for i in "${!needed[@]}"; do [[ ${needed[$i]} == $1 ]] && { echo "$i"; return; }; done; echo -1; }
stdcxx=$(position 'libstdc++.so.6')
first_torch=-1
for i in "${!needed[@]}"; do [[ ${needed[$i]} == libtorch* || ${needed[$i]} == libc10* ]] && { first_torch=$i; break; }; done
echo "NEEDED: ${needed[*]}"
if ((stdcxx < 0)); then
  fail "libstdc++.so.6 is not a direct dependency"
elif ((first_torch >= 0 && stdcxx > first_torch)); then
  fail "libstdc++.so.6 (NEEDED #$stdcxx) comes after ${needed[$first_torch]} (#$first_torch): LibTorch's private libstdc++ copy would be found first"
fi

# What the executable defines and exports itself: strong, unversioned dynamic symbols. Not weak
# ones (templates and inline functions instantiated here, like std::function's, which every
# C++ program exports when a shared library also has them) and not copy relocations (a shared
# library's data placed here: std::cout@GLIBCXX_3.4, c10's UndefinedTensorImpl::_singleton).
copied=$(readelf -r -W "$binary" | awk '/R_X86_64_COPY/ {print $5}' | sed 's/@.*//')
exported=$(nm -D --defined-only "$binary" | awk '$2 ~ /^[TDBRG]$/ && $3 !~ /@/ {print $3}' | grep -v -x -F -f <(echo "$copied") || true)
check_exports() {
  local what=$1 pattern=$2 found
  found=$(grep -E "$pattern" <<<"$exported" | head -5 | tr '\n' ' ')
  [[ -z $found ]] || fail "exports $what symbols of its own: $found"
}
check_exports "libstdc++ (a static C++ runtime)" '^(_ZNSt|_ZNKSt|_ZSt|_ZNSs|_ZNKSs|_ZTVSt|_ZTISt|_ZTSSt|__cxa_|__gxx_personality|_ZN9__gnu_cxx|_ZN10__cxxabiv1)'
check_exports "BLAS/LAPACK or gfortran" '^([a-z][a-z0-9]*_$|_gfortran|quadmath|cblas_|LAPACKE_)'
check_exports "zlib" '^(inflate|deflate|crc32|adler32|compress|uncompress|gz[a-z]|zlib|get_crc_table|zError)'
check_exports "libpng, libjpeg or TurboJPEG" '^(png_|jpeg_|jinit_|tj[A-Z]|tjInit)'
check_exports "OpenCV or yaml-cpp" '^(_ZN2cv|_ZNK2cv|_ZN4YAML|_ZNK4YAML)'

rpath=$(sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p' <<<"$dynamic")
runpath=$(sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p' <<<"$dynamic")
echo "RPATH: ${rpath:-none}; RUNPATH: ${runpath:-none}"
if [[ -n $rpath_first ]]; then
  [[ -z $runpath ]] || fail "has a DT_RUNPATH ($runpath): glibc then ignores its DT_RPATH and searches LD_LIBRARY_PATH first"
  [[ $rpath == "$rpath_first" || $rpath == "$rpath_first":* ]] || fail "DT_RPATH does not start with $rpath_first"
fi
IFS=: read -ra entries <<<"$rpath:$runpath"
for dir in "${forbidden[@]}"; do
  real_forbidden=$(realpath -m "$dir")
  for entry in "${entries[@]}"; do
    [[ -n $entry ]] || continue
    [[ $(realpath -m "$entry") == "$real_forbidden"* ]] && fail "search path entry $entry lies in $dir"
  done
done
((failed)) || echo "link hygiene ok: $binary"
exit $failed
