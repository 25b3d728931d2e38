#!/usr/bin/env bash
# There, on a GPU machine, as one call of the device tool, with the tree and .gpu-bundle/ from
# `scripts/gpu/gather.sh --data` carried:
#   run(command="scripts/gpu/run.sh $OUT", carry=[".gpu-bundle"], timeout_s=560)
# Settles whether CUDA training works and, where it crashes, why; then measures what it can:
#   facts     the machine, its LibTorch and CUDA libraries, the toolchain's libstdc++
#   probes    scripts/gpu/probe's plain backward probe (built apart from dltrain, which builds
#             meanwhile) in each variant below, and its Python twin in the same modes
#   link      the probe linked like dltrain, and dltrain's link hygiene (tests/link/check_link.sh)
#   cases     every [cuda] test case in its own process
#   diagnose  (a case failed) the first failing case again under each switch, with LD_BIND_NOW,
#             under LD_DEBUG=bindings (summarised per library pair, beside Python's) and cuda-gdb
#   then, when the cases pass (or a switch made the failing one pass: its environment is kept):
#   suite     the unit tests;  bench  bf16 + channels_last steps beside PyTorch eager;
#   fit       a data-parallel group of one (NCCL), one epoch of Fashion-MNIST and of MiniResNet
#             from JPEGs on the GPU
# Each stage starts only when the time it needs is left before the deadline, and every command is
# cut at it. Output: OUT/summary.txt and OUT/logs.tgz (all logs, re-packed after every stage).
# Usage: scripts/gpu/run.sh OUT_DIR
#   DLTRAIN_GPU_DEADLINE  seconds from the start to finish by (520: one 560 s call)
#   DLTRAIN_BUILD_DIR     dltrain's build folder (build-gpu); DLTRAIN_PYTHON (python3)
#   DLTRAIN_GPU_DEVICE    the device the benchmarks and fits use (cuda)
#   DLTRAIN_GPU_BENCH_BATCHES  the benchmarks' batch sizes ("64 256")
#   DLTRAIN_GPU_DRILL=1   rehearsal of the crash branch (scripts/gpu/dry-run.sh): the probes crash
#                         on purpose while cuDNN is on, and the like-dltrain probe stands in for
#                         the [cuda] cases, so a cuDNN-off switch is what makes it pass
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: scripts/gpu/run.sh OUT_DIR}
mkdir -p "$out"
out=$(realpath "$out")
start=$(date +%s)
deadline=$((start + ${DLTRAIN_GPU_DEADLINE:-520}))
build=${DLTRAIN_BUILD_DIR:-build-gpu}
probe_build=build-gpu-probe
python=${DLTRAIN_PYTHON:-python3}
device=${DLTRAIN_GPU_DEVICE:-cuda}
drill=()
[[ ${DLTRAIN_GPU_DRILL:-0} == 1 ]] && drill=(--crash)
logs=$(mktemp -d)
summary=$out/summary.txt
: >"$summary"
export PYTHONUNBUFFERED=1

