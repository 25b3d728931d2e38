#!/usr/bin/env bash
# Formats the C and C++ sources in place with clang-format (.clang-format: Google style, 120
# columns). --check changes nothing: it lists what differs and exits 1 (scripts/test.sh runs it).
# Usage: scripts/format.sh [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.cpp' '*.h')
if [[ ${1:-} == --check ]]; then
  if ! report=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
    mapfile -t unformatted < <(grep -oE '^[^:]+\.(c|cpp|h):[0-9]+' <<<"$report" | cut -d: -f1 | sort -u)
    echo "format: ${#unformatted[@]} of ${#files[@]} files differ from .clang-format (scripts/format.sh fixes them):" >&2
    printf '  %s\n' "${unformatted[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files as .clang-format says"
else
  clang-format -i "${files[@]}"
fi
