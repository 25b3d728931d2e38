#!/usr/bin/env bash
# Here, before a GPU call: scripts/gpu/run.sh on the CPU against the rehearsal build
# (scripts/gpu/rehearse.sh first), with a stand-in nvidia-smi and the torch wheel's Python, three
# times: as it is (a machine where everything passes: every stage through the fits), as a drill
# (DLTRAIN_GPU_DRILL=1: the probes and the stand-in [cuda] case crash while cuDNN is on, so the
# crash branch runs its switches, LD_DEBUG and debugger, finds DLTRAIN_CUDNN=0 and goes on with
# it), and with a deadline too short for most stages (the time guard). Checks that each gives back
# what the device tool returns: at most 8 files of at most 16 MiB, here exactly summary.txt and
# logs.tgz, and that the drill and the guard did what they are for.
# Usage: scripts/gpu/dry-run.sh [OUT_DIR]   (default build-gpu-rehearsal/dry-run; ~25 min on 2 cores)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-build-gpu-rehearsal/dry-run}")
venv=${DLTRAIN_CUDA_VENV:-$HOME/.cache/dltrain/cuda-venv}
[[ -x build-gpu-rehearsal/apps/dltrain/dltrain ]] || { echo "dry-run: no rehearsal build; run scripts/gpu/rehearse.sh first" >&2; exit 1; }
# torch's own Python dependencies, which the wheel-only venv lacks, and what the peers use.
"$venv/bin/python" -c 'import torch, numpy, PIL' 2>/dev/null ||
  "$venv/bin/pip" install -q typing_extensions sympy filelock fsspec networkx jinja2 numpy pillow
stand_in=$(mktemp -d)
trap 'rm -rf "$stand_in"' EXIT
printf '#!/bin/sh\necho "Stand-in GPU (dry run on the CPU), 0.0, 0 MiB"\n' >"$stand_in/nvidia-smi"
chmod +x "$stand_in/nvidia-smi"
rm -rf "$out" && mkdir -p "$out"
scenario() {  # scenario NAME DEADLINE [ENV...]
  local name=$1 deadline=$2
  shift 2
  echo "== dry run: $name (deadline ${deadline}s)"
  env PATH="$stand_in:$PATH" DLTRAIN_BUILD_DIR=build-gpu-rehearsal DLTRAIN_PYTHON="$venv/bin/python" \
    DLTRAIN_GPU_DEVICE=cpu DLTRAIN_GPU_BENCH_BATCHES=4 DLTRAIN_GPU_DEADLINE="$deadline" "$@" \
    scripts/gpu/run.sh "$out/$name" >"$out/$name.console" 2>&1
  echo "   run.sh exit $?"
}
scenario pass 1200
scenario drill 1200 DLTRAIN_GPU_DRILL=1
scenario guard 150

failed=0
check() { if grep -q -E "$2" "$out/$1/summary.txt"; then echo "ok   $1: $3"; else echo "FAIL $1: $3 (no /$2/)"; failed=1; fi; }
for name in pass drill guard; do
  files=$(find "$out/$name" -type f | wc -l)
  largest=$(find "$out/$name" -type f -printf '%s\n' | sort -n | tail -1)
  listing=$(cd "$out/$name" && ls | paste -sd' ')
  if [[ $listing == "logs.tgz summary.txt" ]] && ((files <= 8 && largest <= 16 * 1024 * 1024)); then
    echo "ok   $name: two files back ($listing), largest $((largest / 1024)) KiB"
  else
    echo "FAIL $name: $files files ($listing), largest $largest bytes"; failed=1
  fi
done
check pass '^  plain: exit 0' "the plain probe passes"
check pass '^  case [0-9]+ exit 0' "the [cuda] cases run one per process"
check pass '^suite \(unit\)' "the suite runs"
check pass '^bench miniresnet' "the benchmarks run"
check pass '^fit fashion_mnist 1 epoch: exit 0' "the Fashion-MNIST fit runs"
check pass '^fit miniresnet jpeg 1 epoch bf16: exit 0' "the MiniResNet JPEG fit runs"
check drill '^  plain: exit 139: SIGSEGV' "the plain probe's crash is reported with its signal"
check drill '^  no-cudnn: exit 0' "the cuDNN-off probe passes"
check drill '^  case 1 exit 139' "the stand-in case crashes"
check drill '^  with DLTRAIN_CUDNN=0: exit 0' "the cuDNN switch makes it pass"
check drill 'C\+\+ runtime symbols bound outside libstdc\+\+' "LD_DEBUG=bindings is summarised"
check drill '^  (cuda-gdb|gdb): ' "the debugger runs"
check drill 'the stages below run with DLTRAIN_CUDNN=0' "it goes on with the passing switch"
check drill '^suite \(unit\)' "the suite runs after the switch"
check guard 'skipped at' "stages are skipped at the deadline"
check guard '^done at' "it finishes before its deadline"
for name in pass drill guard; do echo "---- $name/summary.txt"; cat "$out/$name/summary.txt"; done
exit $failed
