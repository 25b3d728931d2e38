#!/usr/bin/env bash
# check_link.sh finds what it is there to find: a program linking an archive that defines a BLAS
# name which a shared library also defines and calls (the bundle's libblas.a beside libtorch_cpu)
# exports the archive's copy, and --exclude-libs,ALL keeps it private.
# Usage: checker_test.sh C_COMPILER
set -euo pipefail
cc=${1:?usage: checker_test.sh C_COMPILER}
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo 'void dgemm_(void) {} void call_blas(void) { dgemm_(); }' >torch_like.c
echo 'void dgemm_(void) {}' >blas.c
echo 'void dgemm_(void); void call_blas(void); int main(void) { dgemm_(); call_blas(); return 0; }' >main.c
"$cc" -shared -fPIC -o libtorch_like.so torch_like.c
"$cc" -c blas.c && ar rcs libblas.a blas.o
"$cc" -o leaky main.c libblas.a -L. -ltorch_like
"$cc" -o private main.c -Wl,--exclude-libs,ALL libblas.a -L. -ltorch_like
leaky=$(bash "$here/check_link.sh" leaky || true)
private=$(bash "$here/check_link.sh" private || true)
grep -q 'exports BLAS/LAPACK or gfortran symbols of its own: dgemm_' <<<"$leaky" ||
  { echo "FAIL: the leak was not found:"; echo "$leaky"; exit 1; }
if grep -q 'exports BLAS' <<<"$private"; then echo "FAIL: --exclude-libs,ALL still reported:"; echo "$private"; exit 1; fi
echo "checker ok: the archive's dgemm_ found when exported, not with --exclude-libs,ALL"