note() { echo "$*" | tee -a "$summary"; }
left() { echo $((deadline - $(date +%s))); }
at() { echo "$(($(date +%s) - start))s"; }
# pack: every log into OUT/logs.tgz, a file over 4 MB cut to its first and last 1.5 MB.
pack() {
  local file
  while IFS= read -r file; do
    { head -c 1500000 "$file"; printf '\n[... cut by run.sh ...]\n'; tail -c 1500000 "$file"; } >"$file.cut" && mv "$file.cut" "$file"
  done < <(find "$logs" -type f -size +4M)
  cp "$summary" "$logs/summary.txt"
  tar -czf "$out/logs.tgz.part" -C "$logs" . 2>/dev/null
  (($? <= 1)) && mv "$out/logs.tgz.part" "$out/logs.tgz"  # 1: a log grew while it was read
}
# stage NAME SECONDS: true when SECONDS are left before the deadline, else says it is skipped.
stage() {
  pack
  if (($(left) < $2)); then
    note "$1: skipped at $(at), $(left)s left (needs $2)"
    return 1
  fi
}
# limited SECONDS COMMAND...: COMMAND under timeout, at most SECONDS and never past the deadline.
limited() {
  local seconds=$1 cap
  shift
  cap=$(($(left) - 3))
  ((cap < seconds)) && seconds=$cap
  ((seconds > 0)) || return 124
  timeout -k 5 "$seconds" "$@"
}
# with_crash_report [PRELOAD]: the LD_PRELOAD value that adds the crash reporter (when built).
with_crash_report() {
  local reporter=$probe_build/libcrash_report.so
  [[ -f $reporter ]] && echo "$(realpath "$reporter")${1:+:$1}" || echo "${1:-}"
}
# outcome STATUS LOG: "exit 0: <last line>" or, for a crash, the signal and where it happened
# (crash_report's first frames past the handler and the signal trampoline, demangled).
outcome() {
  local status=$1 log=$2 detail
  if grep -q '^crash_report: SIG' "$log"; then
    detail="$(grep -m1 '^crash_report: SIG' "$log" | sed 's/^crash_report: //'); at $(grep '^crash_report: #' "$log" |
      grep -v -e libcrash_report -e 'libc\.so.*+0x[0-9a-f]* (?)' | head -3 | sed 's/^crash_report: #[0-9]* //' |
      { command -v c++filt >/dev/null && c++filt || cat; } | cut -c1-150 | paste -sd'|')"
  elif grep -q 'what():' "$log"; then
    detail=$(grep -m1 'what():' "$log")
  else
    detail=$(grep -v -e '^[[:space:]]*$' -e '^crash_report' "$log" | tail -1)
  fi
  local name=exit
  ((status == 124 || status == 137)) && name="timed out, exit"
  echo "$name $status: $(cut -c1-300 <<<"$detail")"
}

