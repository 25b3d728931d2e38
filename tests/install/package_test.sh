#!/usr/bin/env bash
# The .deb as a user installs it: cpack builds it from this build folder, dpkg -x unpacks it
# into a temporary root, and the unpacked dltrain runs: --version, check on an installed example
# spec; the man page and the schema are in place; the dependencies are Debian's runtime packages
# (no -dev). Also: colours only on a terminal, never under NO_COLOR.
# Usage: package_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/out/dltrain_*.deb)
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
[[ $depends == *libtorch* ]] || fail "the package does not depend on LibTorch's runtime package"
[[ $depends != *-dev* ]] || fail "the package depends on a -dev package"
dpkg -x "$deb" "$work/root"
bin=$work/root/usr/bin/dltrain
"$bin" --version | grep -q '^dltrain [0-9]' || fail "installed dltrain --version"
"$bin" check "$work/root/usr/share/dltrain/specs/miniresnet.yaml" -c "$work/root/usr/share/dltrain/configs/smoke.yaml" \
  2>"$work/check.txt" || { cat "$work/check.txt"; fail "installed dltrain check"; }
grep -q ': OK' "$work/check.txt" || fail "check said: $(cat "$work/check.txt")"
grep -q '^\.TH DLTRAIN' "$work/root/usr/share/man/man1/dltrain.1" || fail "no man page"
grep -q 'fit' "$work/root/usr/share/man/man1/dltrain.1" || fail "the man page lacks the subcommands"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/root/usr/share/dltrain/spec.schema.json" ||
  fail "the installed schema is not JSON"

# Colours: a pipe gets plain lines; a terminal (script's pty) gets colours unless NO_COLOR is set.
grep -q $'\e\[' "$work/check.txt" && fail "colour codes on a non-terminal stderr"
spec=$work/root/usr/share/dltrain/specs/miniresnet.yaml
script -qec "$bin check $spec" /dev/null >"$work/tty.txt" 2>&1 || true
grep -q $'\e\[' "$work/tty.txt" || fail "no colours on a terminal"
NO_COLOR=1 script -qec "$bin check $spec" /dev/null >"$work/nocolor.txt" 2>&1 || true
grep -q $'\e\[' "$work/nocolor.txt" && fail "colours under NO_COLOR"
echo "package ok: $(basename "$deb")"