# ---- facts ----------------------------------------------------------------------------------
note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
note "cpu: $(nproc) cores, $(awk '/MemTotal/ {printf "%d GB", $2 / 1048576}' /proc/meminfo); deadline $((deadline - start))s"
# One import of torch for its facts and its site folder (the wheel's nvidia/ lies beside it).
{ read -r torch_facts; read -r torch_site; } < <("$python" - <<'EOF' 2>&1
import os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
print(f"torch {torch.__version__} cuda {torch.version.cuda} cudnn {torch.backends.cudnn.version()}"
      f" gpu {torch.cuda.is_available()} at {site}")
print(site)
EOF
)
note "python3: $torch_facts"
{
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  echo "LD_PRELOAD=${LD_PRELOAD:-}"
  echo "== toolchain"; c++ --version | head -1
  for name in libstdc++.so libstdc++.a; do echo "c++ -print-file-name=$name: $(c++ -print-file-name=$name)"; done
  cmake --version | head -1
  echo "== nvidia-* packages"; "$python" -m pip list 2>/dev/null | grep -i -E '^(nvidia|torch) '
  echo "== the wheel's CUDA library folders"; ls -1 "$torch_site"/nvidia/*/lib 2>&1 | head -80
  echo "== ldconfig: CUDA and C++ runtimes"; ldconfig -p | grep -E 'libcudart|libcudnn\.|libcublas|libnvrtc|libnvJitLink|libstdc\+\+' | head -30
  echo "== tools"; for tool in cuda-gdb gdb readelf nm c++filt addr2line; do echo "$tool: $(command -v $tool || echo none)"; done
} >"$logs/facts.txt" 2>&1
note "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-(unset)}"
note "libstdc++: shared $(c++ -print-file-name=libstdc++.so), static $(c++ -print-file-name=libstdc++.a)"
note "toolkit libraries on ldconfig's path: $(ldconfig -p | grep -c -E 'libcudart|libcudnn|libcublas|libnvrtc') (facts.txt)"
# Python's preload set: the libraries torch/__init__.py loads by full path, in its order.
python_preload=$("$python" - <<'EOF' 2>>"$logs/facts.txt"
import ctypes, torch
paths = []
ctypes.CDLL = lambda path, *args, **kwargs: paths.append(path)
try:
    torch._preload_cuda_deps()
except Exception as error:
    print("python preload:", error, file=__import__("sys").stderr)
print(":".join(paths))
EOF
)
echo "python preload set: ${python_preload//:/ }" >>"$logs/facts.txt"
note "python preload set: $(tr ':' '\n' <<<"$python_preload" | grep -c .) libraries"

# ---- builds: dltrain in the background, the plain probe meanwhile ----------------------------
build_started=$(date +%s)
limited 400 scripts/gpu/build.sh >"$logs/build.log" 2>&1 &
build_pid=$!
if stage "probe build" 90; then
  # c10_LIBRARY named: TorchConfig finds libc10 after the system's folders, where a machine with a
  # second LibTorch (the rehearsal's Debian one) has another; on a GPU server it is the same file.
  if DLTRAIN_SOURCE_DIR=scripts/gpu/probe DLTRAIN_BUILD_DIR=$probe_build limited 150 scripts/gpu/build.sh \
    -Dc10_LIBRARY="$torch_site/torch/lib/libc10.so" >"$logs/probe-build.log" 2>&1; then
    note "probe build: ok at $(at); its C++ runtime: $(readelf -d "$probe_build/backward_probe" | grep -o 'libstdc++[^]]*' || echo 'libstdc++ linked statically')"
  else
    note "probe build: FAILED at $(at) (probe-build.log: $(grep -m1 -i error "$logs/probe-build.log" | cut -c1-200))"
  fi
fi

# ---- probes ---------------------------------------------------------------------------------
probe=$probe_build/backward_probe
# run_probe TAG ENV... -- ARGS...: the probe with the crash reporter, 40 s at most.
run_probe() {
  local tag=$1 status preload=""
  shift
  local envs=()
  while [[ $1 != -- ]]; do
    if [[ $1 == LD_PRELOAD=* ]]; then preload=${1#LD_PRELOAD=}; else envs+=("$1"); fi
    shift
  done
  shift
  limited 40 env "${envs[@]}" LD_PRELOAD="$(with_crash_report "$preload")" "$@" >"$logs/probe-$tag.log" 2>&1
  status=$?
  note "  $tag: $(outcome $status "$logs/probe-$tag.log")"
  return $status
}
if stage "probes" 60 && [[ -x $probe ]]; then
  note "probes (C++, plain link; conv + batch norm, cuDNN on, autograd unless said):"
  run_probe plain -- "$probe" "${drill[@]}"
  run_probe python-preload-set LD_PRELOAD="$python_preload" -- "$probe" "${drill[@]}"
  run_probe no-ld-library-path -- env -u LD_LIBRARY_PATH "$probe" "${drill[@]}"
  run_probe no-cudnn -- "$probe" --cudnn off "${drill[@]}"
  run_probe linear -- "$probe" --net linear "${drill[@]}"
  run_probe direct -- "$probe" --path direct "${drill[@]}"
  run_probe launch-blocking CUDA_LAUNCH_BLOCKING=1 CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGINFO_DBG=1 \
    CUDNN_LOGDEST_DBG="$logs/cudnn-debug.log" -- "$probe" "${drill[@]}"
  note "probes (Python twin):"
  for mode in "conv on autograd" "conv off autograd" "linear on autograd" "conv on direct"; do
    read -r net cudnn path <<<"$mode"
    run_probe "python-$net-cudnn-$cudnn-$path" -- "$python" scripts/gpu/probe/backward_probe.py \
      --net "$net" --cudnn "$cudnn" --path "$path" "${drill[@]}"
  done
fi

# ---- dltrain's build ------------------------------------------------------------------------
wait "$build_pid"  # limited: it ends before the deadline
build_status=$?
dltrain=$build/apps/dltrain/dltrain
if ((build_status != 0)) || [[ ! -x $dltrain ]]; then
  note "build: FAILED (exit $build_status) after $(($(date +%s) - build_started))s: $(grep -m1 -E 'error|Error' "$logs/build.log" | cut -c1-240)"
  pack
  exit 1
fi
note "build: ok in $(($(date +%s) - build_started))s, at $(at): $("$dltrain" --version 2>&1 | head -2 | paste -sd' ')"

# ---- the probe linked like dltrain, and dltrain's link --------------------------------------
if stage "link" 20; then
  like=$build/tests/backward_probe_like_dltrain
  note "probe linked like dltrain:"
  run_probe like-dltrain -- "$like" "${drill[@]}"
  for binary in "$dltrain" "$build/tests/dltrain_tests"; do
    ctest --test-dir "$build" -R "^link\.$(basename "$binary")\$" --verbose >"$logs/link-$(basename "$binary").log" 2>&1
    note "link hygiene $(basename "$binary"): $(grep -h -o -E '(FAIL: .*|link hygiene ok)' "$logs/link-$(basename "$binary").log" | head -3 | cut -c1-200 | paste -sd';')"
  done
  readelf -d -W "$dltrain" >"$logs/dltrain-dynamic.txt" 2>&1
fi

# ---- the [cuda] cases, one process each -----------------------------------------------------
# cases.txt: one shell-quoted command per line (ctest's own, from its JSON listing), tab, its name.
ctest --test-dir "$build" --show-only=json-v1 >"$logs/ctest.json" 2>/dev/null
"$python" - "$logs/ctest.json" >"$logs/cases.txt" <<'EOF'
import json, shlex, sys
for test in json.load(open(sys.argv[1]))["tests"]:
    if test["name"].startswith("cuda:"):
        print(shlex.join(test["command"]) + "\t" + test["name"])
EOF
if ((${#drill[@]})); then
  printf '%q --crash\t%s\n' "$(realpath "$build/tests/backward_probe_like_dltrain")" "drill: the probe linked like dltrain, crashing while cuDNN is on" >"$logs/cases.txt"
fi
failing_command="" failing_name=""
# run_case TAG COMMAND [ENV...]: a case (a shell-quoted command line) with the crash reporter.
run_case() {
  local tag=$1 command=$2 preload=""
  shift 2
  local envs=()
  for setting in "$@"; do
    if [[ $setting == LD_PRELOAD=* ]]; then preload=${setting#LD_PRELOAD=}; else envs+=("$setting"); fi
  done
  limited 60 env "${envs[@]}" LD_PRELOAD="$(with_crash_report "$preload")" bash -c "$command" >"$logs/$tag.log" 2>&1
}
if stage "cases" 30; then
  note "[cuda] cases, one process each:"
  index=0
  while IFS=$'\t' read -r command name; do
    index=$((index + 1))
    (($(left) > 15)) || { note "  ...the rest skipped: ${left}s left"; break; }
    run_case "case-$index" "$command"
    status=$?
    note "  case $index $(outcome $status "$logs/case-$index.log") -- $name"
    if ((status != 0)) && [[ -z $failing_command ]]; then failing_command=$command failing_name=$name; fi
  done <"$logs/cases.txt"
  ((index > 0)) || note "  none listed (ctest.json)"
fi

# ---- diagnosis of the first failing case ----------------------------------------------------
keep_env=()
# binding_pairs LOG_PREFIX PROGRAM OUT: LD_DEBUG=bindings output summarised: bindings per (from,
# to) library pair, and first the C++ runtime's own symbols (a reference versioned GLIBCXX_* or
# CXXABI_*, made against libstdc++.so.6) that bound to another library's copy; PROGRAM's copy
# relocations (its copies of libstdc++'s data) are not counted.
binding_pairs() {
  local prefix=$1 program=$2 result=$3
  cat "$prefix".* 2>/dev/null | awk -v program="$program" '
    /binding file/ {
      from = $4; to = $7; sub(/.*\//, "", from); sub(/.*\//, "", to)
      pairs[from " -> " to]++
      if (match($0, /symbol `[^'"'"']*/) && $0 ~ /\[(GLIBCXX|CXXABI)_[0-9.]+\]$/ && to !~ /^libstdc\+\+/ && to != program) {
        symbol = substr($0, RSTART + 8, RLENGTH - 8)
        odd[from " -> " to]++; sample[from " -> " to] = symbol
      }
    }
    END {
      for (p in odd) printf "C++ runtime bound elsewhere: %s: %d (e.g. %s)\n", p, odd[p], sample[p]
      for (p in pairs) printf "%8d %s\n", pairs[p], p | "sort -rn"
    }' >"$result"
  rm -f "$prefix".*
}
if [[ -n $failing_command ]] && stage "diagnose" 40; then
  note "diagnosis of: $failing_name"
  for switch in DLTRAIN_CUDNN=0 DLTRAIN_CUDA_PRELOAD=python LD_LIBRARY_PATH= LD_BIND_NOW=1 \
    "CUDA_LAUNCH_BLOCKING=1 CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGDEST_DBG=$logs/cudnn-case.log"; do
    (($(left) > 20)) || break
    read -ra settings <<<"$switch"
    tag=switch-$(tr -c 'A-Za-z0-9=_\n-' _ <<<"${settings[0]}")
    if [[ $switch == LD_LIBRARY_PATH= ]]; then
      run_case "$tag" "env -u LD_LIBRARY_PATH $failing_command"
    else
      run_case "$tag" "$failing_command" "${settings[@]}"
    fi
    status=$?
    note "  with ${settings[0]}: $(outcome $status "$logs/$tag.log")"
    if ((status == 0)) && ((${#keep_env[@]} == 0)) && [[ ${settings[0]} != LD_LIBRARY_PATH= ]]; then keep_env=("${settings[@]}"); fi
  done
  if (($(left) > 60)); then
    run_case bindings-dltrain "$failing_command" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$logs/ld-dltrain"
    binding_pairs "$logs/ld-dltrain" "$(basename "${failing_command%% *}")" "$logs/bindings-dltrain.txt"
    limited 60 env LD_DEBUG=bindings LD_DEBUG_OUTPUT="$logs/ld-python" "$python" scripts/gpu/probe/backward_probe.py \
      >/dev/null 2>&1
    binding_pairs "$logs/ld-python" "$(basename "$(realpath "$(command -v "$python")")")" "$logs/bindings-python.txt"
    note "  C++ runtime symbols bound outside libstdc++ (bindings-*.txt): dltrain $(grep -c '^C++ runtime' "$logs/bindings-dltrain.txt"), python $(grep -c '^C++ runtime' "$logs/bindings-python.txt")"
    grep '^C++ runtime' "$logs/bindings-dltrain.txt" | head -5 | cut -c1-200 | sed 's/^/    /' | tee -a "$summary"
  fi
  debugger=$(command -v cuda-gdb || command -v gdb)
  if [[ -n $debugger ]] && (($(left) > 45)); then
    # The crashing thread's frames first, then every thread's, and where each library came from.
    eval "failing_argv=($failing_command)"
    limited 150 "$debugger" -batch -ex run -ex bt -ex 'thread apply all bt 25' -ex 'info sharedlibrary' \
      --args "${failing_argv[@]}" >"$logs/debugger.txt" 2>&1
    note "  $(basename "$debugger"): $(grep -m1 -E 'received signal|exited' "$logs/debugger.txt" | cut -c1-160)"
    grep -m8 '^#[0-9]' "$logs/debugger.txt" | cut -c1-170 | sed 's/^/    /' | tee -a "$summary"
  fi
  if ((${#keep_env[@]})); then
    note "  ${keep_env[0]} makes it pass: the stages below run with ${keep_env[*]}"
    export "${keep_env[@]}"
  else
    note "  no switch makes it pass; the stages that train on the GPU are skipped. done at $(at)"
    pack
    exit 1
  fi
fi

# ---- with the cases passing: the suite, the benchmarks, the fits ----------------------------
if stage "suite" 90; then
  limited 150 env DLTRAIN_PYTHON="$python" LD_PRELOAD="$(with_crash_report)" \
    ctest --test-dir "$build" -L unit -j"$(nproc)" --timeout 60 --output-on-failure >"$logs/ctest.log" 2>&1
  result=$(grep -E 'tests passed|tests failed' "$logs/ctest.log" | tail -1)
  note "suite (unit): ${result:-cut at its time limit (ctest.log)} at $(at)"
  grep -E '^\s*[0-9]+ - .*\((Failed|Timeout|Exception|SEGFAULT|Subprocess)' "$logs/ctest.log" | head -10 | tee -a "$summary"
fi

# A process group of one under torchrun's variables: NCCL's path (rendezvous, broadcast, bucketed
# gradient all-reduce, the per-step flags) on the GPU, two epochs of synthetic MiniResNet.
if stage "fit data-parallel" 45; then
  backend=$([[ $device == cuda* ]] && echo nccl || echo gloo)
  if "$dltrain" --version 2>/dev/null | grep -q "data-parallel backends.* $backend"; then
    limited 60 env WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29517 \
      "$dltrain" fit specs/miniresnet.yaml -c configs/smoke.yaml --device "$device" --set train.epochs=2 \
      --set data.train.source.synthetic.size=512 --set data.train.batch=64 --run-dir "$(mktemp -d)/run" \
      >"$logs/fit-dp.log" 2>&1
    note "fit data-parallel ($backend, world 1): $(outcome $? "$logs/fit-dp.log" | cut -c1-80); $(grep -E 'data-parallel:|epoch 2/2 -' "$logs/fit-dp.log" | tr '\n' ' ' | cut -c1-260)"
  else
    note "fit data-parallel: this build has no $backend backend ($("$dltrain" --version 2>&1 | grep backends))"
  fi
fi

step_rate() { grep -oE '[0-9]+(\.[0-9]+)? samples/s|samples/s +[0-9.]+' | grep -oE '[0-9]+(\.[0-9]+)?' | head -1; }
for batch in ${DLTRAIN_GPU_BENCH_BATCHES:-64 256}; do
  stage "bench batch $batch" 60 || break
  bf16=(--set train.precision=bf16 --set train.channels_last=true)
  eager_out=$(limited 60 "$dltrain" -q bench step specs/miniresnet.yaml --device "$device" --batch "$batch" --repeats 3 \
    "${bf16[@]}" 2>>"$logs/bench.log" | tee -a "$logs/bench.log")
  eager=$(step_rate <<<"$eager_out")
  # check --memory's plan of the step's tensors beside the caching allocator's measured peak.
  measured=$(sed -n 's/^memory *\([0-9.]*\) MiB peak allocated.*/\1/p' <<<"$eager_out")
  planned=$("$dltrain" -q check specs/miniresnet.yaml --memory 139GiB --device-kind cuda --set data.train.batch="$batch" \
    "${bf16[@]}" 2>>"$logs/bench.log" | tee -a "$logs/bench.log" |
    awk '/^  (weights|gradients|optimizer state|activations and their gradients|the batch) / {
           for (i = 1; i < NF; i++) if ($(i + 1) == "MiB" || $(i + 1) == "GiB") { sum += $i * ($(i + 1) == "GiB" ? 1024 : 1); break } }
         END { printf "%.0f", sum }')
  note "memory miniresnet 224 batch $batch bf16: planned tensors ${planned:-?} MiB, measured peak allocated ${measured:-?} MiB"
  graph=$(limited 60 "$dltrain" -q bench step specs/miniresnet.yaml --device "$device" --batch "$batch" --repeats 3 \
    "${bf16[@]}" --set train.cuda_graph=true 2>>"$logs/bench.log" | tee -a "$logs/bench.log" | step_rate)
  torch_rate=$(limited 60 "$python" scripts/bench/peers/step_torch.py miniresnet --size 224 --batch "$batch" \
    --device "$device" --repeats 3 --precision bf16 --channels-last 2>>"$logs/bench.log" | tee -a "$logs/bench.log" | step_rate)
  ratio=$(awk -v a="${eager:-0}" -v b="${torch_rate:-0}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "?" }')
  note "bench miniresnet 224 batch $batch bf16 channels_last: dltrain ${eager:-?} (cuda_graph ${graph:-?}), torch eager ${torch_rate:-?} samples/s: $ratio"
done

runs=$(mktemp -d)  # run folders stay here: only OUT's two files come back
workers=$(($(nproc) > 3 ? $(nproc) - 2 : 1))  # loader threads: the cores the step leaves free
if stage "fit fashion_mnist" 90; then
  data=.gpu-bundle/data
  limited 90 "$python" scripts/prepare-fashion-mnist.py data/fashion_mnist --source "$data/fashion-mnist" \
    >"$logs/prepare.log" 2>&1
  limited 150 "$dltrain" fit specs/fashion_mnist.yaml --device "$device" --set train.epochs=1 \
    --set data.train.workers="$workers" --run-dir "$runs/fashion" >"$logs/fit-fashion.log" 2>&1
  note "fit fashion_mnist 1 epoch: $(outcome $? "$logs/fit-fashion.log" | cut -c1-80); $(grep -E 'epoch 1/1 -' "$logs/fit-fashion.log" | tail -1 | cut -c1-220)"
fi
if stage "fit miniresnet" 90; then
  limited 60 "$python" scripts/bench/make-photos.py data/bench/photos --count 2048 --deb-cache .gpu-bundle/data/debs \
    >"$logs/photos.log" 2>&1
  limited 150 "$dltrain" fit specs/miniresnet.yaml --device "$device" --set data.train.source.folder="$PWD/data/bench/photos" \
    --set model.8.linear.out_features=12 --set train.epochs=1 --set data.train.batch=256 --set data.train.workers="$workers" \
    --set train.precision=bf16 --set train.channels_last=true --run-dir "$runs/miniresnet" >"$logs/fit-miniresnet.log" 2>&1
  note "fit miniresnet jpeg 1 epoch bf16: $(outcome $? "$logs/fit-miniresnet.log" | cut -c1-80); $(grep -E 'epoch 1/1 -' "$logs/fit-miniresnet.log" | tail -1 | cut -c1-220)"
fi
rm -rf "$runs"
note "done at $(at)"
pack
[[ -z $failing_command ]] || ((${#keep_env[@]}))
